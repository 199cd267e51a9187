"""The labelling figures, defined once, for ``label --cross-validate``, ``label --evaluate-against``,
``benchmarks/label_quality.py`` and the demo.

Per dimension, over prompts with a reference label. A reference may give a prompt several domains
(duplicated rows in a released set): a prediction of any of them is right.

- **On the argmax** (the most probable class, None included): accuracy, macro-F1 over the reference's
  classes, None precision and recall, the share predicted None, and the top-label expected calibration
  error (ECE, 15 equal-width bins; Guo et al. 2017).
- **Top-1 among real domains**: on prompts whose reference names a real domain, whether the most
  probable real domain (None set aside) is one of them.
- **At δ** (the labels the labelling model stores): a prompt's label is its most probable real domain when
  that reaches δ, else None; accuracy, macro-F1, None precision and recall, the share labelled None.
- **Risk–coverage** (selective labelling): on the most confident 25 / 50 / 75 / 100% of prompts,
  accuracy, with prompts ordered by the argmax's probability, and top-1 among real domains, with the
  prompts whose reference names a real domain ordered by the most probable real domain's probability
  (each prediction ranked by its own confidence). AURC is the mean, over k = 1..n, of the error on the
  k most confident (Geifman and El-Yaniv, 2017), for each of the two: 0 when every mistake is less
  confident than every right answer.

>>> figures = label_figures(["x", "none"], np.array([[0.2, 0.8], [0.6, 0.4]]), ["none", "x"], delta=0.5)
>>> figures["accuracy"], figures["top1_real"], figures["at_delta"]["accuracy"], figures["aurc"]
(1.0, 1.0, 1.0, 0.0)
"""

from __future__ import annotations

import math

import numpy as np

# A reference label is a class, or a tuple of classes when the reference gives a prompt several domains
# (a fifth of the released safety labels): a prediction of any of them is right, and fitting weighs
# each of a prompt's k domains 1/k.
Label = str | tuple[str, ...]

COVERAGES = (0.25, 0.5, 0.75, 1.0)


def label_set(label: Label) -> tuple[str, ...]:
    """A reference label as the tuple of classes that count as right.

    >>> label_set("safety.theft"), label_set(("safety.fraud", "safety.theft"))
    (('safety.theft',), ('safety.fraud', 'safety.theft'))
    """
    return (label,) if isinstance(label, str) else tuple(label)


def membership(labels: list[Label], classes: list[str]) -> np.ndarray:
    """Rows × classes, True where the class is (one of) the row's reference label.

    >>> membership(["b", ("a", "c")], ["a", "b", "c"]).astype(int).tolist()
    [[0, 1, 0], [1, 0, 1]]
    """
    column = {c: i for i, c in enumerate(classes)}
    matrix = np.zeros((len(labels), len(classes)), dtype=bool)
    for row, label in enumerate(labels):
        matrix[row, [column[c] for c in label_set(label) if c in column]] = True
    return matrix


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE (Guo et al. 2017): over equal-width confidence bins, the share-weighted gap
    between accuracy and mean confidence. ``labels``: each row's class index, or a boolean rows ×
    classes matrix of the classes that count as right.

    >>> p = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    >>> round(expected_calibration_error(p, np.array([0, 1, 0, 0])), 3)  # |0.5-0.9|/2 + |1-0.6|/2
    0.4
    """
    predicted = probabilities.argmax(axis=1)
    right = labels[np.arange(len(labels)), predicted] if np.ndim(labels) == 2 else predicted == labels
    confidence = probabilities.max(axis=1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(right[inside].mean() - confidence[inside].mean())
    return float(total)


def _none_aside(probabilities: np.ndarray, none: int | None) -> np.ndarray:
    """The probabilities with None's column below every real domain's, so argmax and max are among real domains."""
    real = probabilities.copy()
    if none is not None:
        real[:, none] = -1.0
    return real


def at_delta(probabilities: np.ndarray, classes: list[str], delta: float) -> np.ndarray:
    """Each row's label at δ as a class index: its most probable real domain if that reaches δ, else None.

    >>> at_delta(np.array([[0.3, 0.7, 0.0], [0.5, 0.3, 0.2]]), ["none", "x", "y"], 0.5).tolist()
    [1, 0]
    """
    none = classes.index("none") if "none" in classes else None
    real = _none_aside(probabilities, none)
    best = real.argmax(axis=1)
    if none is None:  # nothing to fall back to: every row keeps its most probable class
        return best
    return np.where(real[np.arange(len(best)), best] >= delta, best, none)


def risk_coverage(right: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, float]:
    """The order that puts the most confident first (ties: as given), and AURC, the mean error of the k
    most confident over k = 1..n.

    >>> order, aurc = risk_coverage(np.array([True, False, True]), np.array([0.9, 0.8, 0.7]))
    >>> order.tolist(), round(aurc, 4)  # errors 0, 1/2, 1/3 on the top 1, 2, 3
    ([0, 1, 2], 0.2778)
    """
    order = np.argsort(-confidence, kind="stable")
    errors = np.cumsum(~right[order]) / np.arange(1, len(order) + 1)
    return order, float(errors.mean()) if len(order) else math.nan


def _decisions(right_classes: np.ndarray, predicted: np.ndarray, none: int | None) -> dict:
    """Accuracy, macro-F1, None precision / recall and the share predicted None of one decision per row."""
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    rows = np.arange(len(predicted))
    first = np.where(right_classes.any(axis=1), right_classes.argmax(axis=1), -1)
    truth = np.where(right_classes[rows, predicted], predicted, first)  # what each row is scored against
    is_none, says_none = truth == none, predicted == none
    return {"accuracy": float(accuracy_score(truth, predicted)),
            "macro_f1": float(f1_score(truth, predicted, average="macro", labels=sorted(set(truth.tolist())),
                                       zero_division=0)),
            "none_precision": float(precision_score(is_none, says_none, zero_division=0)),
            "none_recall": float(recall_score(is_none, says_none, zero_division=0)),
            "predicted_none": float(says_none.mean())}


def label_figures(reference: list[Label], probabilities: np.ndarray, classes: list[str],
                  delta: float | None = None) -> dict:
    """Every figure of the module's definitions for one dimension (``at_delta`` only with ``delta``)."""
    right_classes = membership(reference, classes)
    predicted = probabilities.argmax(axis=1)
    rows = np.arange(len(predicted))
    none = classes.index("none") if "none" in classes else None
    real_classes = right_classes.copy()
    if none is not None:
        real_classes[:, none] = False
    without_none = _none_aside(probabilities, none)
    real = real_classes.any(axis=1)
    top1 = right_classes[rows, without_none.argmax(axis=1)]
    right = right_classes[rows, predicted]
    figures = {"n": len(predicted), **_decisions(right_classes, predicted, none),
               "reference_none": float((right_classes[:, none] & ~real).mean()) if none is not None else 0.0,
               "top1_real": float(top1[real].mean()) if real.any() else math.nan, "real_n": int(real.sum()),
               "ece": expected_calibration_error(probabilities, right_classes)}
    if delta is not None:
        figures["at_delta"] = {"delta": delta, **_decisions(right_classes, at_delta(probabilities, classes, delta),
                                                            none)}
    order, figures["aurc"] = risk_coverage(right, probabilities.max(axis=1))
    real_rows = np.flatnonzero(real)
    real_order, figures["aurc_top1_real"] = risk_coverage(top1[real_rows], without_none.max(axis=1)[real_rows])
    figures["risk_coverage"] = []
    for coverage in COVERAGES:
        chosen = order[:math.ceil(coverage * len(order))]
        chosen_real = real_rows[real_order[:math.ceil(coverage * len(real_rows))]]
        figures["risk_coverage"].append({
            "coverage": coverage, "n": len(chosen), "accuracy": float(right[chosen].mean()) if len(chosen) else math.nan,
            "real_n": len(chosen_real), "top1_real": float(top1[chosen_real].mean()) if len(chosen_real) else math.nan})
    return figures


def _number(value: float) -> str:
    return "   n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:6.3f}"


def figure_lines(figures: dict[str, dict]) -> list[str]:
    """The figures of every dimension as the lines a report prints: one table on the argmax and at δ,
    one of risk–coverage."""
    delta = next((f["at_delta"]["delta"] for f in figures.values() if "at_delta" in f), None)
    lines = [f"  {'':14} {'':>6} {'on the argmax (None included)':^44}"
             + (f"   {f'at δ = {delta:g} (the stored labels)':^43}" if delta is not None else ""),
             f"  {'dimension':14} {'n':>6} {'acc':>6} {'mF1':>6} {'top-1':>6} {'(n)':>6} {'NoneP':>6} {'NoneR':>6} {'ECE':>6}"
             + (f"   {'acc':>6} {'mF1':>6} {'NoneP':>6} {'NoneR':>6} {'None%':>6} {'ref%':>6}" if delta is not None else "")]
    for dimension, f in figures.items():
        if not f.get("n"):
            lines.append(f"  {dimension:14} {0:>6}  no prompts with both a label and a reference")
            continue
        real_n = f"({f['real_n']})"
        line = (f"  {dimension:14} {f['n']:>6} {_number(f['accuracy'])} {_number(f['macro_f1'])} "
                f"{_number(f['top1_real'])} {real_n:>6} {_number(f['none_precision'])} "
                f"{_number(f['none_recall'])} {_number(f['ece'])}")
        if "at_delta" in f:
            d = f["at_delta"]
            line += (f"   {_number(d['accuracy'])} {_number(d['macro_f1'])} {_number(d['none_precision'])} "
                     f"{_number(d['none_recall'])} {_number(d['predicted_none'])} {_number(f['reference_none'])}")
        lines.append(line)
    lines.append("  top-1 among real domains: the most probable real domain is one of the reference's (None set aside), "
                 "over the (n) prompts whose reference has a real domain; None%: share labelled None at δ, ref%: share whose "
                 "reference says None")
    lines.append("  risk–coverage (most confident share of prompts: top-1 among real domains / accuracy, and the n of each):")
    lines.append(f"  {'dimension':14} " + " ".join(f"{f'{c:.0%}':>15}" for c in COVERAGES) + f" {'AURC':>15}")
    for dimension, f in figures.items():
        if f.get("n"):
            lines.append(f"  {dimension:14} " + " ".join(
                f"{_number(c['top1_real']).strip():>7}/{_number(c['accuracy']).strip():<7}" for c in f["risk_coverage"])
                + f" {_number(f['aurc_top1_real']).strip():>7}/{_number(f['aurc']).strip():<7}")
            lines.append(f"  {'  n':14} " + " ".join(
                f"{c['real_n']:>7}/{c['n']:<7}" for c in f["risk_coverage"]))
    return lines
