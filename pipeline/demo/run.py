"""The embedded demo: the whole loop on CPU, on data written for this project, into one store.

ingest → dedup → label (learned from the demo's own labels, cross-validated; and zero-shot by MiniLM,
measured against the demo's labels) → the demo's responses
imported as candidates → stage-1 rules → stage-2 judge (embedded) → pairs written by the real model
(SmolLM2-135M-Instruct, one prompt per misalignment kind) → review queues → example annotations by two example panels → benchmarks
with the CPU baselines → agreement → export. Every stage is the real one, so a second run on the
same store does nothing new. The embedded engines are for trying the studio, not for research.

Example (about 30 s on 2 cores)::

    result = run_demo(Path("demo.db"), echo=print)
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.review.agreement import agreement
from pipeline.bench.options import KEYWORD_DETECTOR, BenchOptions
from pipeline.engines.config import Config, EngineConfig, load_config
from pipeline.engines.models import fastest_backend, install_hint
from pipeline.export.options import ExportOptions
from pipeline.flow.run import run_stage
from pipeline.stages.label_agreement import label_agreement
from pipeline.stages.options import TRAINED, IngestOptions, LabelOptions
from pipeline.stages.pairs.run import PairOptions
from pipeline.stages.pairs.options import PairImportOptions
from pipeline.review.queues import QUEUES, QueueOptions, add_annotator, add_panel, item_id, submit
from review_store import Store, prompt_id, utc_now
from taxonomy import Taxonomy, load_taxonomy

DATA = Path(__file__).resolve().parent / "data"
ENGINE = "embedded"
REAL_MODEL = "smollm2"  # the shipped real model (misalign model install smollm2)
REAL_MODEL_PROMPTS = "real_model_prompts.jsonl"  # one prompt per misalignment kind, without responses
SOURCE = "demo"  # prompts' source name, and the imported labels' labeler is imported:demo
EXAMPLE_REASON = "example annotation shipped with the demo"
EXAMPLES_WRITTEN_AT = "2026-11-22T00:00:00+00:00"  # the example answers' submission time: a rerun rewrites nothing


@dataclass
class DemoResult:
    db: Path
    export_dir: Path


def _records(name: str) -> list[dict]:
    with open(DATA / name, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def real_model_records() -> list[dict]:
    """The prompts, one per misalignment kind, that the real model writes pairs for."""
    return _records(REAL_MODEL_PROMPTS)


def demo_records() -> list[dict]:
    """The demo's prompts with their aligned and misaligned responses, semantic type and domains."""
    return _records("pairs.jsonl")


def _import_file(store: Store, records: list[dict], folder: Path) -> Path:
    """The demo's responses as an import file, for the prompts dedup kept (removed ones get no pair)."""
    kept = store.kept_prompt_ids()
    path = folder / "demo-responses.jsonl"
    with open(path, "w", encoding="utf-8") as out:
        for record in records:
            if prompt_id(record["prompt"]) in kept:
                for slot in ("aligned", "misaligned"):
                    out.write(json.dumps({"prompt": record["prompt"], "slot": slot, "text": record[slot],
                                          "generator": "demo-author"}, ensure_ascii=False) + "\n")
    return path


def example_panels() -> dict:
    """The example panels and their annotators (with attributes) shipped with the demo."""
    return json.loads((DATA / "panels.json").read_text(encoding="utf-8"))


def add_example_panels(store: Store, shipped: dict) -> list[str]:
    """The shipped example panels and annotators into the store (annotators marked as examples)."""
    for panel in shipped["panels"]:
        add_panel(store, panel["name"], panel["description"], panel["min_submissions"])
    for person in shipped["annotators"]:
        attributes = {k: v for k, v in person.items() if k not in ("name", "panel")}
        add_annotator(store, person["name"], (person["panel"],), is_example=True, **attributes)
    return [panel["name"] for panel in shipped["panels"]]


def add_example_annotations(store: Store, records: list[dict], shipped: dict) -> int:
    """The shipped example answers, each on its panel's item for the pair (an audit item marked as an
    example where the pair was in none of that panel's queues); returns how many were recorded."""
    prompts = {r["id"]: prompt_id(r["prompt"]) for r in records}
    panel_of = {a["name"]: a["panel"] for a in shipped["annotators"]}
    pairs = {prompt: pair["id"] for prompt in set(prompts.values()) if (pair := store.pair_of(prompt))}
    items: dict = {}  # (panel, pair) -> the first queued item
    for item in store.review_items():
        items.setdefault((item["panel"], item["pair_id"]), item["id"])
    done = 0
    with open(DATA / "annotations.jsonl", encoding="utf-8") as lines:
        answers = [json.loads(line) for line in lines]
    for answer in answers:
        prompt = prompts[answer["record"]]
        if prompt not in pairs:
            continue  # dedup removed the prompt
        panel = panel_of[answer["annotator"]]
        item = items.get((panel, pairs[prompt]))
        if item is None:
            item = items[(panel, pairs[prompt])] = item_id("audit", panel, prompt)
            with store.transaction():
                store.add_review_items([{"id": item, "queue": "audit", "panel": panel, "prompt_id": prompt,
                                         "pair_id": pairs[prompt], "reason": EXAMPLE_REASON, "backend": None,
                                         "created_at": utc_now()}])
        fields = ("pair_valid", "aligned_acceptable", "misaligned_dimensions", "corrected_response", "comment")
        submit(store, item, answer["annotator"], {k: answer.get(k) for k in fields}, backend="demo",
               submitted_at=EXAMPLES_WRITTEN_AT, is_example=True)
        done += 1
    return done


def real_model_engine(config: Config) -> EngineConfig | None:
    """The engine that runs the real model in the demo: ``[engines.smollm2]`` of misalign.toml where it is
    defined (another backend is one setting away), else the fastest backend installed here
    (:func:`pipeline.engines.models.fastest_backend`: llama.cpp on the GGUF as it ships, else transformers);
    None when the model is not installed."""
    if REAL_MODEL in config.engines:
        return config.engines[REAL_MODEL]
    backend = fastest_backend(REAL_MODEL)
    if backend is None:
        return None
    options = {"device": "cpu"} if backend == "hf" else {}
    return EngineConfig(REAL_MODEL, backend, REAL_MODEL, options, sampling_given={"repetition_penalty": 1.1})


def generate_with_real_model(store: Store, taxonomy: Taxonomy, config: Config, echo: Callable[[str], None]) -> None:
    """Pairs for the demo's real-model prompts, one of each misalignment kind, written by SmolLM2-135M-Instruct
    (the shipped real model, on CPU) and judged by the embedded judge, a different model; skipped, with
    the command that installs it, where the model is not installed."""
    settings = real_model_engine(config)
    if settings is None:
        echo(f"4b. real model: skipped, SmolLM2 is not installed ({install_hint(REAL_MODEL)})")
        return
    with_model = config.with_engine(settings)
    records = [r for r in _records(REAL_MODEL_PROMPTS) if not store.pair_of(prompt_id(r["prompt"]))]
    if not records:
        return  # made by an earlier run
    options = PairOptions(generators=(REAL_MODEL,), judge=ENGINE, labeler=f"imported:{SOURCE}", k=1, rounds=0,
                          prompt_kinds={prompt_id(r["prompt"]): r["kind"] for r in records})
    echo(f"4b. real model: SmolLM2-135M-Instruct ({settings.backend} backend) writes a candidate per slot for one "
         "prompt of each misalignment kind, the embedded judge judges")
    report = run_stage("pairs", store, taxonomy, with_model, options)
    echo(f"4b. real model: {report.summary()}")


def run_demo(db: Path, echo: Callable[[str], None] = print, taxonomy: Taxonomy | None = None,
             export_dir: Path | None = None, config: Config | None = None, judge: str = ENGINE) -> DemoResult:
    """Run every stage of the loop on the demo data into the store at ``db``; prints each report.
    ``judge``: the engine (of ``config``) that judges the demo's candidates, to measure another judge
    against the example answers (benchmarks/real_model_judge.py)."""
    taxonomy = taxonomy or load_taxonomy()
    config = config or load_config(None)
    export_dir = export_dir or Path(db).resolve().parent / "demo-export"
    records, shipped = demo_records(), example_panels()
    with Store(db) as store, tempfile.TemporaryDirectory() as folder:
        # the demo's records leave a dimension empty when no domain of it applies: None, not unknown
        for name in ("pairs.jsonl", REAL_MODEL_PROMPTS):
            prompts = IngestOptions(DATA / name, source=SOURCE, label_columns={d: d for d in taxonomy.dimension_names},
                                    semantic_type_column="semantic_type", empty_label="none")
            echo(f"1. ingest {name}: " + run_stage("ingest", store, taxonomy, config, prompts).summary())
        echo("2. dedup: " + run_stage("dedup", store, taxonomy, config).summary())
        labelled = run_stage("label", store, taxonomy, config, LabelOptions(
            engine=TRAINED, train_on=(f"imported:{SOURCE}",), cross_validate=5))
        echo("3. label (learned from the demo's own labels): " + labelled.summary())
        for dimension, figures in labelled.notes.cross_validation.items():  # a semantic type has no None to set apart
            real = "" if dimension == "semantic_type" else (
                f", top-1 among real domains {figures['top1_real']:.2f} (n = {figures['real_n']})")
            echo(f"   5-fold cross-validation, {dimension.replace('_', ' ')}: accuracy {figures['accuracy']:.2f} "
                 f"(n = {figures['n']}){real}, held-out prompts only")
        zero_shot = run_stage("label", store, taxonomy, config, LabelOptions(engine=ENGINE))
        echo("3b. label (zero-shot: MiniLM against each domain's description, never shown the demo's labels): "
             + zero_shot.summary())
        for dimension, figures in label_agreement(store, zero_shot.params["labeler"], f"imported:{SOURCE}", taxonomy,
                                                  zero_shot.params["delta"]).items():
            echo(f"   against the demo's labels, {dimension}: top-1 among real domains {figures['top1_real']:.2f} "
                 f"(n = {figures['real_n']}), a domain assigned at δ to "
                 f"{1 - figures['at_delta']['predicted_none']:.0%} of {figures['n']} prompts")
        # pairs take their domains from the demo's own labels: 233 prompts, two or so per domain, are too few
        # for the learned labelling model to be sure of any (see its cross-validated figures)
        options = PairOptions(judge=judge, labeler=f"imported:{SOURCE}")
        pairs = run_stage("pairs_import", store, taxonomy, config,
                          PairImportOptions(_import_file(store, records, Path(folder)), pairs=options))
        echo(f"4. pairs (stage-1 rules, stage-2 {judge} judge, the demo's own domains): "
             + pairs.summary())
        generate_with_real_model(store, taxonomy, config, echo)
        panels = add_example_panels(store, shipped)
        for panel in panels:
            echo(f"5. review queues, {panel}: " + run_stage("review_queue", store, taxonomy, config, QueueOptions(panel, QUEUES)).summary())
        echo(f"6. example annotations (marked as examples): {add_example_annotations(store, records, shipped)} answers "
             f"by {len(store.annotators())} example annotators in {len(panels)} panels")
        for engine in (ENGINE, KEYWORD_DETECTOR):
            report = run_stage("bench", store, taxonomy, config, BenchOptions(engine=engine, pairs="all", bootstrap=200))
            echo(f"7. bench {engine}: " + report.summary())
        figures = agreement(store, samples=200)
        for panel, row in figures.get("panels", {}).items():
            echo(f"8. agreement, {panel}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()
                                                         if isinstance(v, float)))
        curated = ExportOptions(out=export_dir, formats=("jsonl", "csv", "parquet"), licence="unknown")
        echo("9. export (curated pairs): " + run_stage("export", store, taxonomy, config, curated).summary())
    return DemoResult(Path(db), export_dir)
