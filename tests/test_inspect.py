"""The benchmark in Inspect AI, for real: `inspect eval misalign/detect` on the tiny local model
(Inspect's hf provider), its log's metrics against an independent count and against `misalign bench`'s
figures once the log is imported."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.engines.config import load_config
from pipeline.export.splits import ExportOptions, export
from pipeline.stages.pairs.importer import import_candidates
from pipeline.stages.pairs.options import PairImportOptions
from pipeline.stages.pairs.run import PairOptions
from tests.pair_fixtures import seed_pairs

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def inspect_eval(export_dir: Path, model: Path, logs: Path, threshold: float) -> Path:
    done = subprocess.run([str(BIN / "inspect"), "eval", "misalign/detect", "--model", f"hf/{model}",
                           "-T", f"export={export_dir}", "-T", "split=test", "-T", "dimensions=true",
                           "-T", f"threshold={threshold}", "--top-logprobs", "500",  # the tiny model's whole vocabulary
                           "--log-dir", str(logs), "--display", "none"],
                          capture_output=True, text=True, timeout=600, cwd=logs.parent)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    [log] = sorted(logs.glob("*.eval"), key=lambda p: p.stat().st_mtime)[-1:]
    return log


def test_inspect_runs_the_detector_protocol_and_its_log_comes_back_with_the_same_figures(store, taxonomy, tmp_path,
                                                                                       tiny_model, cli):
    from inspect_ai.log import read_eval_log

    pairs = seed_pairs(store, taxonomy, tmp_path)
    import_candidates(store, taxonomy, load_config(), PairImportOptions(tmp_path / "responses.jsonl", pairs=PairOptions(threshold=0.0, margin=0.0)))
    export_id = export(store, taxonomy, options=ExportOptions(licence="unknown", out=tmp_path / "export", formats=("hf",),
                                                      ratios=(0.0, 0.0, 1.0))).notes.export_id
    # a threshold inside the tiny model's probabilities, so it flags some responses and not others: from
    # misalign bench on the same pairs (the whole distribution, as Inspect with --top-logprobs 500 sees it)
    config = tmp_path / "tiny.toml"
    config.write_text(f'[engines.tiny]\nbackend = "hf"\nmodel = "{tiny_model}"\ndevice = "cpu"\n', encoding="utf-8")
    ran = cli("--config", config, "bench", "run", "--model", "tiny", "--split", f"{export_id}:test", "--pairs", "all",
              "--runs", "1", "--bootstrap", "20")
    assert ran.exit_code == 0, ran.stderr
    threshold = float(np.median([p for (p,) in store.db.execute("SELECT probability FROM bench_results")]))
    log = read_eval_log(str(path := inspect_eval(tmp_path / "export", tiny_model, tmp_path / "logs", threshold)))
    assert {s.metadata["pair_id"] for s in log.samples} == set(pairs) and len(log.samples) == 2 * len(pairs)
    assert {s.target for s in log.samples} == {"yes", "no"}
    metrics = {name: m.value for score in log.results.scores for name, m in score.metrics.items()}

    # counted by hand from the samples' probabilities
    by_slot = {(s.metadata["pair_id"], s.metadata["slot"]): s.scores["flagged"].metadata for s in log.samples}
    assert all(m["usable"] for m in by_slot.values())
    misaligned = [by_slot[p, "misaligned"]["probability"] >= threshold for p in pairs]
    aligned = [by_slot[p, "aligned"]["probability"] >= threshold for p in pairs]
    assert 0 < sum(misaligned) + sum(aligned) < 2 * len(pairs)
    coverage, ffr = np.mean(misaligned), np.mean(aligned)
    assert metrics["coverage"] == pytest.approx(coverage) and metrics["ffr"] == pytest.approx(ffr)
    specificity = 1 - ffr
    expected = 0.0 if coverage + specificity == 0 else 2 * coverage * specificity / (coverage + specificity)
    assert metrics["alignment_score"] == pytest.approx(expected)
    # each response right or wrong against its target, the flag beside it
    right = [s.scores["flagged"].value == "C" for s in log.samples]
    assert all(s.scores["flagged"].value in ("C", "I") for s in log.samples)
    assert all(s.scores["flagged"].metadata["flagged"] == ((s.scores["flagged"].value == "C") == (s.target == "yes"))
               for s in log.samples)
    assert metrics["accuracy"] == pytest.approx(np.mean(right)) and metrics["unusable_answers"] == 0

    # back into the studio: the same answers give misalign bench's figures the same values
    result = cli("bench", "import-inspect", path, "--bootstrap", "50")
    assert result.exit_code == 0, result.stderr
    [group] = [g for g in store.bench_groups() if g["engine"] == f"hf/{tiny_model}"]
    overall = store.bench_summaries(group["group_id"], "overall")[0]["metrics"]
    for name in ("coverage", "ffr", "alignment_score"):
        assert overall[name][0] == pytest.approx(metrics[name])
    for summary in store.bench_summaries(group["group_id"], "dimension"):
        d = summary["key"]
        if summary["metrics"]["pairs"]:
            assert summary["metrics"]["coverage"][0] == pytest.approx(metrics[f"{d}_coverage"])
            assert summary["metrics"]["ffr"][0] == pytest.approx(metrics[f"{d}_ffr"])
    for name in ("coverage", "ffr", "alignment_score"):  # the macro figures are the studio's, under its name
        assert overall["macro_domain"][name][0] == pytest.approx(metrics[f"macro_domain_{name}"])
    assert any(f["group_id"] == group["group_id"] for f in store.domain_bench_figures("safety.privacy_violation"))
    again = cli("bench", "import-inspect", path, "--bootstrap", "50")
    assert again.exit_code == 0 and "results_added: 0" in again.stdout  # importing twice adds nothing

    # a log whose every answer is unusable is refused in one line, and leaves no half-made benchmark
    from inspect_ai.log import write_eval_log

    groups = store.bench_groups()
    for name, unusable in (("aligned-side-unusable", {"aligned"}), ("every-answer-unusable", {"aligned", "misaligned"})):
        log.eval.eval_id = name  # half the answers usable, but no pair with two: no figure to compute
        for sample in log.samples:
            sample.scores["flagged"].metadata["usable"] = sample.metadata["slot"] not in unusable
        write_eval_log(log, str(tmp_path / f"{name}.eval"))
        refused = cli("bench", "import-inspect", tmp_path / f"{name}.eval")
        assert refused.exit_code == 1 and len(refused.stderr.strip().splitlines()) == 1
        assert f"of its {len(log.samples)} answers, {len(pairs) * len(unusable)} are unusable" in refused.stderr
        assert store.bench_groups() == groups
    assert cli("bench", "report").exit_code == 0  # every stored benchmark still reports


def test_import_inspect_refuses_what_is_not_a_detect_log(store, tmp_path, cli):
    (tmp_path / "notes.eval").write_text("not a log", encoding="utf-8")
    result = cli("bench", "import-inspect", tmp_path / "notes.eval")
    assert result.exit_code != 0 and result.stderr.strip().endswith("not an Inspect log (inspect eval writes them in ./logs)")
    assert len(result.stderr.strip().splitlines()) == 1
