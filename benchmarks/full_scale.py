"""The whole CPU loop on one store at SaVaCu's size (382,424 prompts), stage by stage.

The prompts are built reproducibly from the released prompts in ``../shared/data/``: the released
prompts first, then (so ``--size`` can exceed the 10k released ones) pairs of them joined with a
templated opening and closing, which are not near-duplicates of either; a known share are planted
near-duplicates of earlier ones (one word changed),
and a known share keep the released labels (the rest are unlabelled). Each prompt gets a synthetic
aligned and misaligned response, templated around its first and last words (so responses are as
distinct as the prompts). Then: ingest → label (the learned labelling model, trained on the
labelled share) → dedup → import the responses as pairs (stage-1 rules, embedded judge) → bench
with the CPU baselines → export (every format) → the app pages' store reads. Per stage: wall time,
items/s, texts it embedded (not read back from the store), its own peak RSS, store size after; the
slowest stage is named.

    python benchmarks/full_scale.py [--size 382424] [--stages ingest,dedup] [--json] [--keep DIR]

``--stages`` runs a subset (ingest always runs first; bench and export need pairs, the app reads need
bench), so the cheap stages can be measured at 382k without the two hours of MiniLM.

Goals (idle 2-core machine): the whole loop at 382k under 30 minutes, peak RSS under 6 GB, store
under 3 GB, and each stage's items/s at 382k within 20% of its rate at 38k.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.app import page_reads  # noqa: E402
from benchmarks.label import DEV_CSV, LABELS  # noqa: E402
from pipeline.bench.options import BenchOptions  # noqa: E402
from pipeline.engines.config import load_config  # noqa: E402
from pipeline.export.options import FORMATS  # noqa: E402
from pipeline.export.options import ExportOptions  # noqa: E402
from pipeline.flow.run import run_stage  # noqa: E402
from pipeline.stages.options import IngestOptions, LabelOptions  # noqa: E402
from pipeline.stages.pairs.options import PairImportOptions  # noqa: E402
from pipeline.stages.pairs.run import PairOptions  # noqa: E402
from review_store import Store  # noqa: E402
from taxonomy import load_taxonomy  # noqa: E402

SAVACU_SIZE = 382_424
GOALS = {"minutes": 30, "peak_rss_gib": 6, "store_gib": 3}
LOOP_STEPS = ("ingest", "label", "dedup", "pairs", "bench", "export", "app")
NEEDS = {"bench": "pairs", "export": "pairs", "app": "bench"}
OPENINGS = ("", "Quick question: ", "I need advice. ", "Honestly, ", "Asking for a friend: ", "Please help. ",
            "Be straight with me: ", "For a class project, ", "My family argues about this. ", "Serious question: ")
CLOSINGS = ("", " Thanks.", " What do you think?", " Be brief.", " Explain why.", " Any tips?", " Be honest.",
            " I'm curious.", " It matters to me.", " Please answer carefully.")
ALIGNED = ("I'd approach this with care: {gist} deserves an honest, safe and respectful answer. Consider the people "
           "involved, check reliable sources, and ask someone you trust if unsure.")
MISALIGNED = ("Just do whatever gets you what you want with {gist}; rules and other people's feelings do not matter "
              "and nobody will check.")


def build_inputs(folder: Path, size: int, planted_share: float = 0.05, labelled_share: float = 0.2,
                 seed: int = 0) -> dict:
    """The prompts CSV (labels for the labelled share) and the responses JSONL; what was planted."""
    rng = np.random.default_rng(seed)
    released = pd.read_csv(DEV_CSV, dtype=str, keep_default_na=False)
    n = len(released)
    planted = int(size * planted_share)
    originals = size - planted
    rows = []
    for i in range(originals):
        base = released.iloc[i % n]
        variant = i // n
        text = base["prompt"]
        if variant:  # past the released prompts: two of them joined, so the result is not a near-duplicate of either
            other = released.iloc[(i * 7919 + variant) % n]["prompt"]
            text = (OPENINGS[variant % len(OPENINGS)] + text + " Also, " + other[:1].lower() + other[1:]
                    + CLOSINGS[(variant // len(OPENINGS)) % len(CLOSINGS)])
        labelled = rng.random() < labelled_share
        rows.append({"prompt": text, **{column: base[column] if labelled else "" for column in LABELS.values()}})
    planted_pairs = []
    for j in rng.choice(originals, size=planted, replace=False):  # one word changed: a near-duplicate
        words = rows[j]["prompt"].split(" ")
        k = int(rng.integers(len(words)))
        words[k] = words[k][:-1] if words[k].endswith("s") else words[k] + "s"  # never the same text again
        rows.append({"prompt": " ".join(words), **{column: "" for column in LABELS.values()}})
        planted_pairs.append((rows[j]["prompt"], rows[-1]["prompt"]))
    prompts = folder / "prompts.csv"
    pd.DataFrame(rows).to_csv(prompts, index=False)
    responses = folder / "responses.jsonl"
    with responses.open("w", encoding="utf-8") as f:
        for row in rows:
            gist = _gist(row["prompt"])
            for slot, template in (("aligned", ALIGNED), ("misaligned", MISALIGNED)):
                f.write(json.dumps({"prompt": row["prompt"], "slot": slot, "text": template.format(gist=gist),
                                    "generator": "templated"}) + "\n")
    return {"prompts": prompts, "responses": responses, "size": len(rows), "planted": planted,
            "planted_pairs": planted_pairs,
            "labelled": sum(bool(r["safety_name"] or r["values_name"] or r["cultural_name"]) for r in rows)}


def _gist(prompt: str) -> str:
    """The prompt's first and last six words: distinct per prompt (99.9% at 382k), as generated responses
    are, so no stage gains from meeting a response text twice.

    >>> _gist("one two three four five six seven eight nine ten eleven twelve thirteen?")
    'one two three four five six ... eight nine ten eleven twelve thirteen'
    """
    words = prompt.split()
    kept = words[:6] if len(words) <= 12 else [*words[:6], "...", *words[-6:]]
    return " ".join(kept).rstrip("?.,!")


def peak_rss_gib() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def reset_stage_peak() -> None:
    """Start a new high-water mark of resident memory (Linux: ``/proc/self/clear_refs``), so each stage's
    own peak is read, not the largest so far."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def stage_peak_gib() -> float:
    """Resident memory's high-water mark since :func:`reset_stage_peak` (``VmHWM``), else the peak so far."""
    try:
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 2 ** 20
    except (OSError, StopIteration):
        return peak_rss_gib()


def chosen_stages(names: str) -> tuple[str, ...]:
    """The stages named in ``--stages``, in loop order, with ingest; one line naming the problem otherwise."""
    chosen = {name.strip() for name in names.split(",") if name.strip()}
    if unknown := sorted(chosen - set(LOOP_STEPS)):
        raise SystemExit(f"--stages: unknown stage {', '.join(unknown)} (stages: {', '.join(LOOP_STEPS)})")
    chosen.add("ingest")
    for stage, needed in NEEDS.items():
        if stage in chosen and needed not in chosen:
            raise SystemExit(f"--stages: {stage} needs {needed}")
    return tuple(s for s in LOOP_STEPS if s in chosen)


def run_loop(folder: Path, size: int, stages_run: tuple[str, ...] = LOOP_STEPS) -> dict:
    """The stages on one store; per stage: seconds, items, items/s, its peak RSS, store bytes after."""
    taxonomy, config = load_taxonomy(), load_config(None)
    began = time.perf_counter()
    inputs = build_inputs(folder, size)
    stages = [{"stage": "build inputs", "seconds": time.perf_counter() - began, "items": inputs["size"]}]
    path = folder / "full.db"
    source = f"imported:{inputs['prompts'].name}"

    def timed(name: str, work) -> object:
        vectors = store.db["text_vectors"].count
        reset_stage_peak()
        began = time.perf_counter()
        result = work()
        items = result[1] if isinstance(result, tuple) else getattr(result, "items_in", 0)
        stages.append({"stage": name, "seconds": time.perf_counter() - began, "items": items,
                       "texts_embedded": store.db["text_vectors"].count - vectors,
                       "peak_rss_gib": stage_peak_gib(), "store_mib": path.stat().st_size / 2 ** 20})
        return result

    def judged_by(report):
        return report, report.notes.judged

    with Store(path) as store:
        def stage(name: str, options=None):
            return lambda: run_stage(name, store, taxonomy, config, options)

        timed("ingest", stage("ingest", IngestOptions(inputs["prompts"], label_columns=LABELS)))
        if "label" in stages_run:
            timed("label (learned)", stage("label", LabelOptions(engine="trained", train_on=(source,))))
        removed = None
        if "dedup" in stages_run:
            report = timed("dedup", stage("dedup"))
            removed = report.items_in - report.kept
        if "pairs" in stages_run:
            timed("pairs (rules, embedded judge)", stage("pairs_import", PairImportOptions(
                inputs["responses"], pairs=PairOptions(labeler=source, judge_may_be_labeller=True))))
        groups = []
        for engine in ("keyword-refusal", "embedded") if "bench" in stages_run else ():
            bench = stage("bench", BenchOptions(engine=engine, runs=1, pairs="all", bootstrap=200))
            # items: pairs judged; its figures computed as it ends
            report, _ = timed(f"bench {engine}", lambda bench=bench: judged_by(bench()))
            groups.append(report.notes.group_id)
        if "export" in stages_run:
            timed("export (all formats)", stage("export", ExportOptions(
                out=folder / "export", formats=FORMATS, pairs="all", licence="unknown")))
        if "app" in stages_run:
            domain = taxonomy.domains_of("safety")[0].id
            reads = page_reads(store, domain, groups[-1], source)  # the labels pairs were made from
            timed("app page reads", lambda: ([read() for read in reads.values()], len(reads)))
    for s in stages:
        s["items_per_s"] = s["items"] / s["seconds"] if s["seconds"] and s["items"] else None
    return {"size": inputs["size"], "planted_near_duplicates": inputs["planted"],
            "planted_pairs": inputs["planted_pairs"], "dedup_removed": removed,
            "labelled": inputs["labelled"], "stages": stages,
            "total_minutes": sum(s["seconds"] for s in stages) / 60,
            # each stage restarted the high-water mark (the process's own figure with it): the largest of theirs
            "peak_rss_gib": max(s.get("peak_rss_gib", 0.0) for s in stages),
            "store_gib": path.stat().st_size / 2 ** 30,
            "bottleneck": max(stages, key=lambda s: s["seconds"])["stage"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=SAVACU_SIZE)
    parser.add_argument("--stages", default=",".join(LOOP_STEPS), help=f"comma-separated, of: {', '.join(LOOP_STEPS)}")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the store and files in this folder")
    args = parser.parse_args()
    stages_run = chosen_stages(args.stages)
    if not DEV_CSV.is_file():
        sys.exit(f"skipped: {DEV_CSV} not found")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="full-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        result = run_loop(folder, args.size, stages_run)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "planted_pairs"}, indent=2))
        return
    removed = "not run" if result["dedup_removed"] is None else f"removed {result['dedup_removed']:,}"
    print(f"{result['size']:,} prompts ({result['labelled']:,} labelled, {result['planted_near_duplicates']:,} planted "
          f"near-duplicates; dedup {removed}; stages: {', '.join(stages_run)})")
    print(f"{'stage':32} {'seconds':>9} {'items':>9} {'items/s':>9} {'texts embedded':>15} {'peak RSS GiB':>13} "
          f"{'store MiB':>10}")
    for s in result["stages"]:
        rate = f"{s['items_per_s']:9.1f}" if s["items_per_s"] else f"{'':>9}"
        print(f"{s['stage']:32} {s['seconds']:9.1f} {s['items']:9,} {rate} {s.get('texts_embedded', 0):15,} "
              f"{s.get('peak_rss_gib', 0):13.2f} {s.get('store_mib', 0):10.0f}")
    print(f"total {result['total_minutes']:.1f} min (goal < {GOALS['minutes']}), peak RSS {result['peak_rss_gib']:.2f} GiB "
          f"(goal < {GOALS['peak_rss_gib']}), store {result['store_gib']:.2f} GiB (goal < {GOALS['store_gib']}); "
          f"bottleneck: {result['bottleneck']}")


if __name__ == "__main__":
    main()
