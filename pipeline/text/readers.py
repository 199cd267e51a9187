"""Read prompt files (CSV, JSONL, Parquet) as records that know where they came from.

Text is decoded with ``surrogateescape`` so an undecodable byte is reported on the record and
field it sits in (``line 12: field 'prompt': not valid utf-8``) rather than as a file-wide crash.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import UsageError

# Long fields are judged by ingest's --max-chars with a clear message, not by csv's 128 KiB default.
csv.field_size_limit(1 << 30)

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


class InputError(UsageError):
    """Input that cannot be used; the message is one line naming the file, line and field."""


class BadRow(InputError):
    """A row that cannot be used; ``reason`` is its code in a stage's report."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


_UNDECODABLE = re.compile("[\udc80-\udcff]")
_SURROGATE = re.compile("[\ud800-\udfff]")  # a JSON escape such as \ud800 without its pair: not text


@dataclass(frozen=True)
class SourceRecord:
    """One record of an input file: its position ('line 12' or 'row 12') and its fields, or the
    ``problem`` that makes it unusable (wrong field count, invalid JSON, ...): raised when a field is
    read, so a stage stops on it or, skipping bad rows, skips and counts it like any bad row."""

    position: str
    row: int
    fields: dict[str, object]
    problem: BadRow | None = None


def detect_format(path: Path, fmt: str | None = None) -> str:
    """csv, tsv, jsonl or parquet: ``fmt`` when given (checked), else from the file's suffix."""
    if fmt:
        if fmt not in set(FORMATS.values()):
            raise InputError(f"{path}: unknown format '{fmt}' (use one of csv, tsv, jsonl, parquet)")
        return fmt
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise InputError(f"{path}: cannot tell the format from '{path.suffix}'; pass --format csv|tsv|jsonl|parquet") from None


def _decoded(path: Path, encoding: str) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    for magic, kind, hint in ((b"\x1f\x8b", "a gzip file", "decompress it first (gunzip)"),
                              (b"PK\x03\x04", "a zip file", "unzip it first"),
                              (b"PAR1", "a Parquet file", "name it .parquet or pass --format parquet")):
        if raw.startswith(magic):
            raise InputError(f"{path}: {kind}, not text; {hint}")
    if encoding.replace("-", "").replace("_", "").lower() == "utf8":
        encoding = "utf-8-sig"  # a BOM is not part of the first column's name
        for bom, name in ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
                          (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
            if raw.startswith(bom):
                raise InputError(f"{path}: the file starts with a {name.upper()} byte-order mark, not UTF-8; "
                                 f"pass --encoding {name}")
    try:
        return raw.decode(encoding, errors="surrogateescape")
    except LookupError:
        raise InputError(f"{path}: unknown encoding '{encoding}'") from None


def _csv_records(path: Path, columns: list[str], encoding: str, delimiter: str,
                 optional: tuple[str, ...] = ()) -> Iterator[SourceRecord]:
    # strict: a quote never closed is an error, not the rest of the file read as one field
    reader = csv.reader(io.StringIO(_decoded(path, encoding), newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{path}: empty file, no header row") from None
    except csv.Error as exc:
        raise InputError(f"{path}: line 1: not valid CSV ({exc})") from None
    _check_columns(path, header, columns)
    seen: dict[str, int] = {}
    for number, name in enumerate(header, start=1):
        if name and name in seen:
            raise InputError(f"{path}: line 1: column '{name}' appears twice (fields {seen[name]} and {number}); "
                             "rename one")
        seen[name] = number
    index = {name: i for i, name in enumerate(header)}
    absent = [c for c in optional if c not in index]
    columns = [*columns, *(c for c in optional if c in index and c not in columns)]
    last_line, row_number = reader.line_num, 0
    while True:
        start = last_line + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise InputError(f"{path}: line {start}: a quoted field opened here is never closed (the rest of the "
                                 "file would be read as one field)") from None
            raise InputError(f"{path}: line {start}: not valid CSV ({exc})") from None
        last_line = reader.line_num
        if not values:
            continue
        row_number += 1
        if len(values) > len(header):
            problem = BadRow(f"{path}: line {start}: {len(values)} fields, but the header has {len(header)}",
                             "wrong_field_count")
            yield SourceRecord(f"line {start}", row_number, {}, problem)
            continue
        yield SourceRecord(f"line {start}", row_number,
                           {**{c: values[index[c]] if index[c] < len(values) else "" for c in columns},
                            **dict.fromkeys(absent)})


def _jsonl_records(path: Path, columns: list[str], encoding: str,
                   optional: tuple[str, ...] = ()) -> Iterator[SourceRecord]:
    row_number = 0
    for number, line in enumerate(_decoded(path, encoding).splitlines(), start=1):
        if not line.strip():
            continue
        row_number += 1
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problem = BadRow(f"{path}: line {number}: not valid JSON ({exc.msg})", "invalid_json")
        else:
            missing = [c for c in columns if c not in obj] if isinstance(obj, dict) else []
            problem = (BadRow(f"{path}: line {number}: expected a JSON object, got {type(obj).__name__}", "not_an_object")
                       if not isinstance(obj, dict) else
                       BadRow(f"{path}: line {number}: field '{missing[0]}' is missing", "missing_field")
                       if missing else None)
        if problem:
            yield SourceRecord(f"line {number}", row_number, {}, problem)
            continue
        yield SourceRecord(f"line {number}", row_number, {**{c: obj.get(c) for c in optional},
                                                          **{c: obj[c] for c in columns}})


def _parquet_records(path: Path, columns: list[str], optional: tuple[str, ...] = ()) -> Iterator[SourceRecord]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise InputError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    _check_columns(path, parquet.schema_arrow.names, columns)
    absent = [c for c in optional if c not in parquet.schema_arrow.names]
    columns = [*columns, *(c for c in optional if c not in absent and c not in columns)]
    row_number = 0
    for batch in parquet.iter_batches(columns=columns, batch_size=8192):
        values = {c: batch.column(c).to_pylist() for c in columns}
        for i in range(batch.num_rows):
            row_number += 1
            yield SourceRecord(f"row {row_number}", row_number, {**{c: values[c][i] for c in columns},
                                                                 **dict.fromkeys(absent)})


def _check_columns(path: Path, available: list[str], wanted: list[str]) -> None:
    missing = [c for c in wanted if c not in available]
    if missing:
        shown = ", ".join(c if len(c) <= 40 else c[:40] + "..." for c in available[:20])
        more = f" and {len(available) - 20} more" if len(available) > 20 else ""
        raise InputError(f"{path}: no column '{missing[0]}' (columns: {shown}{more})")


def read_records(path: str | Path, columns: list[str], fmt: str | None = None,
                 encoding: str = "utf-8", optional: tuple[str, ...] = ()) -> Iterator[SourceRecord]:
    """Records of ``path`` with the given columns, and the ``optional`` ones the file has (None where it
    has not); raises :class:`InputError` on unusable input.

    >>> next(read_records("prompts.csv", ["prompt"])).fields["prompt"]
    "How do I find someone's home address from their photos?"
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    fmt = detect_format(path, fmt)
    if fmt == "parquet":
        return _parquet_records(path, columns, optional)
    if fmt == "jsonl":
        return _jsonl_records(path, columns, encoding, optional)
    return _csv_records(path, columns, encoding, "\t" if fmt == "tsv" else ",", optional)


def text_field(path: Path, record: SourceRecord, column: str) -> str:
    """The record's text in ``column`` ('' for null), or :class:`BadRow` naming file, line and field."""
    if record.problem:
        raise record.problem
    value = record.fields[column]
    where = f"{path}: {record.position}: field '{column}'"
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRow(f"{where}: expected text, got {type(value).__name__}", "not_text")
    bad = _UNDECODABLE.search(value)
    if bad:
        raise BadRow(f"{where}: not valid text in the file's encoding (byte 0x{ord(bad.group()) - 0xDC00:02x})",
                     "bad_encoding")
    lone = _SURROGATE.search(value)
    if lone:
        raise BadRow(f"{where}: a lone surrogate \\u{ord(lone.group()):04x} (half of a character), not text",
                     "lone_surrogate")
    if "\x00" in value:
        raise BadRow(f"{where}: contains a NUL byte", "nul_byte")
    return value
