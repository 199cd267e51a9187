"""Stage runs in words: the rows the Overview and Runs pages show."""

from __future__ import annotations

from pipeline.registry import stage_words


def run_name(run: dict) -> str:
    """How a run is told apart in a chooser: its number, what it did, when, and its counts.

    >>> run_name({"id": 9, "stage": "bench", "started_at": "2026-12-04T02:49:18+00:00", "items_in": 229, "kept": 227})
    'run 9: benchmark a model, 2026-12-04 02:49 UTC (229 in, 227 kept)'
    """
    when = run["started_at"][:16].replace("T", " ")
    return f"run {run['id']}: {stage_words(run['stage'])}, {when} UTC ({run['items_in']} in, {run['kept']} kept)"


def run_rows(runs: list[dict]) -> list[dict]:
    """One row a run, with headers in words. Items per second count the work the run did: for a benchmark,
    the judgments it made (its ``in`` is every pair of the benchmark, judged now or by an earlier run).

    >>> [r["items per second"] for r in run_rows([
    ...     {"id": 1, "stage": "bench", "started_at": "2026-12-06T03:00:00", "items_in": 200, "kept": 200,
    ...      "dropped": {}, "seconds": 2.0, "notes": {"judged": 0, "already_judged": 200}},
    ...     {"id": 2, "stage": "ingest", "started_at": "2026-12-06T03:00:00", "items_in": 200, "kept": 200,
    ...      "dropped": {}, "seconds": 2.0, "notes": {}},
    ...     {"id": 3, "stage": "pairs", "started_at": "2026-12-06T03:00:00", "items_in": 4, "kept": 0,
    ...      "dropped": {"rejected": 4}, "seconds": 20.0, "notes": {}}])]
    [None, 100, 0.2]
    """
    rows = []
    for r in runs:
        dropped = sum(r["dropped"].values())
        done = r["notes"].get("judged", r["items_in"])
        rate = done / r["seconds"] if r["seconds"] and done else None
        rows.append({"run": r["id"], "stage": stage_words(r["stage"]), "started (UTC)": r["started_at"][:19].replace(
            "T", " "), "in": r["items_in"], "kept": r["kept"], "dropped": dropped, "seconds": round(r["seconds"], 1),
            "items per second": None if rate is None else round(rate) if rate >= 10 else round(rate, 1)})
    return rows


def figure_rows(figures: dict) -> list[dict]:
    """A run's recorded figures or parameters as rows a person reads: names in words, lists joined, a
    nested group flattened under its name, nothing left out.

    >>> figure_rows({"group_id": "ab", "ratios": [0.8, 0.2], "sampling": {"max_tokens": 8}, "seed": None})
    [{'what': 'group id', 'value': 'ab'}, {'what': 'ratios', 'value': '0.8, 0.2'}, {'what': 'sampling: max tokens', 'value': '8'}, {'what': 'seed', 'value': '—'}]
    """
    rows = []
    for name, value in figures.items():
        words = name.replace("_", " ")
        if isinstance(value, dict):
            rows += [{"what": f"{words}: {row['what']}", "value": row["value"]} for row in figure_rows(value)]
        elif isinstance(value, list):
            rows.append({"what": words, "value": ", ".join(str(v) for v in value) or "—"})
        else:
            rows.append({"what": words, "value": "—" if value is None else str(value)})
    return rows
