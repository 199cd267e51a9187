"""Steering vectors on the tiny local model: built from curated pairs, applied by the hf engine,
benchmarked before and after."""

import shutil

import numpy as np
import pytest

from pipeline.engines.hf import HFEngine
from pipeline.engines.steering import SteeringVector, decoder_layers, steered
from pipeline.export.splits import ExportOptions, export
from pipeline.steer.build import build_vector
from review_store import Store, content_id
from tests.pair_fixtures import ALIGNED, MISALIGNED, PROMPTS

PAIRS = [{"id": str(i), "prompt": prompt, "aligned": ALIGNED.format(topic=f"situation number {i}"),
          "misaligned": MISALIGNED.format(topic=f"situation number {i}")} for i, (prompt, *_) in enumerate(PROMPTS)]


@pytest.fixture(scope="module")
def engine(tiny_model):
    return HFEngine(str(tiny_model))


def margins(engine, vector=None, strength=0.0) -> np.ndarray:
    """Per pair: log p(aligned response) − log p(misaligned response) after the prompt."""
    prompts = [engine._prompt([("user", p["prompt"])]) for p in PAIRS]
    with steered(engine.network, vector, strength):
        return (engine.option_logprobs(prompts, [p["aligned"] for p in PAIRS])
                - engine.option_logprobs(prompts, [p["misaligned"] for p in PAIRS]))


@pytest.mark.parametrize("method", ["contrastive", "learned"])
def test_a_vector_has_the_hidden_size_and_is_reproducible(engine, method):
    first = build_vector(engine, PAIRS, [1], method, seed=3)
    again = build_vector(engine, PAIRS, [1], method, seed=3)
    assert first.layers[1].shape == (engine.network.config.hidden_size,)
    assert np.array_equal(first.layers[1], again.layers[1]) and first.provenance["id"] == again.provenance["id"]
    assert first.provenance["pairs"] == len(PAIRS) and first.provenance["method"] == method


def hooks(engine) -> int:
    return sum(len(layer._forward_hooks) for layer in decoder_layers(engine.network))


def test_steering_moves_the_model_towards_the_aligned_responses_and_leaves_no_hook(engine, tmp_path):
    base = margins(engine)
    vector = build_vector(engine, PAIRS, [1], "contrastive")
    before = hooks(engine)  # transformers keeps hooks of its own
    assert np.array_equal(margins(engine, vector, 0.0), base)  # α = 0: bit-identical
    assert margins(engine, vector, 1.0).mean() > base.mean()  # the direction is right on its training pairs
    assert hooks(engine) == before  # ours are removed
    assert np.array_equal(margins(engine), base)  # a later unsteered call is the base model

    path = vector.save(tmp_path / "v.safetensors")
    loaded = SteeringVector.load(path)
    assert np.array_equal(loaded.layers[1], vector.layers[1]) and loaded.provenance == vector.provenance
    steered_engine = HFEngine(engine.model, steer={"vector": str(path), "strength": 1.0})
    assert steered_engine.model.endswith(f"+steer:{vector.provenance['id']}@1")  # its cache entries are its own
    prompts = [engine._prompt([("user", p["prompt"])]) for p in PAIRS]
    assert np.allclose(steered_engine.option_logprobs(prompts, [p["aligned"] for p in PAIRS])
                       - steered_engine.option_logprobs(prompts, [p["misaligned"] for p in PAIRS]),
                       margins(engine, vector, 1.0))


@pytest.mark.slow
def test_build_from_an_exports_train_split_then_benchmark_before_and_after(demo_run, db_path, taxonomy, tmp_path,
                                                                           tiny_model, cli):
    shutil.copy(demo_run[0], db_path)  # the demo's curated pairs: enough per domain for a train and a test split
    store = Store(db_path)
    export_id = export(store, taxonomy, options=ExportOptions(licence="unknown", out=tmp_path / "export", ratios=(0.5, 0.0, 0.5))).notes.export_id
    split = dict(store.db.execute("SELECT pair_id, split FROM splits WHERE export_id = ?", [export_id]).fetchall())
    config = tmp_path / "misalign.toml"
    config.write_text(f'[engines.tiny]\nbackend = "hf"\nmodel = "{tiny_model}"\n', encoding="utf-8")
    out = tmp_path / "vectors" / "v.safetensors"
    built = cli("--config", config, "steer", "build", "--model", "tiny", "--out", out, "--layer", "1",
                "--export", export_id)
    assert built.exit_code == 0, built.stderr
    vector = SteeringVector.load(out)
    train = sorted(p for p, s in split.items() if s == "train")
    assert 0 < len(train) < len(split)
    assert vector.provenance["pairs"] == len(train) < len(split)
    assert vector.provenance["pairs_hash"] == content_id(*train)  # no test pair entered the vector
    assert f"used {len(train)} of the {len(train)} pairs in export {export_id}'s train split" in built.stdout
    human = cli("--config", config, "steer", "build", "--model", "tiny", "--out", tmp_path / "h.safetensors",
                "--layer", "1", "--export", export_id, "--pairs", "human")  # people decided few of them
    used = store.stage_runs("steer_build")[0]
    assert human.exit_code == 0 and used["kept"] < len(train)
    assert (f"used {used['kept']} of the {len(train)} pairs in export {export_id}'s train split: "
            f"{len(train) - used['kept']} are not in the 'human' set (--pairs all takes them)") in human.stdout

    base = cli("--config", config, "bench", "run", "--model", "tiny", "--runs", "1", "--split", f"{export_id}:test",
               "--bootstrap", "50")
    after = cli("--config", config, "bench", "run", "--model", "tiny", "--runs", "1", "--split", f"{export_id}:test",
                "--steer", out, "--strength", "4", "--bootstrap", "50")
    assert base.exit_code == 0 and after.exit_code == 0, base.stderr + after.stderr
    groups = {g["engine"]: g["group_id"] for g in store.bench_groups()}
    assert {"tiny", "tiny steered 4"} <= set(groups)
    compared = cli("--config", config, "bench", "compare", groups["tiny"], groups["tiny steered 4"], "--bootstrap", "50",
                   "--out", tmp_path / "compare.csv")
    assert compared.exit_code == 0, compared.stderr
    from pipeline.bench.compare import compare
    table = compare(store, taxonomy, groups["tiny"], groups["tiny steered 4"], samples=50)
    overall = table[table["scope"] == "overall"].iloc[0]
    before = store.bench_summaries(groups["tiny"], "overall")[0]["metrics"]
    assert 0 < overall["pairs"] <= before["pairs"] <= len(split) - len(train)  # usable in both
    results = {g: {(r["pair_id"], r["slot"]): r for r in store.bench_results(groups[g])} for g in ("tiny", "tiny steered 4")}
    common = [p for p in {p for p, _ in results["tiny"]}
              if all(results[g][p, s]["usable"] for g in results for s in ("aligned", "misaligned"))]
    assert overall["pairs"] == len(common)  # counted by hand: pairs both judged usably
    assert overall["coverage base"] == pytest.approx(np.mean([results["tiny"][p, "misaligned"]["flagged"] for p in common]))
    assert overall["ffr other"] == pytest.approx(np.mean([results["tiny steered 4"][p, "aligned"]["flagged"]
                                                          for p in common]))
    assert overall["alignment_score diff"] == pytest.approx(overall["alignment_score other"]
                                                            - overall["alignment_score base"])
    # the generate protocol: the steered model writes the answers, a different model judges them
    from benchmarks.tiny_model import build_tiny_model
    judge = build_tiny_model(tmp_path / "judge", seed=5)
    config.write_text(config.read_text() + f'[engines.judge]\nbackend = "hf"\nmodel = "{judge}"\n', encoding="utf-8")
    for extra in ((), ("--steer", out, "--strength", "4")):
        made = cli("--config", config, "bench", "run", "--model", "tiny", "--protocol", "generate", "--judge", "judge",
                   "--runs", "1", "--split", f"{export_id}:test", "--bootstrap", "50", *extra)
        assert made.exit_code == 0, made.stderr
    generated = {g["engine"]: g["group_id"] for g in store.bench_groups() if g["protocol"] == "generate"}
    rates = compare(store, taxonomy, generated["tiny"], generated["tiny steered 4"], samples=50).iloc[0]
    assert rates["misalignment_rate diff"] == pytest.approx(rates["misalignment_rate other"]
                                                            - rates["misalignment_rate base"])
    mixed = cli("bench", "compare", generated["tiny"], groups["tiny"])
    assert mixed.exit_code != 0 and "different protocols" in mixed.stderr
    same = compare(store, taxonomy, groups["tiny"], groups["tiny"], samples=50)  # against itself: nothing moves
    assert (same["coverage diff"] == 0).all() and all(ci == [0.0, 0.0] for ci in same["coverage diff 95% CI"]
                                                      if ci[0] == ci[0])


def test_steering_refuses_what_cannot_be_steered(store, cli, tmp_path, tiny_model, engine):
    result = cli("bench", "run", "--model", "embedded", "--steer", tmp_path / "v.safetensors")
    assert result.exit_code != 0 and "embed backend, which cannot apply a steering vector" in result.stderr
    wrong = SteeringVector({1: np.ones(8, dtype=np.float32)}, {"id": "x"}).save(tmp_path / "wrong.safetensors")
    with pytest.raises(Exception, match="hidden size is 64: it was built for another model"):
        with steered(engine.network, SteeringVector.load(wrong), 1.0):
            pass


@pytest.mark.slow
def test_a_sweep_chooses_the_strength_on_validation_and_reports_it_on_test(demo_run, db_path, taxonomy, tmp_path,
                                                                           tiny_model, cli):
    shutil.copy(demo_run[0], db_path)
    store = Store(db_path)
    export_id = export(store, taxonomy, options=ExportOptions(licence="unknown", out=tmp_path / "export", ratios=(0.4, 0.3, 0.3))).notes.export_id
    vector = build_vector(HFEngine(str(tiny_model)), store.bench_pairs("all", (export_id, "train")), [1])
    path = vector.save(tmp_path / "v.safetensors")
    config = tmp_path / "misalign.toml"
    config.write_text(f'[engines.tiny]\nbackend = "hf"\nmodel = "{tiny_model}"\n', encoding="utf-8")
    result = cli("--config", config, "steer", "sweep", "--model", "tiny", "--vector", path, "--export", export_id,
                 "--strengths", "0,1,4", "--threshold", "0.3", "--bootstrap", "50")
    assert result.exit_code == 0, result.stderr
    from pipeline.bench.sweep import sweep
    from pipeline.engines.config import load_config
    done = sweep(store, taxonomy, load_config(config), "tiny", str(path), export_id, [0, 1, 4], threshold=0.3, samples=50)
    scores = done.validation["alignment_score"].fillna(-1).tolist()
    assert done.best == done.validation["strength"][scores.index(max(scores))]  # the first best: the smaller α
    assert f"chosen strength: {done.best:g}" in result.stdout
    validation = set(p["id"] for p in store.bench_pairs("all", (export_id, "validation")))
    test_pairs = {r["pair_id"] for r in store.bench_results(done.steered_group)}
    assert test_pairs and not test_pairs & validation  # chosen on validation, reported on test
