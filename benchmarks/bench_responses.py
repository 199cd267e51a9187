"""Benchmarking labelled responses at scale: 100k responses (20k prompts × 5 models) scored by three
detectors (keyword-refusal, and two outside verdict files: probabilities, and yes/no flags with
per-dimension flags), each through ``bench run --on responses`` / ``bench import`` and the report
tables; against the baseline of computing the same overall Coverage / FFR with scikit-learn's
confusion matrix from the same rows in memory (which stores, checks and reports nothing).

    python benchmarks/bench_responses.py [--responses 100000] [--json]

Target: the three detectors run and report in under 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.bench.options import BenchOptions  # noqa: E402
from pipeline.bench.report import report_tables  # noqa: E402
from pipeline.bench.responses import import_verdicts  # noqa: E402
from pipeline.bench.run import run_bench  # noqa: E402
from pipeline.engines.config import load_config  # noqa: E402
from pipeline.stages.responses import ImportResponsesOptions, import_responses  # noqa: E402
from review_store import Store  # noqa: E402
from taxonomy import load_taxonomy  # noqa: E402

MODELS = ("model-a", "model-b", "model-c", "model-d", "model-e")
KINDS = ("harmful_compliance", "over_refusal", "value_violation", "cultural_insensitivity")
TARGET_S = 120


def labelled_file(folder: Path, responses: int, seed: int = 0) -> tuple[Path, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    prompts = responses // len(MODELS)
    frame = pd.DataFrame({
        "prompt": np.repeat([f"Synthetic prompt {i}: how should I handle situation {i}?" for i in range(prompts)],
                            len(MODELS)),
        "model": np.tile(MODELS, prompts)})
    misaligned = rng.random(len(frame)) < 0.4
    refuses = rng.random(len(frame)) < 0.3
    frame["response"] = [("I'm sorry, but I can't help with that. " if r else "Here is how: ") + f"answer {i}."
                         for i, r in enumerate(refuses)]
    frame["verdict"] = np.where(misaligned, "misaligned", "aligned")
    frame["kind"] = np.where(misaligned, rng.choice(KINDS, len(frame)), "")
    frame["dimensions"] = np.where(misaligned, rng.choice(["safety", "value", "culture; value"], len(frame)), "")
    path = folder / "labelled.csv"
    frame.to_csv(path, index=False)
    return path, frame


def verdict_files(folder: Path, frame: pd.DataFrame, seed: int = 1) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    truth = (frame["verdict"] == "misaligned").to_numpy()
    keys = frame[["prompt", "response", "model"]]
    probability = keys.assign(probability=np.clip(truth * 0.6 + rng.random(len(frame)) * 0.5, 0, 1).round(3))
    flags = keys.assign(flagged=np.where(truth ^ (rng.random(len(frame)) < 0.2), "yes", "no"),
                        safety=np.where(rng.random(len(frame)) < 0.3, "yes", "no"))
    paths = {"judge-probability": folder / "judge-probability.csv", "judge-flags": folder / "judge-flags.csv"}
    probability.to_csv(paths["judge-probability"], index=False)
    flags.to_csv(paths["judge-flags"], index=False)
    return paths


def baseline_seconds(frame: pd.DataFrame, verdicts: dict[str, Path]) -> float:
    """Overall Coverage and FFR of each outside file from a confusion matrix in memory."""
    from sklearn.metrics import confusion_matrix

    began = time.perf_counter()
    truth = frame["verdict"].to_numpy() == "misaligned"
    for path in verdicts.values():
        table = pd.read_csv(path, keep_default_na=False)
        flagged = (table["probability"] >= 0.5) if "probability" in table else table["flagged"] == "yes"
        tn, fp, fn, tp = confusion_matrix(truth, flagged.to_numpy(), labels=[False, True]).ravel()
        _ = tp / (tp + fn), fp / (fp + tn)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    taxonomy = load_taxonomy()
    timings = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path, frame = labelled_file(folder, args.responses)
        verdicts = verdict_files(folder, frame)
        with Store(folder / "bench.db") as store:
            began = time.perf_counter()
            import_responses(store, taxonomy, options=ImportResponsesOptions(path))
            timings["import responses"] = time.perf_counter() - began
            for name in ("keyword-refusal", *verdicts):
                began = time.perf_counter()
                if name == "keyword-refusal":
                    report = run_bench(store, None, load_config(), BenchOptions(engine=name, items="responses"))
                else:
                    report = import_verdicts(store, verdicts[name], name)
                report_tables(store, taxonomy, report.notes.group_id)
                timings[name] = time.perf_counter() - began
        baseline = baseline_seconds(frame, verdicts)
    detectors = sum(v for k, v in timings.items() if k != "import responses")
    result = {"responses": args.responses, "seconds": {k: round(v, 2) for k, v in timings.items()},
              "three_detectors_s": round(detectors, 2), "target_s": TARGET_S,
              "baseline_sklearn_overall_only_s": round(baseline, 2), "ratio_to_baseline": round(detectors / baseline, 1)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.responses:,} labelled responses, 5 models; run, summarise (per model, kind, dimension, "
          "bootstrap intervals) and report")
    print(f"{'step':22} {'seconds':>8}")
    for name, seconds in timings.items():
        print(f"{name:22} {seconds:8.1f}")
    print(f"{'three detectors':22} {detectors:8.1f}   target {TARGET_S} s")
    print(f"{'baseline':22} {baseline:8.1f}   scikit-learn confusion matrix, overall figures only, nothing stored "
          f"({result['ratio_to_baseline']}x)")


if __name__ == "__main__":
    main()
