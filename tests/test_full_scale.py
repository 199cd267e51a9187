"""The whole CPU loop at a CI-sized scale (`benchmarks/full_scale.py --size 2000`), so the loop at
scale cannot silently break: every stage runs on one store and does what it says."""

import pytest
from simhash import Simhash

from benchmarks.full_scale import chosen_stages, run_loop
from benchmarks.label import DEV_CSV
from pipeline.stages.options import DedupOptions
from pipeline.text.simhash import text_features

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not DEV_CSV.is_file(), reason="needs ../shared/data")]


SIZE = 2000  # the whole loop at 5000 took 131 s of CI's 25 minutes for nothing 2000 does not show


def test_the_whole_loop_at_ci_scale(tmp_path):
    result = run_loop(tmp_path, SIZE)
    stages = {s["stage"]: s for s in result["stages"]}
    assert list(stages) == ["build inputs", "ingest", "label (learned)", "dedup", "pairs (rules, embedded judge)",
                            "bench keyword-refusal", "bench embedded",
                            "export (all formats)", "app page reads"]
    assert stages["ingest"]["items"] == SIZE and stages["label (learned)"]["items"] > 0.98 * SIZE
    # every planted near-duplicate (one word changed) that SimHash at τ can see, by the `simhash` package, is
    # removed, and dedup removes little else (one word in a short prompt moves more bits than τ: not seen)
    options = DedupOptions()
    seen = sum(Simhash(a).distance(Simhash(b)) <= options.tau for a, b in (
        [text_features(text, options.spec()) for text in pair] for pair in result["planted_pairs"])
        if min(len(set(a)), len(set(b))) >= options.min_features)
    assert seen > 0.3 * result["planted_near_duplicates"]
    assert seen <= result["dedup_removed"] <= 1.5 * result["planted_near_duplicates"]
    assert stages["bench embedded"]["items"] == stages["bench keyword-refusal"]["items"] > 0
    # every text is embedded once: the detector reads back what the labelling model and the judge embedded
    # (it embeds only responses the rules failed before the judge saw them)
    assert stages["label (learned)"]["texts_embedded"] >= stages["label (learned)"]["items"]
    assert stages["bench embedded"]["texts_embedded"] < 0.1 * stages["bench embedded"]["items"]
    assert (tmp_path / "export" / "hub" / "data" / "pairs" / "train-00000-of-00001.parquet").is_file() and (tmp_path / "export" / "dpo").is_dir()
    assert result["peak_rss_gib"] < 6 and result["store_gib"] < 0.1
    assert result["bottleneck"] in stages


def test_a_subset_of_stages_runs_alone_and_a_missing_prerequisite_is_named(tmp_path):
    assert chosen_stages("dedup") == ("ingest", "dedup")
    with pytest.raises(SystemExit, match="--stages: export needs pairs"):
        chosen_stages("ingest,export")
    with pytest.raises(SystemExit, match="unknown stage judge"):
        chosen_stages("dedup,judge")
    result = run_loop(tmp_path, 2000, chosen_stages("dedup"))
    assert [s["stage"] for s in result["stages"]] == ["build inputs", "ingest", "dedup"]
    assert result["dedup_removed"] > 0
