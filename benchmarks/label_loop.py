"""A panel correcting labels, simulated: what each way of choosing prompts gains per label.

The released prompts' labels stand in for the annotators. A fixed fifth of the dedup clusters is held
out (never queued, never trained on) and scores every round. From the rest, a random seed of
``--seed-size`` prompts starts labelled; then ``--rounds`` rounds, each revealing the labels of
``--per-round`` more prompts chosen by a strategy, and refitting the learned labelling model
(``fit_label_model``, as ``label --engine trained``):

- margin / entropy: the prompts the current labelling model is least sure about, by
  ``pipeline.review.label_review.uncertainty``, a prompt counting by its least sure dimension (what
  ``review label-queue --by margin|entropy`` queues);
- random: prompts drawn at random.

After each fit: top-1 among real domains on the held-out prompts, overall and on their most confident
half (``pipeline.labelling.figures``, the definitions every labelling report uses). Prints the
curves as a table, how many labels margin and entropy need to reach random's final top-1, and the cost
(fits, seconds) of each strategy; writes the curves as a PNG chart.

    python benchmarks/label_loop.py [--limit N] [--seed-size 500] [--rounds 8] [--per-round 250]
        [--features both] [--png benchmarks/results/label_loop.png] [--json]
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.label import DEV_CSV, LABELS, released_prompts  # noqa: E402
from pipeline.review.label_review import uncertainty  # noqa: E402
from pipeline.stages.dedup import dedup  # noqa: E402
from pipeline.stages.ingest import ingest  # noqa: E402
from pipeline.labelling.figures import label_figures  # noqa: E402
from pipeline.labelling.model import fit_label_model  # noqa: E402
from pipeline.stages.label_trained import training_set  # noqa: E402
from pipeline.stages.options import DedupOptions, IngestOptions, LabelOptions  # noqa: E402
from review_store import Store  # noqa: E402
from taxonomy import DIMENSIONS, load_taxonomy  # noqa: E402

STRATEGIES = ("margin", "entropy", "random")
PNG = REPO / "benchmarks" / "results" / "label_loop.png"
SHARE_GOAL = 0.6  # margin or entropy should reach random's final top-1 with at most this share of its labels


def released_training_set(folder: Path, limit: int | None) -> dict:
    """The released prompts, deduplicated, as the learned labelling model's training set (texts, clusters, labels)."""
    taxonomy = load_taxonomy()
    with Store(folder / "loop.db") as store:
        ingest(store, taxonomy, options=IngestOptions(released_prompts(folder, limit), label_columns=LABELS))
        dedup(store, options=DedupOptions())
        return training_set(store, taxonomy, LabelOptions(engine="trained", train_on=(f"imported:{DEV_CSV.name}",),
                                                          semantic_types=False))


def held_out_split(groups: list, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(pool, test) indices: a fifth of the dedup clusters held out."""
    from sklearn.model_selection import GroupShuffleSplit

    return next(GroupShuffleSplit(1, test_size=0.2, random_state=seed).split(np.zeros(len(groups)),
                                                                           groups=np.asarray(groups, dtype=str)))


class Loop:
    """One strategy's rounds on shared data: the labelled prompts, a fit, its figures, the next choice."""

    def __init__(self, data: dict, features: np.ndarray | None, kind: str, classes: dict[str, list[str]],
                 test: np.ndarray, delta: float):
        self.data, self.features, self.kind, self.classes, self.test, self.delta = data, features, kind, classes, test, delta
        self.fits, self.fit_seconds = 0, 0.0

    def fit(self, labelled: np.ndarray):
        began = time.perf_counter()
        model = fit_label_model([self.data["texts"][i] for i in labelled],
                                {d: [v[i] for i in labelled] for d, v in self.data["labels"].items()},
                                [self.data["groups"][i] for i in labelled], self._features(labelled), self.kind)
        self.fits, self.fit_seconds = self.fits + 1, self.fit_seconds + time.perf_counter() - began
        return model

    def _features(self, rows: np.ndarray):
        return None if self.features is None else self.features[rows]

    def probabilities(self, model, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Per dimension, rows × the dimension's whole class list (classes the fit never saw at 0)."""
        x = model.featurize([self.data["texts"][i] for i in rows], self._features(rows))
        out = {}
        for dimension, classes in self.classes.items():
            full = np.zeros((len(rows), len(classes)))
            if dimension in model.dimensions:
                fitted = model.dimensions[dimension]
                full[:, [classes.index(c) for c in fitted.classes]] = fitted.probabilities(x)
            out[dimension] = full
        return out

    def figures(self, model) -> dict[str, dict]:
        """Top-1 among real domains on the held-out prompts with a label, overall and on the surer half."""
        probabilities, result = self.probabilities(model, self.test), {}
        for dimension, classes in self.classes.items():
            values = self.data["labels"][dimension]
            known = [j for j, i in enumerate(self.test) if values[i] is not None]
            f = label_figures([values[self.test[j]] for j in known], probabilities[dimension][known], classes,
                              self.delta)
            half = next(c for c in f["risk_coverage"] if c["coverage"] == 0.5)
            result[dimension] = {"top1_real": f["top1_real"], "top1_real_at_50": half["top1_real"], "n": f["real_n"]}
        return result

    def least_sure(self, model, candidates: np.ndarray, size: int, by: str) -> np.ndarray:
        probabilities = self.probabilities(model, candidates)
        worst = np.max([uncertainty(p, self.delta, by) for p in probabilities.values()], axis=0)
        return candidates[np.argsort(-worst, kind="stable")[:size]]


def run(data: dict, features: np.ndarray | None, kind: str, seed_size: int, rounds: int, per_round: int,
        seed: int = 0, delta: float = LabelOptions.delta) -> dict:
    """Every strategy's curve: per round, labels used and per dimension figures; and each strategy's cost."""
    taxonomy = load_taxonomy()
    classes = {d: [x.id for x in taxonomy.domains_of(d)] + ["none"] for d in DIMENSIONS if d in data["labels"]}
    pool, test = held_out_split(data["groups"], seed)
    start = np.random.default_rng(seed).choice(pool, size=min(seed_size, len(pool)), replace=False)
    curves, costs = {}, {}
    for strategy in STRATEGIES:
        loop, labelled, rng = Loop(data, features, kind, classes, test, delta), np.sort(start), np.random.default_rng(seed + 1)
        began, curve = time.perf_counter(), []
        for round_ in range(rounds + 1):
            model = loop.fit(labelled)
            curve.append({"round": round_, "labels": len(labelled), **loop.figures(model)})
            print(f"{strategy} round {round_}: {len(labelled)} labels, top-1 " + " / ".join(
                f"{curve[-1][d]['top1_real']:.3f}" for d in classes), file=sys.stderr, flush=True)
            candidates = np.setdiff1d(pool, labelled)
            if round_ == rounds or not len(candidates):
                break
            chosen = (rng.choice(candidates, size=min(per_round, len(candidates)), replace=False)
                      if strategy == "random" else loop.least_sure(model, candidates, per_round, strategy))
            labelled = np.sort(np.concatenate([labelled, chosen]))
        curves[strategy] = curve
        costs[strategy] = {"fits": loop.fits, "fit_seconds": round(loop.fit_seconds, 1),
                           "seconds": round(time.perf_counter() - began, 1)}
    return {"held_out_prompts": len(test), "pool_prompts": len(pool), "curves": curves, "costs": costs,
            "labels_to_reach_random": labels_to_reach_random(curves, list(classes))}


def labels_to_reach_random(curves: dict, dimensions: list[str]) -> dict:
    """Per active strategy and dimension: the labels it used when it first reached random's final top-1, as a
    share of random's final labels; "never" if it did not, "random gained nothing" where random's final
    top-1 is not above the seed's (there is nothing to reach).

    >>> curves = {"random": [{"labels": 10, "safety": {"top1_real": 0.4}}, {"labels": 20, "safety": {"top1_real": 0.5}}],
    ...           "margin": [{"labels": 10, "safety": {"top1_real": 0.4}}, {"labels": 20, "safety": {"top1_real": 0.6}}]}
    >>> labels_to_reach_random(curves, ["safety"])
    {'margin': {'safety': 1.0}}
    """
    seed, final = curves["random"][0], curves["random"][-1]
    reached = {}
    for strategy in (s for s in curves if s != "random"):
        reached[strategy] = {}
        for dimension in dimensions:
            target = final[dimension]["top1_real"]
            if not target > seed[dimension]["top1_real"]:
                reached[strategy][dimension] = "random gained nothing"
                continue
            first = next((point["labels"] for point in curves[strategy][1:] if point[dimension]["top1_real"] >= target),
                         None)
            reached[strategy][dimension] = "never" if first is None else round(first / final["labels"], 3)
    return reached


def chart(result: dict, path: Path, title: str) -> None:
    """Labels used → top-1 among real domains on the held-out prompts, a panel per dimension, a line per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dimensions = [d for d in DIMENSIONS if d in result["curves"]["random"][0]]
    figure, axes = plt.subplots(1, len(dimensions), figsize=(4.2 * len(dimensions), 3.6), sharex=True)
    for axis, dimension in zip(np.atleast_1d(axes), dimensions):
        for strategy, curve in result["curves"].items():
            axis.plot([p["labels"] for p in curve], [p[dimension]["top1_real"] for p in curve], marker="o",
                      markersize=3, label=strategy)
        n = result["curves"]["random"][0][dimension]["n"]
        axis.set_title(f"{dimension} (held-out n = {n})", fontsize=10)
        axis.set_xlabel("prompts labelled")
        axis.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("top-1 among real domains")
    handles, labels = np.atleast_1d(axes)[0].get_legend_handles_labels()
    figure.legend(handles, [f"prompts chosen by {label}" for label in labels], loc="lower center", ncol=len(labels),
                  fontsize=9, frameon=False)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout(rect=(0, 0.07, 1, 1))  # room for the legend below the panels, clear of every line
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N released prompts")
    parser.add_argument("--seed-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--per-round", type=int, default=250)
    parser.add_argument("--features", default="both", choices=("embeddings", "tfidf", "both"))
    parser.add_argument("--png", type=Path, default=PNG)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not DEV_CSV.is_file():
        sys.exit(f"skipped: {DEV_CSV} not found")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        data = released_training_set(Path(tmp), args.limit)
    features = None
    if args.features != "tfidf":
        from pipeline.engines.embed import EmbedEngine

        print(f"embedding {len(data['texts'])} prompts ...", file=sys.stderr, flush=True)
        features = EmbedEngine(batch_size=64).embed(data["texts"])
    result = run(data, features, args.features, args.seed_size, args.rounds, args.per_round)
    result["settings"] = vars(args) | {"png": str(args.png)}
    chart(result, args.png, f"A simulated panel: {args.per_round} prompts a round after a seed of {args.seed_size} "
                            f"({DEV_CSV.name}, {args.features})")
    if args.json:
        print(json.dumps(result, indent=2))
        return
    dimensions = [d for d in DIMENSIONS if d in result["curves"]["random"][0]]
    print(f"held out: {result['held_out_prompts']} prompts (a fifth of the dedup clusters); pool "
          f"{result['pool_prompts']}; top-1 among real domains on the held-out prompts (on their surer half)")
    print(f"{'strategy':9} {'round':>5} {'labels':>7} " + " ".join(f"{d:>15}" for d in dimensions))
    for strategy, curve in result["curves"].items():
        for p in curve:
            print(f"{strategy:9} {p['round']:>5} {p['labels']:>7} " + " ".join(
                f"{p[d]['top1_real']:7.3f} ({p[d]['top1_real_at_50']:.3f})" for d in dimensions))
    print(f"labels needed to reach random's final top-1, as a share of random's (goal <= {SHARE_GOAL} on two "
          "dimensions):")
    for strategy, shares in result["labels_to_reach_random"].items():
        print(f"  {strategy:8} " + ", ".join(f"{d} {s if isinstance(s, str) else f'{s:.2f}'}" for d, s in shares.items()))
    print("cost: " + "; ".join(f"{s} {c['fits']} fits, {c['fit_seconds']} s fitting, {c['seconds']} s in all"
                               for s, c in result["costs"].items()))
    print(f"chart: {args.png}")


if __name__ == "__main__":
    main()
