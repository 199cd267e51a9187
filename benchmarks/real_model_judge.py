"""The real model (SmolLM2-135M-Instruct) as the pairs judge on the demo's candidates, against the
embedded judge (the baseline), both measured against the demo's example annotators' decisions.

Each judge gets a demo store of its own (`misalign demo` with that judge at step 4); per judge: the
candidates, how many stage 1 (rules) and stage 2 (the judge) passed, the top rejection reasons in words,
and Cohen's kappa of its accepted / not accepted against people's human_accepted / human_rejected
with a 95% bootstrap interval over pairs (only pairs people decided; none of them was used to make
either judge).

    python benchmarks/real_model_judge.py [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.app.pair_card import reason_words  # noqa: E402
from pipeline.demo.run import ENGINE, run_demo  # noqa: E402
from pipeline.engines.config import Config, EngineConfig, load_config  # noqa: E402
from pipeline.engines.models import install_hint, installed_path, is_installed  # noqa: E402
from pipeline.review.agreement import judge_calibration  # noqa: E402
from review_store import Store  # noqa: E402

MODEL = "smollm2"


def judged(folder: Path, judge: str, config: Config) -> dict:
    """A demo store judged by ``judge``: the pairs stage's counts, reasons and the judge's calibration."""
    lines = []
    result = run_demo(folder / f"{judge}.db", echo=lines.append, export_dir=folder / f"{judge}-export",
                      config=config, judge=judge)
    with Store(result.db) as store:
        run = next(r for r in store.stage_runs(limit=100) if r["stage"] == "pairs_import")
        notes = run["notes"]
        reasons = list(store.reason_counts().items())[:3]  # the 4 real-model pairs' too
        calibration = judge_calibration(store)["overall"]
    return {"judge": judge, "candidates": notes.get("candidates"), "stage1_failed": notes.get("stage1_failed"),
            "stage2_failed": notes.get("stage2_failed"), "accepted": notes.get("accepted"),
            "borderline": notes.get("borderline"), "rejected": notes.get("rejected"),
            "top_reasons": [(reason_words(code), n) for code, n in reasons],
            "pairs_decided_by_people": calibration["pairs"], "kappa": calibration["kappa"],
            "kappa_interval": list(calibration["kappa_interval"]), "agreement": calibration["agreement"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not is_installed(MODEL):
        sys.exit(f"error: SmolLM2 is not installed: {install_hint(MODEL)}")
    base = load_config(None)
    config = base.with_engine(EngineConfig(MODEL, "hf", str(installed_path(MODEL)), {"device": "cpu"}))
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for judge in (ENGINE, MODEL):
            print(f"judging the demo's candidates with {judge} ...", file=sys.stderr, flush=True)
            rows.append(judged(Path(tmp), judge, config))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print("The demo's candidates judged, against the example annotators' decisions; baseline: the embedded judge")
    print(f"{'judge':10} {'cands':>5} {'rules failed':>12} {'judge failed':>12} {'acc/bord/rej':>12} "
          f"{'n people':>8} {'kappa [95% CI]':>22}  top rejection reasons")
    for r in rows:
        low, high = r["kappa_interval"]
        kappa = f"{r['kappa']:.2f} [{low:.2f}, {high:.2f}]"
        print(f"{r['judge']:10} {r['candidates']:>5} {r['stage1_failed']:>12} {r['stage2_failed']:>12} "
              f"{r['accepted']:>4}/{r['borderline']}/{r['rejected']:<4} {r['pairs_decided_by_people']:>8} "
              f"{kappa:>22}  " + "; ".join(f"{words} ({n})" for words, n in r["top_reasons"]))


if __name__ == "__main__":
    main()
