"""Labelled responses from outside: ``misalign import responses FILE`` (CSV, TSV, JSONL or Parquet).

Columns: ``prompt``, ``response``, ``model`` (or ``generator``), ``verdict`` (aligned or misaligned,
people's); optional: ``dimensions`` violated (``safety; culture``), ``kind`` (a misalignment kind of
the taxonomy, e.g. over_refusal), ``finish_reason`` (stop, length, ...) and ``annotator``. Rows
naming the same response (prompt, model, text) are its annotators' votes: its verdict is their
majority (a tie is left out and named), its dimensions those the majority's rows give, its kind
their most common. The whole file is checked before anything is written; a bad row stops the
import naming its line and field. Prompts not in the store yet come in with origin ``imported``.
Texts are stored exactly as the file has them.

Example (``completions.csv``: prompt,response,model,verdict,kind)::

    report = import_responses(store, "completions.csv", taxonomy)
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from pipeline.text.readers import InputError, read_records, text_field
from review_store import StageReport, Store, content_id, normalise_text, prompt_id
from taxonomy import DIMENSIONS, Taxonomy

COLUMNS = ["prompt", "response", "verdict"]
OPTIONAL = ("model", "generator", "dimensions", "kind", "finish_reason", "annotator")
VERDICTS = ("aligned", "misaligned")


def _dimensions(where: str, value: str) -> list[str]:
    """'safety; Culture' -> ['safety', 'culture'] (also comma- or bar-separated, or a JSON-like list)."""
    names = [n.strip().strip("'\"").lower() for n in re.split(r"[;,|]", value.strip().strip("[]")) if n.strip()]
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown:
        raise InputError(f"{where}: field 'dimensions': '{unknown[0]}' is not one of {', '.join(DIMENSIONS)}")
    return sorted(set(names), key=DIMENSIONS.index)


def read_responses(path: str | Path, taxonomy: Taxonomy, fmt: str | None = None) -> list[dict]:
    """Every row of the file, checked: (prompt, text, model, verdict, dimensions, kind, finish_reason,
    annotator, row)."""
    path, rows = Path(path), []
    kinds = [k.id for k in taxonomy.misalignment_kinds]
    for record in read_records(path, COLUMNS, fmt, optional=OPTIONAL):
        where = f"{path}: {record.position}"
        prompt, text = text_field(path, record, "prompt"), text_field(path, record, "response")
        model = (text_field(path, record, "model") or text_field(path, record, "generator")).strip()
        verdict = text_field(path, record, "verdict").strip().lower()
        if not normalise_text(prompt):
            raise InputError(f"{where}: field 'prompt': empty")
        if not text.strip():
            raise InputError(f"{where}: field 'response': empty")
        if not model:
            raise InputError(f"{where}: field 'model': empty or missing; name the model that wrote the response "
                             "(column model or generator)")
        if verdict not in VERDICTS:
            raise InputError(f"{where}: field 'verdict': '{verdict}' is not aligned or misaligned")
        dimensions = _dimensions(where, text_field(path, record, "dimensions"))
        kind = text_field(path, record, "kind").strip().lower() or None
        if kind and kind not in kinds:
            raise InputError(f"{where}: field 'kind': '{kind}' is not a misalignment kind of taxonomy "
                             f"{taxonomy.version} ({', '.join(kinds)})")
        if verdict == "aligned" and (kind or dimensions):
            raise InputError(f"{where}: an aligned response has no misalignment kind or violated dimensions")
        rows.append({"prompt": prompt, "text": text, "model": model, "verdict": verdict, "dimensions": dimensions,
                     "kind": kind, "finish_reason": text_field(path, record, "finish_reason").strip() or None,
                     "annotator": text_field(path, record, "annotator").strip() or None, "row": record.row})
    if not rows:
        raise InputError(f"{path}: no responses in the file")
    return rows


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


def import_responses(store: Store, path: str | Path, taxonomy: Taxonomy, source: str | None = None,
                     fmt: str | None = None) -> StageReport:
    """Import a file of labelled responses; returns the report (responses, new prompts, ties left out)."""
    path = Path(path)
    rows = read_responses(path, taxonomy, fmt)
    source = source or path.name
    grouped: dict[str, list[dict]] = {}
    for r in rows:
        grouped.setdefault(content_id("response", prompt_id(r["prompt"]), r["model"], r["text"]), []).append(r)
    with store.stage_run("import_responses", {"file": str(path), "source": source}) as report:
        responses, tied = [], []
        for response_id, members in grouped.items():
            response = _response(members, source)
            if response is None:
                tied.append(f"{path.name} row {members[0]['row']} ({members[0]['model']}: "
                            f"{len(members)} votes, split evenly)")
            else:
                responses.append({"id": response_id, **response, "created_at": report.started_at})
        report.items_in = len(grouped)
        report.leave_out("tied_verdict", tied)
        prompts = {prompt_id(r["prompt"]): r["prompt"] for r in rows}
        with store.transaction():
            new_prompts = store.add_prompts(({"id": pid, "text": text, "origin": "imported"}
                                             for pid, text in prompts.items()), created_at=report.started_at)
            store.add_prompt_sources({"prompt_id": prompt_id(r["prompt"]), "source": source, "row": r["row"]}
                                     for r in rows)
            report.kept = store.add_responses(responses)
        verdicts = Counter(r["verdict"] for r in responses)
        report.notes.update({"rows": len(rows), "new_prompts": new_prompts, "aligned": verdicts["aligned"],
                             "misaligned": verdicts["misaligned"],
                             "already_stored": len(responses) - report.kept,
                             "models": len({r["model"] for r in responses})})
    return report
