"""How a labeler's assignments agree with reference labels (e.g. the paper's, imported).

Per dimension, over prompts both have labelled and the reference does not mark Unknown: accuracy,
macro-F1 over the reference's classes (None included), and the most frequent confusions. When the
reference gives a prompt several domains (duplicated rows), a prediction matching any counts as
right. A multi-label prediction (mode independent) is reduced to its most probable domain. From
the labeler's stored distributions: top-1 among real domains
(on prompts whose reference has one, None set aside) and the expected calibration error.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from pipeline.stages.label_model import label_metrics
from review_store import Store
from taxonomy import DIMENSIONS, Taxonomy


def _by_prompt(store: Store, labeler: str) -> dict[tuple[str, str], list[tuple[float, str]]]:
    labels: dict = {}
    for prompt_id, dimension, domain, probability in store.assigned_labels(labeler):
        labels.setdefault((prompt_id, dimension), []).append((probability, domain))
    return labels


def label_agreement(store: Store, labeler: str, reference: str, taxonomy: Taxonomy) -> dict:
    """{dimension: {n, accuracy, macro_f1, predicted_none, reference_none, confusions}}."""
    ours, theirs = _by_prompt(store, labeler), _by_prompt(store, reference)
    name = {d.id: d.name for d in taxonomy.domains} | {"none": "None", "unknown": "Unknown"}
    report = {}
    for dimension in DIMENSIONS:
        truth, predicted, prompts = [], [], []
        for (prompt_id, dim), reference_labels in theirs.items():
            if dim != dimension or (prompt_id, dim) not in ours:
                continue
            allowed = {d for _, d in reference_labels}
            if allowed == {"unknown"}:
                continue
            guess = max(ours[(prompt_id, dim)])[1]
            truth.append(guess if guess in allowed else sorted(allowed - {"unknown"})[0])
            predicted.append(guess)
            prompts.append(prompt_id)
        if not truth:
            report[dimension] = {"n": 0}
            continue
        confusions = Counter((t, p) for t, p in zip(truth, predicted) if t != p).most_common(5)
        classes = [d.id for d in taxonomy.domains_of(dimension)] + ["none"]
        column = {c: i for i, c in enumerate(classes)}
        row = {p: i for i, p in enumerate(prompts)}
        probabilities = np.zeros((len(prompts), len(classes)))
        stored_ids, stored_domains, stored = store.label_distributions(labeler, dimension)
        found = [(row[p], i) for i, p in enumerate(stored_ids) if p in row]
        into = [(j, column[d]) for j, d in enumerate(stored_domains) if d in column]
        if found and into:
            rows, sources = map(list, zip(*found))
            for j, c in into:
                probabilities[rows, c] = stored[sources, j]
        calibrated = label_metrics(truth, probabilities, classes)
        report[dimension] = {
            "n": len(truth),
            "accuracy": round(accuracy_score(truth, predicted), 4),
            "macro_f1": round(f1_score(truth, predicted, labels=sorted(set(truth)), average="macro", zero_division=0), 4),
            "top1_real": round(calibrated["top1_real"], 4),
            "ece": round(calibrated["ece"], 4),
            "reference_none": round(truth.count("none") / len(truth), 4),
            "predicted_none": round(predicted.count("none") / len(truth), 4),
            "confusions": [{"reference": name.get(t, t), "predicted": name.get(p, p), "count": c}
                           for (t, p), c in confusions],
        }
    return report
