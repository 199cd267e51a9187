"""How well each way of pre-labelling agrees with the papers' labels on prompts it did not see:
5-fold cross-validation grouped by dedup cluster on the released prompts, per dimension.

Methods: the learned labelling model (logistic regression, temperature-calibrated) on MiniLM embeddings,
on TF-IDF n-grams, on both; an MLP head on the embeddings (scikit-learn, uncalibrated); and two
baselines that learn nothing: the embedded zero-shot labelling model and "prompt vs domain name" cosine
similarity. Figures: accuracy, macro-F1, top-1 among real domains (prompts whose reference has
one), ECE; train seconds (the whole cross-validation) and, for the chosen method, end-to-end
labelling speed (embeddings, prediction, store writes) on prompts it has not seen (fitted on the
first 60% of the rows, labelling the other 40%).

    python benchmarks/label_quality.py [--json] [--limit N] [--methods embeddings,tfidf,both,mlp]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.label import DEV_CSV, LABELS, released_prompts  # noqa: E402
from pipeline.engines.config import load_config  # noqa: E402
from pipeline.engines.embed import EmbedEngine  # noqa: E402
from pipeline.stages.dedup import dedup  # noqa: E402
from pipeline.stages.ingest import ingest  # noqa: E402
from pipeline.stages.label import label  # noqa: E402
from pipeline.labelling.figures import label_figures, label_set  # noqa: E402
from pipeline.labelling.model import cross_validated  # noqa: E402
from pipeline.stages.label_trained import training_set  # noqa: E402
from pipeline.stages.options import DedupOptions, IngestOptions, LabelOptions  # noqa: E402
from review_store import Store  # noqa: E402
from taxonomy import DIMENSIONS, load_taxonomy  # noqa: E402

DELTA = LabelOptions.delta
GOALS = {"safety": 0.65, "value": 0.45, "culture": 0.50}


def mlp_cross_validated(data: dict, features: np.ndarray, k: int) -> dict:
    """An MLP head on the embeddings, out-of-fold, its own (uncalibrated) probabilities."""
    from sklearn.model_selection import GroupKFold
    from sklearn.neural_network import MLPClassifier

    groups = np.unique(np.asarray(data["groups"], dtype=str), return_inverse=True)[1]
    results = {}
    for dimension, values in data["labels"].items():
        known = np.flatnonzero([v is not None for v in values])
        y = np.array([label_set(values[i])[0] for i in known], dtype=object)  # a prompt's first domain
        classes = sorted({c for i in known for c in label_set(values[i])})
        out = np.zeros((len(known), len(classes)))
        for train, test in GroupKFold(k).split(known, groups=groups[known]):
            mlp = MLPClassifier(hidden_layer_sizes=(256,), early_stopping=True, max_iter=200, random_state=0)
            mlp.fit(features[known[train]], y[train])
            out[np.ix_(test, [classes.index(c) for c in mlp.classes_])] = mlp.predict_proba(features[known[test]])
        results[dimension] = label_figures([values[i] for i in known], out, classes, DELTA)
    return results


def name_similarity(data: dict, features: np.ndarray, taxonomy, embedder: EmbedEngine) -> dict:
    """Cosine similarity of each prompt with each domain's name (softmax at temperature 0.05); None never chosen."""
    results = {}
    for dimension in DIMENSIONS:
        values = data["labels"][dimension]
        known = np.flatnonzero([v is not None for v in values])
        domains = taxonomy.domains_of(dimension)
        scores = features[known] @ embedder.embed([d.name for d in domains]).T
        probabilities = np.exp((scores - scores.max(axis=1, keepdims=True)) / 0.05)
        probabilities = np.hstack([probabilities / probabilities.sum(axis=1, keepdims=True), np.zeros((len(known), 1))])
        results[dimension] = label_figures([values[i] for i in known], probabilities, [d.id for d in domains] + ["none"],
                                           DELTA)
    return results


def zero_shot(store: Store, taxonomy, data: dict) -> dict:
    """The embedded zero-shot labelling model's stored probabilities against the reference."""
    report = label(store, taxonomy, load_config(), LabelOptions(engine="embedded", semantic_types=False))
    results = {}
    for dimension in DIMENSIONS:
        classes = [d.id for d in taxonomy.domains_of(dimension)] + ["none"]
        prompt_ids, domains, probabilities = store.label_distributions(report.params["labeler"], dimension)
        table = pd.DataFrame(probabilities, index=prompt_ids, columns=domains)
        table = table.reindex(index=data["ids"], columns=classes, fill_value=0.0)
        values = data["labels"][dimension]
        known = [i for i, v in enumerate(values) if v is not None]
        results[dimension] = label_figures([values[i] for i in known], table.to_numpy()[known], classes, DELTA)
    return results, report.notes.prompts_per_s


def unseen_labelling_speed(folder: Path, source: Path, train_share: float = 0.6) -> float:
    """The learned labelling model's end-to-end prompts/s (embeddings, prediction, store writes) on prompts
    it has not seen: fitted on the first ``train_share`` of the rows, then labelling the rest, ingested
    afterwards (a fit stores its training prompts' vectors, which labelling them would only read back)."""
    rows = pd.read_csv(source, dtype=str, keep_default_na=False)
    cut = int(len(rows) * train_share)
    rows.iloc[:cut].to_csv(folder / "train.csv", index=False)
    rows.iloc[cut:][[IngestOptions().text_column]].to_csv(folder / "unseen.csv", index=False)
    taxonomy, config = load_taxonomy(), load_config()
    options = LabelOptions(engine="trained", train_on=("imported:train.csv",), semantic_types=False,
                           labeler="trained:speed")
    with Store(folder / "speed.db") as store:
        ingest(store, taxonomy, options=IngestOptions(folder / "train.csv", label_columns=LABELS))
        label(store, taxonomy, config, options)  # fits, labels the training prompts
        ingest(store, taxonomy, options=IngestOptions(folder / "unseen.csv"))
        report = label(store, taxonomy, config, options)  # the same model: labels only the unseen prompts
    return report.notes.labelling_prompts_per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--limit", type=int, default=None, help="only the first N rows of the released prompts")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--methods", default="embeddings,tfidf,both,mlp")
    args = parser.parse_args()
    if not DEV_CSV.is_file():
        sys.exit(f"skipped: {DEV_CSV} not found")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    taxonomy = load_taxonomy()
    rows, speed = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        source = released_prompts(Path(tmp), args.limit)
        with Store(Path(tmp) / "quality.db") as store:
            ingest(store, taxonomy, options=IngestOptions(source, label_columns=LABELS))
            dedup(store, options=DedupOptions())
            reference = f"imported:{DEV_CSV.name}"
            data = training_set(store, taxonomy, LabelOptions(engine="trained", train_on=(reference,),
                                                              semantic_types=False))
            embedder = EmbedEngine(batch_size=64)
            began = time.perf_counter()
            features = embedder.embed(data["texts"])
            speed["embed_prompts_per_s"] = round(len(data["texts"]) / (time.perf_counter() - began), 1)
            for method in args.methods.split(","):
                began = time.perf_counter()
                figures = mlp_cross_validated(data, features, args.folds) if method == "mlp" else \
                    cross_validated(data["texts"], data["labels"], data["groups"], features, args.folds, method,
                                    delta=DELTA)
                seconds = time.perf_counter() - began
                rows += [{"method": method, "dimension": d, **f, "cv_seconds": round(seconds, 1)} for d, f in figures.items()]
            rows += [{"method": "name similarity", "dimension": d, **f, "cv_seconds": 0.0}
                     for d, f in name_similarity(data, features, taxonomy, embedder).items()]
            figures, speed["zero_shot_prompts_per_s"] = zero_shot(store, taxonomy, data)
            rows += [{"method": "zero-shot embed", "dimension": d, **f, "cv_seconds": 0.0} for d, f in figures.items()]
        speed["trained_labelling_prompts_per_s"] = unseen_labelling_speed(Path(tmp), source)
    if args.json:
        print(json.dumps({"rows": rows, "speed": speed, "goals_top1_real": GOALS}, indent=2))
        return
    print(f"{args.folds}-fold cross-validation grouped by dedup cluster, {DEV_CSV.name}"
          f"{f' (first {args.limit})' if args.limit else ''}; top-1 goals {GOALS}, ECE <= 0.05")
    print(f"figures of pipeline/labelling/figures.py; at δ = {DELTA}; top-1 @50%: on the most confident half")
    print(f"{'':27} {'on the argmax (None included)':^51} | {'at δ (the labels stored)':^38} |")
    print(f"{'method':16} {'dimension':10} {'accuracy':>8} {'macro-F1':>8} {'top-1 real':>10} {'None P':>6} "
          f"{'None R':>6} {'ECE':>6} | {'acc':>6} {'None P':>6} {'None R':>6} {'None%':>6} {'ref %':>6} | "
          f"{'top-1 @50%':>10} {'AURC':>6} {'CV s':>7}")
    for r in rows:
        half, d = next(c for c in r["risk_coverage"] if c["coverage"] == 0.5), r["at_delta"]
        print(f"{r['method']:16} {r['dimension']:10} {r['accuracy']:8.3f} {r['macro_f1']:8.3f} {r['top1_real']:10.3f} "
              f"{r['none_precision']:6.3f} {r['none_recall']:6.3f} {r['ece']:6.3f} | {d['accuracy']:6.3f} "
              f"{d['none_precision']:6.3f} {d['none_recall']:6.3f} {d['predicted_none']:6.1%} {r['reference_none']:6.1%} | "
              f"{half['top1_real']:10.3f} {r['aurc']:6.3f} {r['cv_seconds']:7.1f}")
    print("None%: the share of prompts labelled None at δ; ref %: the share whose reference says None")
    print(f"speed (prompts/s, 2 cores): {speed}")


if __name__ == "__main__":
    main()
