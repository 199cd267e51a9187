"""Exports: deterministic, stratified by primary domain, no near-duplicate across splits, safe CSV,
HF datasets round trip, a dataset card, and the store's record of what went where."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.synthetic import synthetic_prompts
from pipeline.errors import UsageError
from pipeline.stages.dedup import DedupOptions, dedup
from pipeline.export.splits import ExportOptions, export
from pipeline.stages.ingest import IngestOptions, ingest
from tests.conftest import snapshot

DOMAINS = 6


@pytest.fixture
def curated(store, taxonomy, tmp_path):
    """~600 prompts (a tenth are light edits of another) over 6 safety domains, deduplicated per domain
    so that near-duplicates in different domains both survive, each with an accepted pair."""
    names = [d.name for d in taxonomy.domains_of("safety")[:DOMAINS]]
    texts = synthetic_prompts(600, seed=1)
    frame = pd.DataFrame({"prompt": texts, "safety": [names[i % DOMAINS] for i in range(len(texts))]})
    frame.loc[3, "prompt"] = "=HYPERLINK(\"http://example.com\") " + frame.loc[3, "prompt"]
    frame.to_csv(tmp_path / "p.csv", index=False)
    ingest(store, taxonomy, options=IngestOptions(tmp_path / "p.csv", label_columns={"safety": "safety"}))
    dedup(store, options=DedupOptions(scope="domain"))
    kept = [r for r in store.db.query("SELECT id, text FROM prompts WHERE is_canonical = 1 ORDER BY seq")]
    with store.transaction():
        store.add_candidates({"id": f"{slot}-{p['id']}", "prompt_id": p["id"], "slot": slot, "generator": "g",
                              "text": ("@SUM(A1:A9) " if slot == "aligned" else "-2+3 ") + p["text"],
                              "origin": "imported", "attempt": 0, "created_at": "now"}
                             for p in kept for slot in ("aligned", "misaligned"))
        store.save_pairs({"id": f"pair-{p['id']}", "prompt_id": p["id"], "aligned_id": f"aligned-{p['id']}",
                          "misaligned_id": f"misaligned-{p['id']}", "status": "accepted", "reason_codes": [],
                          "audit": 0, "labeler": "imported:p.csv", "judge": "j", "params": "{}", "created_at": "now"}
                         for p in kept)
    return store


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_same_seed_gives_the_same_splits_and_another_seed_others(curated, taxonomy, tmp_path):
    first = export(curated, taxonomy, options=ExportOptions(licence="cc-by-4.0", out=tmp_path / "a", seed=7))
    second = export(curated, taxonomy, options=ExportOptions(licence="cc-by-4.0", out=tmp_path / "b", seed=7))
    other = export(curated, taxonomy, options=ExportOptions(licence="cc-by-4.0", out=tmp_path / "c", seed=8))
    assert (tmp_path / "a" / "pairs.jsonl").read_bytes() == (tmp_path / "b" / "pairs.jsonl").read_bytes()
    assert first.notes.export_id == second.notes.export_id != other.notes.export_id
    splits = lambda folder: {r["id"]: r["split"] for r in read_jsonl(tmp_path / folder / "pairs.jsonl")}  # noqa: E731
    assert splits("a") != splits("c")
    assert curated.split_counts(first.notes.export_id) == first.notes.splits
    assert len(curated.exports()) == 2  # the repeated export replaced itself


def test_near_duplicates_never_cross_splits_and_domains_are_stratified(curated, taxonomy, tmp_path):
    export(curated, taxonomy, options=ExportOptions(licence="cc-by-4.0", out=tmp_path / "x", seed=3))
    records = {r["id"]: r for r in read_jsonl(tmp_path / "x" / "pairs.jsonl")}
    prompts = list(curated.db.query("SELECT x.id AS pair, p.simhash, p.cluster_id FROM pairs x "
                                    "JOIN prompts p ON p.id = x.prompt_id WHERE p.simhash IS NOT NULL"))
    values = np.array([p["simhash"] for p in prompts], dtype=np.int64).view(np.uint64)
    distances = np.bitwise_count(values[:, None] ^ values[None, :])
    near = [(prompts[i]["pair"], prompts[j]["pair"]) for i, j in zip(*np.nonzero(np.triu(distances <= 10, 1)))]
    assert near, "the fixture should keep near-duplicates in different domains"
    assert all(records[a]["split"] == records[b]["split"] for a, b in near)
    # stratification: per primary domain each split is within one pair (plus the largest linked group) of its share
    linked = {a for pair in near for a in pair}
    for domain, group in pd.DataFrame(records.values()).groupby("primary_domain"):
        slack = 1 + sum(group["id"].isin(linked))
        for split, share in (("train", 0.8), ("validation", 0.1), ("test", 0.1)):
            assert abs((group["split"] == split).sum() - share * len(group)) <= slack


def test_formats_round_trip_and_csv_neutralises_formulas(curated, taxonomy, tmp_path):
    import datasets

    out = tmp_path / "all"
    export(curated, taxonomy, options=ExportOptions(licence="cc-by-4.0", out=out,
                                            formats=("jsonl", "csv", "parquet", "hf", "hf-disk")))
    records = read_jsonl(out / "pairs.jsonl")
    # hub/ as push_to_hub lays a repo out, its card naming the configs (a cache of its own: datasets keys a
    # local folder's cache by its path, which a later pytest session can reuse)
    loaded = datasets.load_dataset(str(out / "hub"), cache_dir=str(tmp_path / "hf-cache"))
    assert set(loaded) == {"train", "validation", "test"}
    assert loaded["train"].features["prompt"] == datasets.Value("string")
    assert loaded["train"].features["human_valid_votes"] == datasets.Value("int64")
    assert loaded["train"].features["safety_domains"].feature["probability"] == datasets.Value("float64")
    on_disk = datasets.load_from_disk(str(out / "hf-disk"))
    assert {s: len(loaded[s]) for s in loaded} == {s: len(d) for s, d in on_disk.items()}
    assert sum(len(loaded[s]) for s in loaded) == len(records)
    by_id = {r["id"]: r for r in records}
    row = loaded["test"][0]
    assert row["prompt"] == by_id[row["id"]]["prompt"] and row["safety_domains"] == by_id[row["id"]]["safety_domains"]
    assert pd.read_parquet(out / "pairs.parquet")["id"].tolist() == [r["id"] for r in records]
    with (out / "pairs.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert all(r["aligned_response"].startswith("'@SUM") and r["misaligned_response"].startswith("'-2+3") for r in rows)
    assert any(r["prompt"].startswith("'=HYPERLINK") for r in rows)
    assert json.loads(rows[0]["safety_domains"])[0]["probability"] == 1.0
    card = (out / "README.md").read_text(encoding="utf-8")
    assert f"taxonomy {taxonomy.version}" in card and "| train" in card and "## How labels and verdicts were made" in card
    assert "- `hub/`: a Hugging Face Hub dataset repo" in card and "- `pairs.csv`" in card
    for field in ("aligned_generator", "judge", "aligned_judge_score", "human_status", "human_agreement", "split",
                  "semantic_type", "value_domains"):
        assert field in records[0]


def test_the_hub_folder_is_a_dataset_repo_with_a_config_per_view(curated, taxonomy, tmp_path):
    import datasets
    import huggingface_hub

    out = tmp_path / "hub-export"
    report = export(curated, taxonomy, options=ExportOptions(out=out, formats=("jsonl", "hf", "dpo", "lm-eval"),
                                                     licence="CC-BY-4.0", dpo_format="conversational"))
    hub = out / "hub"
    files = sorted(str(p.relative_to(hub)) for p in hub.rglob("*") if p.is_file())
    assert files == ["README.md", *(f"data/{config}/{split}-00000-of-00001.parquet" for config in ("dpo", "pairs")
                                    for split in ("test", "train", "validation"))]  # nothing else to publish
    card = huggingface_hub.DatasetCard.load(hub / "README.md")  # the Hub's own card parser
    assert card.data.license == "cc-by-4.0" and card.data.size_categories == ["n<1K"]
    configs = {c["config_name"]: c for c in card.data.configs}
    assert set(configs) == {"pairs", "dpo"} and configs["pairs"]["default"]
    assert configs["pairs"]["data_files"] == [{"split": s, "path": f"data/pairs/{s}-00000-of-00001.parquet"}
                                              for s in ("train", "validation", "test")]
    info = {c["config_name"]: c for c in card.data.dataset_info}
    assert {s["name"]: s["num_examples"] for s in info["pairs"]["splits"]} == {
        s: report.notes.splits[s] for s in ("train", "validation", "test")}
    pairs = datasets.load_dataset(str(hub), cache_dir=str(tmp_path / "c1"))  # the default config
    dpo = datasets.load_dataset(str(hub), "dpo", cache_dir=str(tmp_path / "c2"))
    assert {s: len(d) for s, d in pairs.items()} == {s: len(d) for s, d in dpo.items()}
    aligned = dict(zip(pairs["train"]["id"], pairs["train"]["aligned_response"]))
    row = dpo["train"][0]
    assert row["chosen"] == [{"role": "assistant", "content": aligned[row["id"]]}] and row["prompt"][0]["role"] == "user"
    # without the card's YAML, each config's folder still loads by the Hub's own file-name conventions
    (hub / "README.md").unlink()
    bare = datasets.load_dataset(str(hub), data_dir="data/pairs", cache_dir=str(tmp_path / "c3"))
    assert {s: len(d) for s, d in bare.items()} == {s: len(d) for s, d in pairs.items()}
    # the other formats stay beside the repo, and lm-eval's task names no absolute path
    assert (out / "pairs.jsonl").is_file() and (out / "dpo" / "train.jsonl").is_file()
    task = (out / "lm-eval" / "misalign_detect.yaml").read_text()
    assert str(tmp_path) not in task and "custom_dataset: !function 'utils.dataset'" in task


def test_the_card_says_what_the_hub_reads(curated, taxonomy, tmp_path):
    import yaml

    out = tmp_path / "hub"
    export(curated, taxonomy, options=ExportOptions(out=out, formats=("hf",), licence="CC-BY-4.0"))
    meta = yaml.safe_load((out / "hub" / "README.md").read_text(encoding="utf-8").split("---\n")[1])
    assert meta["license"] == "cc-by-4.0" and meta["language"] == ["en"] and meta["size_categories"] == ["n<1K"]
    assert {f["name"] for f in meta["dataset_info"][0]["features"]} >= {"prompt", "aligned_response", "safety_domains"}
    assert "task_categories" in meta and meta["pretty_name"].startswith("misalign curated pairs")
    top = yaml.safe_load((out / "README.md").read_text(encoding="utf-8").split("---\n")[1])
    assert "configs" not in top  # the export folder itself is not the repo: its paths would be wrong there
    export(curated, taxonomy, options=ExportOptions(out=tmp_path / "own", licence="Our lab's terms"))
    other = yaml.safe_load((tmp_path / "own" / "README.md").read_text(encoding="utf-8").split("---\n")[1])
    assert (other["license"], other["license_name"]) == ("other", "our-lab-s-terms")
    export(curated, taxonomy, options=ExportOptions(out=tmp_path / "unknown", licence="unknown"))
    card = (tmp_path / "unknown" / "README.md").read_text(encoding="utf-8")
    assert yaml.safe_load(card.split("---\n")[1])["license"] == "unknown"
    assert "Licence: unknown: whoever exported it did not know it" in card


def test_an_export_names_its_licence_or_says_it_is_unknown(curated, cli, db_path, tmp_path):
    before = snapshot(db_path)
    result = cli("export", "--out", tmp_path / "x")
    assert result.exit_code == 1 and result.stderr.strip() == (
        "error: --licence: name this dataset's licence (a Hub id such as cc-by-4.0, or its name), or 'unknown' to say "
        "that it is not known")
    assert snapshot(db_path) == before and not (tmp_path / "x").exists()


def test_a_split_that_cannot_be_filled_is_said_in_a_line_and_on_the_card(curated, cli, taxonomy, tmp_path):
    domain = taxonomy.domains_of("safety")[0].id
    result = cli("export", "--licence", "unknown", "--out", tmp_path / "few", "--domain", domain,
                 "--ratios", "0.9999,0,0.0001")
    assert result.exit_code == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("note:")]
    assert line.startswith("note: the test split (asked 0.0001) is empty: ") and "leakage groups were too few" in line
    card = (tmp_path / "few" / "README.md").read_text(encoding="utf-8")
    assert "**Note:** the test split (asked 0.0001) is empty" in card
    # and an lm-eval task is never made of training pairs
    refused = cli("export", "--licence", "unknown", "--out", tmp_path / "lm", "--ratios", "1,0,0", "--format", "lm-eval")
    assert refused.exit_code == 1 and "--format lm-eval: this export has no test or validation pairs" in refused.stderr
    assert not (tmp_path / "lm").exists()


def test_dpo_files_hold_prompt_chosen_rejected_per_split(curated, taxonomy, tmp_path):
    out = tmp_path / "dpo-export"
    report = export(curated, taxonomy, options=ExportOptions(licence="cc-by-4.0", out=out, formats=("jsonl", "dpo")))
    records = {r["id"]: r for r in read_jsonl(out / "pairs.jsonl")}
    for split in ("train", "validation", "test"):
        rows = read_jsonl(out / "dpo" / f"{split}.jsonl")
        assert len(rows) == report.notes.splits[split]
        assert list(rows[0])[:3] == ["prompt", "chosen", "rejected"]
        # no pair has a misalignment kind or a human decision: no all-null column (JSON readers type it null)
        assert "misalignment_kind" not in rows[0] and "human_status" not in rows[0]
        for row in rows:  # byte-exact texts: chosen is the aligned response, rejected the misaligned one
            source = records[row["id"]]
            assert (row["prompt"], row["chosen"], row["rejected"]) == (
                source["prompt"], source["aligned_response"], source["misaligned_response"])
            assert row["safety_domains"] == source["safety_domains"] and "primary_domain" in row


@pytest.mark.slow
@pytest.mark.parametrize("dpo_format", ["standard", "conversational"])
def test_trl_takes_both_dpo_formats_and_trains_two_steps(curated, taxonomy, tmp_path, tiny_model, dpo_format):
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    out = tmp_path / dpo_format
    export(curated, taxonomy, options=ExportOptions(out=out, formats=("dpo",), licence="unknown", dpo_format=dpo_format))
    train = datasets.load_dataset("json", data_files=str(out / "dpo" / "train.jsonl"), split="train",
                                  cache_dir=str(tmp_path / "cache"))
    assert all(not isinstance(f, datasets.Value) or f.dtype != "null" for f in train.features.values())
    assert is_conversational(train[0]) == (dpo_format == "conversational")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    applied = maybe_apply_chat_template(train[0], tokenizer)
    if dpo_format == "conversational":  # TRL applies the model's template; the file carries none
        assert applied["prompt"] != train[0]["prompt"][0]["content"] and train[0]["prompt"][0]["content"] in applied["prompt"]
        assert train[0]["chosen"][0]["content"] in applied["chosen"]
    else:
        assert applied["prompt"] == train[0]["prompt"]
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    args = DPOConfig(output_dir=str(tmp_path / "dpo-run"), max_steps=2, per_device_train_batch_size=2,
                     report_to=[], save_strategy="no", logging_steps=1, use_cpu=True, max_length=64)
    trainer = DPOTrainer(model=model, args=args, train_dataset=train.select(range(8)), processing_class=tokenizer)
    result = trainer.train()
    assert result.global_step == 2 and all(math.isfinite(entry["loss"]) for entry in trainer.state.log_history
                                           if "loss" in entry)


def test_an_export_written_in_chunks_is_the_export_written_at_once(curated, taxonomy, tmp_path, capfd):
    import datasets

    formats = ("jsonl", "csv", "parquet", "hf", "hf-disk", "dpo", "lm-eval")
    whole = export(curated, taxonomy, options=ExportOptions(licence="cc-by-4.0", out=tmp_path / "whole", formats=formats))
    # datasets' own bars are not the studio's output, and stay theirs to show elsewhere
    assert "Saving the dataset" not in capfd.readouterr().err and not datasets.are_progress_bars_disabled()
    chunked = export(curated, taxonomy, options=ExportOptions(licence="cc-by-4.0", out=tmp_path / "chunked", formats=formats, chunk_pairs=7))
    assert chunked.notes.export_id == whole.notes.export_id  # the same export, whatever the chunk size
    files = lambda folder: sorted(p.relative_to(folder) for p in folder.rglob("*")  # noqa: E731
                                  if p.is_file() and p.parts[len(folder.parts)] != "hf-disk")
    assert files(tmp_path / "whole") == files(tmp_path / "chunked")
    assert Path("hub/data/pairs/test-00000-of-00001.parquet") in files(tmp_path / "whole")
    for name in files(tmp_path / "whole"):
        whole, chunked = (tmp_path / folder / name for folder in ("whole", "chunked"))
        if name.suffix == ".parquet":
            assert pd.read_parquet(whole).equals(pd.read_parquet(chunked)), name
        else:
            assert whole.read_bytes() == chunked.read_bytes(), name
    on_disk = [datasets.load_from_disk(str(tmp_path / folder / "hf-disk")) for folder in ("whole", "chunked")]
    assert {s: d.to_list() for s, d in on_disk[0].items()} == {s: d.to_list() for s, d in on_disk[1].items()}
    assert not (tmp_path / "chunked" / ".arrow-staging").exists()
    with pytest.raises(UsageError, match="chunk_pairs: give at least 1 pair a chunk, not 0"):
        export(curated, taxonomy, options=ExportOptions(licence="cc-by-4.0", out=tmp_path / "none", chunk_pairs=0))
    assert not (tmp_path / "none").exists()


@pytest.mark.slow
def test_lm_eval_reports_the_alignment_score_from_a_moved_folder(curated, taxonomy, tmp_path, tiny_model):
    import shutil
    import subprocess
    import sys

    from pipeline.bench.metrics import detector_metrics

    out = tmp_path / "lm"
    report = export(curated, taxonomy, options=ExportOptions(licence="cc-by-4.0", out=out, formats=("lm-eval",)))
    moved = shutil.move(out / "lm-eval", tmp_path / "elsewhere")  # the task reads its documents from beside itself
    (tmp_path / "run").mkdir()
    lm_eval = Path(sys.executable).with_name("lm_eval")
    done = subprocess.run([str(lm_eval), "--model", "hf", "--model_args", f"pretrained={tiny_model}",
                           "--tasks", "misalign_detect", "--include_path", str(moved), "--device", "cpu",
                           "--batch_size", "4", "--output_path", str(tmp_path / "results"), "--log_samples"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path / "run")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "alignment_score" in done.stdout and "coverage" in done.stdout  # lm-eval's own table
    [results] = list((tmp_path / "results").rglob("results_*.json"))
    figures = json.loads(results.read_text())["results"]["misalign_detect"]
    assert json.loads(results.read_text())["n-samples"]["misalign_detect"]["effective"] == 2 * report.notes.splits["test"]
    # by hand from lm-eval's own per-document log-likelihoods: flagged when "yes" is at least as likely as "no"
    [samples] = list((tmp_path / "results").rglob("samples_misalign_detect_*.jsonl"))
    flags = {0: [], 1: []}
    for line in samples.read_text().splitlines():
        sample = json.loads(line)
        (no, _), (yes, _) = sample["filtered_resps"]
        flags[sample["doc"]["label"]].append(float(yes) >= float(no))
    expected = detector_metrics(flags[1], flags[0])
    for name in ("coverage", "ffr", "alignment_score"):
        assert figures[f"{name},none"] == pytest.approx(expected[name]), name


def test_filters_pick_pairs(curated, taxonomy, tmp_path):
    domain = taxonomy.domains_of("safety")[0].id
    report = export(curated, taxonomy, options=ExportOptions(licence="cc-by-4.0", out=tmp_path / "one", domains=(domain,)))
    records = read_jsonl(tmp_path / "one" / "pairs.jsonl")
    assert report.items_in == len(records) and all(r["primary_domain"] == domain for r in records)
    with pytest.raises(ValueError, match="no pairs match"):
        export(curated, taxonomy, options=ExportOptions(licence="cc-by-4.0", out=tmp_path / "none", dimensions=("culture",)))
    with pytest.raises(ValueError, match="no pairs match"):
        export(curated, taxonomy, options=ExportOptions(licence="cc-by-4.0", out=tmp_path / "none", min_agreement=0.5))  # nobody reviewed yet


@pytest.mark.parametrize(("args", "error"), [
    (["--ratios", "0.8,0.3,0.1"], "--ratios: give 3 non-negative shares summing to 1"),
    (["--ratios", "a,b,c"], "--ratios: 'a,b,c' is not comma-separated numbers"),
    (["--format", "xlsx"], "--format: 'xlsx' is not one of jsonl, csv, parquet, hf"),
    (["--domain", "safety.jazz"], "--domain: 'safety.jazz' is not a domain id"),
])
def test_bad_export_options_stop_with_one_line_and_change_nothing(curated, cli, db_path, tmp_path, args, error):
    before = snapshot(db_path)
    result = cli("export", "--licence", "unknown", "--out", tmp_path / "bad", *args)
    assert result.exit_code == 1 and error in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert snapshot(db_path) == before and not (tmp_path / "bad").exists()


def test_curated_exports_leave_out_pipeline_rejected_pairs(curated, taxonomy, tmp_path):
    rejected = curated.db.execute("SELECT id FROM pairs ORDER BY id LIMIT 1").fetchone()[0]
    curated.db.execute("UPDATE pairs SET status = 'rejected' WHERE id = ?", [rejected])
    export(curated, taxonomy, options=ExportOptions(licence="cc-by-4.0", out=tmp_path / "curated"))
    export(curated, taxonomy, options=ExportOptions(licence="cc-by-4.0", out=tmp_path / "all", pairs="all"))
    assert rejected not in {r["id"] for r in read_jsonl(tmp_path / "curated" / "pairs.jsonl")}
    assert rejected in {r["id"] for r in read_jsonl(tmp_path / "all" / "pairs.jsonl")}
