"""Export the labelled responses (``misalign import responses``) with people's verdicts: the data a
detector benchmark on responses is made of, for use elsewhere.

``--out`` gets ``responses.jsonl``, ``responses.parquet``, ``responses.csv`` (formulas neutralised) as
asked, and with ``hf`` a Hub dataset repo in ``hub/`` (config ``responses``, one ``test`` split: these
are for evaluation), each beside a card saying what is in them. Texts are byte-exact.

Example::

    report = export_responses(store, taxonomy, options=ExportOptions(out=Path("labelled"), formats=("jsonl", "hf"),
                                                                     licence="cc-by-4.0"))
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import yaml

from pipeline.errors import UsageError
from pipeline.export.card import licence_metadata, size_category
from pipeline.export.options import ExportNotes, ExportOptions, check_licence
from pipeline.export.writers import datasets_quiet
from pipeline.text.outputs import HUB, hub_data_file
from pipeline.text.cells import markdown_literal, spreadsheet_safe
from pipeline.text.outputs import atomic_folder, check_folder
from review_store import StageReport, Store, content_id
from taxonomy import Taxonomy

RESPONSE_FORMATS = ("jsonl", "csv", "parquet", "hf")
SPLIT = "test"


def response_features():
    """The exported responses' column types (``datasets.Features``)."""
    import datasets

    text = datasets.Value("string")
    return datasets.Features({"id": text, "prompt": text, "response": text, "model": text, "verdict": text,
                              "dimensions": datasets.List(text), "kind": text, "finish_reason": text,
                              "annotators": datasets.Value("int64"), "source": text})


def _check(options: ExportOptions) -> None:
    others = [f for f in options.formats if f not in RESPONSE_FORMATS]
    if others:
        raise UsageError(f"'{others[0]}' is for pairs; labelled responses are written as "
                         f"{', '.join(RESPONSE_FORMATS)}", field="format")


def export_responses(store: Store, taxonomy: Taxonomy | None = None, config=None,
                     options: ExportOptions | None = None) -> StageReport[ExportNotes]:
    """Write every labelled response with its verdict to ``options.out`` (checked before any work,
    written beside it and renamed into place). Reads neither the taxonomy nor an engine (they are the
    stage contract's)."""
    if options is None:
        raise UsageError("export: no options given (at least --out and --licence)")
    out = Path(options.out)
    _check(options)
    check_licence(options.licence)
    target = {"owned": lambda folder: store.export_at(str(folder.resolve())), "overwrite": options.overwrite,
              "keep": () if store.path == ":memory:" else (Path(store.path),)}
    check_folder(out, **target)
    rows = store.export_responses()
    if not rows:
        raise UsageError("no labelled responses in this store (misalign import responses FILE); nothing written")
    params = {"what": "responses", "formats": list(options.formats), "licence": options.licence}
    with store.stage_run("export_responses", params, ExportNotes()) as report:
        frame = pd.DataFrame(rows, columns=list(response_features()))
        export_id = content_id("export-responses", json.dumps(params, sort_keys=True), *frame["id"])
        with atomic_folder(out, **target) as folder, datasets_quiet():
            written = _write(folder, frame, options.formats)
            card = responses_card(frame, export_id, params, written)
            (folder / "README.md").write_text(card, encoding="utf-8")
            if "hf" in options.formats:
                (folder / HUB / "README.md").write_text(responses_card(frame, export_id, params, hub=True),
                                                        encoding="utf-8")
        counts = {SPLIT: len(frame)}
        with store.transaction():
            store.record_export({"id": export_id, "created_at": report.started_at, "out": str(out.resolve()),
                                 "params": params, "counts": counts}, [])
        report.items_in = report.kept = len(frame)
        verdicts = Counter(frame["verdict"])
        report.notes = ExportNotes(export_id=export_id, files=", ".join(written + ["README.md"]),
                                   aligned=verdicts["aligned"], misaligned=verdicts["misaligned"],
                                   models=int(frame["model"].nunique()))
    return report


def _write(folder: Path, frame: pd.DataFrame, formats: tuple[str, ...]) -> list[str]:
    import datasets

    written = []
    if "jsonl" in formats:
        with (folder / "responses.jsonl").open("w", encoding="utf-8", newline="") as handle:
            frame.to_json(handle, orient="records", lines=True, force_ascii=False)
        written.append("responses.jsonl")
    typed = datasets.Dataset.from_pandas(frame, features=response_features(), preserve_index=False)
    if "parquet" in formats:
        typed.to_parquet(str(folder / "responses.parquet"))
        written.append("responses.parquet")
    if "csv" in formats:
        flat = frame.assign(dimensions=["; ".join(d) for d in frame["dimensions"]])
        flat.map(spreadsheet_safe).to_csv(folder / "responses.csv", index=False)
        written.append("responses.csv")
    if "hf" in formats:
        (folder / HUB / "data" / "responses").mkdir(parents=True)
        typed.to_parquet(str(folder / HUB / hub_data_file("responses", SPLIT)))
        written.append(f"{HUB}/")
    return written


def responses_card(frame: pd.DataFrame, export_id: str, params: dict, written: list[str] = (),
                   hub: bool = False) -> str:
    """The README.md of a responses export (``hub``: its Hub repo's, with the config in the YAML)."""
    meta = {"pretty_name": "misalign labelled responses", **licence_metadata(params["licence"]), "language": ["en"],
            "task_categories": ["text-classification"], "tags": ["alignment", "safety", "values", "culture"],
            "size_categories": [size_category(len(frame))]}
    if hub:
        meta["configs"] = [{"config_name": "responses", "default": True,
                            "data_files": [{"split": SPLIT, "path": hub_data_file("responses", SPLIT)}]}]
        meta["dataset_info"] = [{"config_name": "responses", "features": response_features()._to_yaml_list(),
                                 "splits": [{"name": SPLIT, "num_examples": len(frame)}]}]
    by_model = frame.groupby(["model", "verdict"]).size().unstack(fill_value=0).reset_index()
    kinds = frame["kind"].fillna("(aligned or not given)").value_counts().rename_axis("kind").reset_index(name="responses")
    licence = params["licence"].strip()
    files = "".join(f"- `{name}`\n" for name in written)
    return f"""---
{yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)}---

# misalign labelled responses ({export_id})

{len(frame)} model responses to {frame["prompt"].nunique()} prompts, each with people's verdict (aligned or
misaligned; a response several people answered has their majority), the dimensions it violates and
its misalignment kind. Licence: {"unknown: find out before you share or train on it" if licence.lower() == "unknown"
                                 else markdown_literal(licence)}. One split, `{SPLIT}`: these are for evaluating
detectors, not for training them.

{files and "## Files" + chr(10) + chr(10) + files + chr(10)}## Responses per model and verdict

{by_model.to_markdown(index=False)}

## Misaligned responses per kind

{kinds.to_markdown(index=False)}

The texts are adversarial by design: read them as data, never render them as HTML.
"""
