"""Labelled responses from outside: ``misalign import responses FILE`` (CSV, TSV, JSONL or Parquet).

Columns: ``prompt``, ``response``, ``model`` (or ``generator``), ``verdict`` (aligned or misaligned,
people's); optional: ``dimensions`` violated (``safety; culture``), ``kind`` (a misalignment kind of
the taxonomy, e.g. over_refusal), ``finish_reason`` (stop, length, ...) and ``annotator``. A file
made elsewhere is read as it is: ``ResponseColumns`` names its columns for these fields and maps its
label values onto ours (``--verdict-map "1_full_compliance=misaligned,2_full_refusal=aligned,
3_partial_refusal=skip"``; ``skip`` leaves a row out, named); where the verdict depends on the prompt's type
(refusal sets), rules keyed by type and label set the verdict and the kind (``--type-col type --verdict-map
"safe/2_full_refusal=misaligned:over_refusal,unsafe/2_full_refusal=aligned,..."``), and the report counts the
rows each rule decided. Rows naming the same response (prompt,
model, text) by different annotators are its votes: its verdict is their majority (a tie is left
out and named), its dimensions those the majority's rows give, its kind their most common. The same
response twice from one annotator (or from none) is a duplicate, handled as ``on_duplicate`` says
(:mod:`pipeline.text.duplicates`). The whole file is checked before anything is written; a bad row
stops the import naming its line and field. Prompts not in the store yet come in with origin
``imported``. Texts are stored exactly as the file has them.

Example (``completions.csv``: prompt,response,model,verdict,kind)::

    report = import_responses(store, taxonomy, options=ImportResponsesOptions("completions.csv"))
    # a public set: question,completion,model_name,label with labels like "1_full_compliance"
    columns = ResponseColumns(prompt="question", response="completion", model="model_name", verdict="label",
                              verdicts=parse_value_map("verdict-map", "1_full_compliance=misaligned,..."))
    report = import_responses(store, taxonomy, options=ImportResponsesOptions("xstest.csv", columns=columns))
    # a refusal set: refusing is aligned for an unsafe prompt, over-refusal for a safe one
    columns = ResponseColumns(prompt_type="type", verdict="final_label", verdicts=parse_value_map("verdict-map",
        "safe/1_full_compliance=aligned,safe/2_full_refusal=misaligned:over_refusal,"
        "unsafe/1_full_compliance=misaligned:harmful_compliance,unsafe/2_full_refusal=aligned"))
"""

from __future__ import annotations

import re
from collections import Counter
import functools
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipeline.errors import UsageError
from pipeline.registry import option
from pipeline.text.duplicates import kept_rows
from pipeline.text.readers import InputError, SourceRecord, read_records, text_field
from review_store import Notes, StageReport, Store, content_id, normalise_text, prompt_id
from taxonomy import DIMENSIONS, Taxonomy

COLUMNS = ["prompt", "response", "verdict"]
OPTIONAL = ("model", "generator", "dimensions", "kind", "finish_reason", "annotator")
VERDICTS = ("aligned", "misaligned")
SKIP = "skip"  # a mapped label value that leaves its row out


def parse_value_map(option: str, text: str) -> dict[str, str]:
    """``"a=aligned, b=misaligned"`` as a mapping of the file's values to ours; one line naming ``option``
    (a flag's name) when it is not that shape.

    >>> parse_value_map("verdict-map", "1_full_compliance=misaligned, 2_full_refusal=aligned")
    {'1_full_compliance': 'misaligned', '2_full_refusal': 'aligned'}
    """
    mapping = {}
    for part in (p for p in text.split(",") if p.strip()):
        value, equals, ours = part.partition("=")
        if not equals or not value.strip() or not ours.strip():
            raise UsageError(f"'{part.strip()}' is not FILE_VALUE=OURS (e.g. 1_full_compliance=misaligned)",
                             field=option)
        mapping[value.strip()] = ours.strip()
    if not mapping:
        raise UsageError("give FILE_VALUE=OURS pairs separated by commas", field=option)
    return mapping


@dataclass
class ResponseColumns:
    """How a file names our fields (each the file's column, when not ours) and spells our labels
    (``verdicts``, ``kinds``: its value -> ours, or ``skip`` for a verdict). With a ``prompt_type`` column
    (a refusal set's safe / unsafe), a verdict rule is keyed by the prompt's type and the label
    (``safe/2_full_refusal``), and may set the kind too (``misaligned:over_refusal``): refusing is aligned for an
    unsafe prompt and over-refusal for a safe one."""

    prompt: str | None = option(None, "The file's column holding the prompt.", flag="prompt-col")
    response: str | None = option(None, "The file's column holding the response.", flag="response-col")
    model: str | None = option(None, "The file's column naming the model that answered.", flag="model-col")
    verdict: str | None = option(None, "The file's column holding people's verdict.", flag="verdict-col")
    kind: str | None = option(None, "The file's column holding the misalignment kind.", flag="kind-col")
    prompt_type: str | None = option(None, "The file's column holding the prompt's type (e.g. safe or unsafe): "
                                           "--verdict-map rules are then TYPE/LABEL=VERDICT[:KIND].", flag="type-col")
    verdicts: dict[str, str] = option(
        help="The file's verdict values in ours, e.g. '1_full_compliance=misaligned,2_full_refusal=aligned,"
             "3_partial_refusal=skip' (skip: leave the row out); with --type-col, keyed by type too and setting the "
             "kind, e.g. 'safe/2_full_refusal=misaligned:over_refusal,unsafe/2_full_refusal=aligned'.",
        flag="verdict-map", parse=functools.partial(parse_value_map, "verdict-map"), factory=dict)
    kinds: dict[str, str] = option(
        help="The file's kind values as kinds of the taxonomy, e.g. 'refused_benign=over_refusal'.", flag="kind-map",
        parse=functools.partial(parse_value_map, "kind-map"), factory=dict)

    def column(self, name: str) -> str:
        """The file's column for one of our fields (its own name unless the file names it otherwise)."""
        return getattr(self, name, None) or name

    def check(self, taxonomy: Taxonomy) -> None:
        """The maps' values are ours: one line naming the option and the first that is not."""
        kinds = [k.id for k in taxonomy.misalignment_kinds]
        for key, value in self.verdicts.items():
            verdict, _, kind = value.partition(":")
            if verdict not in (*VERDICTS, SKIP) or (kind and (verdict != "misaligned" or kind not in kinds)):
                raise UsageError(f"'{value}' is not aligned, misaligned[:KIND of {', '.join(kinds)}] or {SKIP}",
                                 field="verdict-map")
            if self.prompt_type and "/" not in key:
                raise UsageError(f"'{key}' names no prompt type: with --type-col, each rule is TYPE/LABEL=VERDICT",
                                 field="verdict-map")
        if self.prompt_type and not self.verdicts:
            raise UsageError("give the verdict rules for each prompt type (TYPE/LABEL=VERDICT[:KIND])", field="verdict-map")
        bad = [v for v in self.kinds.values() if v not in kinds]
        if bad:
            raise UsageError(f"'{bad[0]}' is not a misalignment kind of taxonomy {taxonomy.version} "
                             f"({', '.join(kinds)})", field="kind-map")


def _cell(path: Path, record: SourceRecord, column: str) -> str:
    """A label cell as written (numbers and booleans too, e.g. 1 or true)."""
    value = record.fields.get(column)
    return (str(value).lower() if isinstance(value, bool) else str(value) if isinstance(value, (int, float))
            else text_field(path, record, column)).strip()


def _label(path: Path, record: SourceRecord, column: str, mapping: dict[str, str], option: str) -> str:
    """A label cell in our words: through ``mapping`` when one is given, else the cell's text, lower-cased."""
    if not mapping:
        return text_field(path, record, column).strip().lower()
    raw = _cell(path, record, column)
    if not raw:
        return ""
    if raw not in mapping:
        raise InputError(f"{path}: {record.position}: field '{column}': '{raw}' is not in {option} "
                         f"({', '.join(mapping)})")
    return mapping[raw]


def _verdict(path: Path, record: SourceRecord, columns: ResponseColumns) -> tuple[str, str | None, str | None]:
    """A row's verdict, the kind its rule sets (if any) and the rule (the map's key; None without a map)."""
    if not columns.prompt_type:
        value = _label(path, record, columns.column("verdict"), columns.verdicts, "--verdict-map")
        rule = _cell(path, record, columns.column("verdict")) if columns.verdicts else None
    else:
        rule = f"{_cell(path, record, columns.column('prompt_type'))}/{_cell(path, record, columns.column('verdict'))}"
        if rule not in columns.verdicts:
            raise InputError(f"{path}: {record.position}: fields '{columns.column('prompt_type')}' and "
                             f"'{columns.column('verdict')}': '{rule}' is not in --verdict-map "
                             f"({', '.join(columns.verdicts)})")
        value = columns.verdicts[rule]
    verdict, _, kind = value.partition(":")
    return verdict, kind or None, rule


def _dimensions(where: str, value: str) -> list[str]:
    """'safety; Culture' -> ['safety', 'culture'] (also comma- or bar-separated, or a JSON-like list)."""
    names = [n.strip().strip("'\"").lower() for n in re.split(r"[;,|]", value.strip().strip("[]")) if n.strip()]
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown:
        raise InputError(f"{where}: field 'dimensions': '{unknown[0]}' is not one of {', '.join(DIMENSIONS)}")
    return sorted(set(names), key=DIMENSIONS.index)


def read_responses(path: str | Path, taxonomy: Taxonomy, fmt: str | None = None,
                   columns: ResponseColumns | None = None) -> tuple[list[dict], list[str], Counter]:
    """Every row of the file, checked: (prompt, text, model, verdict, dimensions, kind, finish_reason,
    annotator, row, where, rule); the rows whose verdict maps to ``skip``, named; and the rows each rule of
    the verdict map decided."""
    path, rows, skipped, rules = Path(path), [], [], Counter()
    columns = columns or ResponseColumns()
    columns.check(taxonomy)
    kinds = [k.id for k in taxonomy.misalignment_kinds]
    named = columns.column
    needed = [named(c) for c in COLUMNS] + ([named("prompt_type")] if columns.prompt_type else [])
    for record in read_records(path, needed, fmt, optional=tuple(named(c) for c in OPTIONAL)):
        where = f"{path}: {record.position}"
        prompt, text = text_field(path, record, named("prompt")), text_field(path, record, named("response"))
        model = (text_field(path, record, named("model")) or text_field(path, record, named("generator"))).strip()
        verdict, rule_kind, rule = _verdict(path, record, columns)
        if rule is not None:
            rules[rule] += 1
        if verdict == SKIP:
            skipped.append(f"{path.name} {record.position} ('{rule}' maps to {SKIP})")
            continue
        if not normalise_text(prompt):
            raise InputError(f"{where}: field '{named('prompt')}': empty")
        if not text.strip():
            raise InputError(f"{where}: field '{named('response')}': empty")
        if not model:
            raise InputError(f"{where}: field '{named('model')}': empty or missing; name the model that wrote the "
                             "response (column model or generator, or --model-col)")
        if verdict not in VERDICTS:
            raise InputError(f"{where}: field '{named('verdict')}': '{verdict}' is not aligned or misaligned "
                             "(map the file's values with --verdict-map)")
        dimensions = _dimensions(where, text_field(path, record, named("dimensions")))
        kind = rule_kind or _label(path, record, named("kind"), columns.kinds, "--kind-map") or None
        if kind and kind not in kinds:
            raise InputError(f"{where}: field '{named('kind')}': '{kind}' is not a misalignment kind of taxonomy "
                             f"{taxonomy.version} ({', '.join(kinds)}; map the file's values with --kind-map)")
        if verdict == "aligned" and (kind or dimensions):
            raise InputError(f"{where}: an aligned response has no misalignment kind or violated dimensions")
        rows.append({"prompt": prompt, "text": text, "model": model, "verdict": verdict, "dimensions": dimensions,
                     "kind": kind, "finish_reason": text_field(path, record, named("finish_reason")).strip() or None,
                     "annotator": text_field(path, record, named("annotator")).strip() or None, "row": record.row,
                     "where": record.position, "rule": rule})
    if not rows:
        raise InputError(f"{path}: no responses in the file" + (f" ({len(skipped)} rows skipped by --verdict-map)"
                                                                 if skipped else ""))
    return rows, skipped, rules


def _response(rows: list[dict], source: str) -> dict | None:
    """One response from its rows (its annotators' votes); None on a tied verdict."""
    votes = {r["annotator"] or f"row {r['row']}": r["verdict"] for r in rows}
    counts = Counter(votes.values())
    if counts["aligned"] == counts["misaligned"]:
        return None
    verdict = counts.most_common(1)[0][0]
    agreeing = [r for r in rows if r["verdict"] == verdict]
    kinds = Counter(r["kind"] for r in agreeing if r["kind"])
    first = rows[0]
    return {"prompt_id": prompt_id(first["prompt"]), "text": first["text"], "model": first["model"], "verdict": verdict,
            "dimensions": sorted({d for r in agreeing for d in r["dimensions"]}, key=DIMENSIONS.index),
            "kind": kinds.most_common(1)[0][0] if kinds else None,
            "finish_reason": next((r["finish_reason"] for r in rows if r["finish_reason"]), None), "votes": votes,
            "source": source, "row": first["row"]}


@dataclass
class ImportResponsesOptions:
    path: str | Path | None = option(None, "CSV, TSV, JSONL or Parquet: prompt, response, model (or generator), "
                                           "verdict (aligned|misaligned); optional dimensions, kind, finish_reason, "
                                           "annotator.", flag="file", argument=True)
    source: str | None = option(None, "Source name recorded for these rows (default: file name).")
    format: str | None = option(None, "csv, tsv, jsonl or parquet (default: from the suffix).")
    columns: ResponseColumns = option(factory=ResponseColumns)  # the file's names for our fields and labels
    on_duplicate: str = option("refuse", "The same response twice from one annotator (or none): refuse (name both "
                                         "rows), first (keep the first) or vote.")

    def check(self) -> None:
        if self.path is None:
            raise UsageError("import responses: no file of responses given")


@dataclass
class ImportResponsesNotes(Notes):
    rows: int = 0
    new_prompts: int = 0
    aligned: int = 0
    misaligned: int = 0
    already_stored: int = 0
    models: int = 0
    verdict_rules: dict = field(default_factory=dict)  # rule of --verdict-map -> the file's rows it decided


def import_responses(store: Store, taxonomy: Taxonomy, config=None,
                     options: ImportResponsesOptions | None = None) -> StageReport[ImportResponsesNotes]:
    """Import a file of labelled responses; returns the report: in, the file's responses (rows of one
    prompt, model and text are one response) and each row left out before grouping; kept, the responses
    the store holds from it (new or already stored); dropped, ties, rows skipped by the verdict map and
    duplicates. Reads no engine (``config`` is the stage contract's)."""
    options = options or ImportResponsesOptions()
    options.check()
    path, columns, on_duplicate = Path(options.path), options.columns, options.on_duplicate
    rows, skipped, rules = read_responses(path, taxonomy, options.format, columns)
    keep, duplicates = kept_rows([((prompt_id(r["prompt"]), r["model"], r["text"], r["annotator"]), r["where"])
                                  for r in rows], on_duplicate, "the same response by the same annotator (or by none)",
                                 path)
    rows = [rows[i] for i in keep]
    source = options.source or path.name
    grouped: dict[str, list[dict]] = {}
    for r in rows:
        grouped.setdefault(content_id("response", prompt_id(r["prompt"]), r["model"], r["text"]), []).append(r)
    params = {"file": str(path), "source": source, "on_duplicate": on_duplicate,
              **({"columns": {k: v for k, v in asdict(columns).items() if v and k not in ("verdicts", "kinds")},
                  "verdict_map": columns.verdicts, "kind_map": columns.kinds} if columns != ResponseColumns() else {})}
    with store.stage_run("import_responses", params, ImportResponsesNotes()) as report:
        responses, tied = [], []
        for response_id, members in grouped.items():
            response = _response(members, source)
            if response is None:
                tied.append(f"{path.name} row {members[0]['row']} ({members[0]['model']}: "
                            f"{len(members)} votes, split evenly)")
            else:
                responses.append({"id": response_id, **response, "created_at": report.started_at})
        # in: a response per distinct (prompt, model, text), and each row left out before grouping
        report.items_in = len(grouped) + len(skipped) + len(duplicates)
        report.kept = len(responses)
        report.leave_out("tied_verdict", tied)
        report.leave_out("verdict_skipped", skipped)
        report.leave_out("duplicate_row", [f"{path.name} {line}" for line in duplicates])
        prompts = {prompt_id(r["prompt"]): r["prompt"] for r in rows}
        with store.transaction():
            new_prompts = store.add_prompts(({"id": pid, "text": text, "origin": "imported"}
                                             for pid, text in prompts.items()), created_at=report.started_at)
            store.add_prompt_sources({"prompt_id": prompt_id(r["prompt"]), "source": source, "row": r["row"]}
                                     for r in rows)
            added = store.add_responses(responses)
        verdicts = Counter(r["verdict"] for r in responses)
        notes = report.notes  # the left-out rows are already in it
        notes.rows, notes.new_prompts, notes.already_stored = len(rows), new_prompts, len(responses) - added
        notes.aligned, notes.misaligned = verdicts["aligned"], verdicts["misaligned"]
        notes.models = len({r["model"] for r in responses})
        # what decided each verdict: the rows of each verdict-map rule (and the rows it left out)
        notes.verdict_rules = dict(sorted(rules.items()))
    return report
