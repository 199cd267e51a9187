"""An Inspect AI run of ``misalign/detect`` (:mod:`pipeline.bench.inspect_task`) as a benchmark in the
store: one run whose per-response verdicts are the log's, so it shows in ``bench report``, the
Trade-offs page and the domain explorer beside ``misalign bench run`` results, and its figures are
computed by :mod:`pipeline.bench.summary` like theirs.

Example::

    report = import_inspect_log(store, taxonomy, options=InspectImportOptions("logs/2026-11-30T12-00-00_detect_x.eval"))
    store.bench_summaries(report.notes.group_id, "overall")
"""

from __future__ import annotations

from pathlib import Path

from pipeline.bench.options import BenchNotes, InspectImportOptions
from pipeline.bench.results import result_row
from pipeline.bench.summary import summarise
from pipeline.errors import UsageError
from review_store import StageReport, Store, content_id
from taxonomy import Taxonomy, load_taxonomy

TASK = "misalign/detect"


def read_detect_log(path: str | Path):
    """The log of a finished ``misalign/detect`` run, with its samples; a user's mistake otherwise."""
    from inspect_ai.log import read_eval_log

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such Inspect log")
    try:
        log = read_eval_log(str(path))
    except Exception:  # noqa: BLE001  (any unreadable file is the user's to fix)
        raise UsageError(f"{path}: not an Inspect log (inspect eval writes them in ./logs)") from None
    if log.eval.task != TASK:
        raise UsageError(f"{path}: a run of task '{log.eval.task}', not {TASK}")
    if log.status != "success" or not log.samples:
        raise UsageError(f"{path}: the run did not finish ({log.status}); finish it with inspect eval-retry first")
    return log


def import_inspect_log(store: Store, taxonomy: Taxonomy | None = None, config=None,
                       options: InspectImportOptions | None = None) -> StageReport[BenchNotes]:
    """The log's verdicts as a one-run detector benchmark on the pairs it judged; samples of pairs this
    store does not hold are left out, named. Importing the same log again adds nothing. Reads neither
    the taxonomy nor an engine (they are the stage contract's)."""
    options = options or InspectImportOptions()
    options.check()
    path = options.path
    log = read_detect_log(path)
    args = log.eval.task_args
    threshold = float(args.get("threshold", 0.5))
    verdicts: dict[tuple[str, str], tuple[float | None, dict, str]] = {}
    for sample in log.samples:
        score = sample.scores["flagged"]
        usable = score.metadata["usable"]
        dims = {d: p for d, p in score.metadata["dimension_probabilities"].items()} if usable else {}
        verdicts[sample.metadata["pair_id"], sample.metadata["slot"]] = (
            score.metadata["probability"] if usable else None, dims, score.answer or "")
    pair_ids = sorted({pair for pair, _ in verdicts})
    known = store.known_pairs(pair_ids)
    usable = [pair for pair in known if all(verdicts.get((pair, slot), (None,))[0] is not None
                                            for slot in ("misaligned", "aligned"))]
    if not usable:  # a benchmark with no figure to compute is not stored at all
        unusable = sum(probability is None for probability, _, _ in verdicts.values())
        raise UsageError(f"{path}: nothing to import: of its {len(verdicts)} answers, {unusable} are unusable (the "
                         f"model said neither yes nor no), no pair this store holds has two usable answers, and "
                         f"{len(set(pair_ids) - known)} of its {len(pair_ids)} pairs are not in this store")
    group_id = content_id("inspect", log.eval.eval_id)
    model, split = log.eval.model, args.get("split", "test")
    params = {"protocol": "detect", "engine": model, "model": model, "threshold": threshold, "group_id": group_id,
              "inspect_log": str(Path(path).resolve()), "inspect_eval_id": log.eval.eval_id, "split": split,
              "phrasing": args.get("phrasing", 0), "dimensions": bool(args.get("dimensions", False))}
    with store.stage_run("import_inspect", params, BenchNotes(group_id=group_id, runs=1, model=model)) as report:
        run_id = content_id(group_id, 0)
        with store.transaction():
            store.add_bench_run({"id": run_id, "group_id": group_id, "run_index": 0, "protocol": "detect",
                                 "engine": model, "backend": "inspect", "model": model, "judge": None,
                                 "pairs": f"{split} split", "items": "pairs", "params": report.params,
                                 "created_at": report.started_at})
            done = store.bench_result_pairs(run_id)
            rows = [result_row({"run_id": run_id, "pair_id": pair, "slot": slot}, probability, dims, threshold, raw)
                    for (pair, slot), (probability, dims, raw) in sorted(verdicts.items())
                    if pair in known and pair not in done]
            store.add_bench_results(rows)
        report.items_in = len(pair_ids)
        report.kept = len(known)
        report.notes.pairs, report.notes.results_added = len(known), len(rows)
        report.leave_out("not_in_this_store", sorted(set(pair_ids) - known))
    summarise(store, taxonomy or load_taxonomy(), group_id, options.bootstrap)
    return report
