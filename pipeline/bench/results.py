"""Benchmark result rows and the loop that makes them: shared by pairs, labelled responses, outside
verdicts and Inspect logs."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from pipeline.text.progress import progress
from review_store import StageReport, Store


def result_row(key: dict, probability: float | None, dims: dict, threshold: float, raw: str | None = None) -> dict:
    """A result row for what ``key`` names (run and pair slot, or run and response); a None probability is an
    unusable answer: stored with ``usable = 0``, flagging nothing."""
    if probability is None or math.isnan(probability):
        return {**key, "flagged": 0, "probability": None, "dimensions": [], "dimension_probabilities": {},
                "raw": raw, "usable": 0}
    return {**key, "flagged": int(probability >= threshold), "probability": float(probability),
            "dimensions": [d for d, p in dims.items() if p >= threshold], "dimension_probabilities": dims,
            "raw": raw, "usable": 1}


def judge_in_batches(store: Store, run_id: str, todo: list[dict], batch: int, description: str,
                     rows_of: Callable[[list[dict]], list[dict]], save: Callable[[list[dict]], int],
                     report: StageReport) -> None:
    """One run over the items still to judge: each batch's result rows committed as they come (a run
    cut off resumes), the judgments made and the unusable answers counted in the report's notes, the
    run's time recorded."""
    began = time.perf_counter()
    with progress(len(todo), description, "items", shown=bool(todo)) as bar:
        for begin in range(0, len(todo), batch):
            items = todo[begin:begin + batch]
            rows = rows_of(items)
            with store.transaction():
                save(rows)
            report.notes.judged += len(items)
            report.notes.unusable_answers += sum(not r["usable"] for r in rows)
            bar.update(len(items))
    with store.transaction():
        store.finish_bench_run(run_id, time.perf_counter() - began)
