"""A labelling model that learns from labelled prompts: per dimension (and for the semantic type), a
multinomial logistic regression (scikit-learn) over frozen MiniLM sentence embeddings and/or TF-IDF
word n-grams, with None a class of its own, its probabilities calibrated by temperature scaling.

Calibration: the regression is first fitted on 80% of the training prompts (split by dedup
cluster), the temperature that minimises the negative log-likelihood of the other 20% is found, and
the regression is refitted on all of them; probabilities are ``softmax(logits / T)``. Quality is only
ever reported from cross-validation grouped by dedup cluster (:func:`cross_validated`), never on the
training prompts. The fitted model is plain arrays (no pickle), stored in the store with its
provenance and reused while its training labels are unchanged.

>>> model = fit_label_model(["a", "b", "c", "d"] * 5, {"safety": ["none", "x", "none", "x"] * 5},
...                         groups=list(range(20)), features=np.eye(4)[[0, 1, 2, 3] * 5], kind="embeddings")
>>> model.dimensions["safety"].classes
['none', 'x']
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, logsumexp, softmax

from pipeline.labelling.figures import Label, label_figures, label_set, membership
from pipeline.text.progress import progress

TFIDF = {"ngram_range": (1, 2), "min_df": 2, "sublinear_tf": True, "max_features": 50_000}


@dataclass
class DimensionModel:
    """One dimension's classes (domain ids and 'none'), regression weights and temperature."""

    classes: list[str]
    coef: np.ndarray  # classes × features
    intercept: np.ndarray
    temperature: float = 1.0

    def logits(self, features) -> np.ndarray:
        return np.asarray(features @ self.coef.T) + self.intercept

    def probabilities(self, features) -> np.ndarray:
        return softmax(self.logits(features) / self.temperature, axis=1)


@dataclass
class LabelModel:
    kind: str  # embeddings, tfidf or both
    dimensions: dict[str, DimensionModel]
    vocabulary: list[str] = field(default_factory=list)  # TF-IDF terms, in column order
    idf: np.ndarray | None = None

    def to_bytes(self) -> bytes:
        """The model as one ``.npz`` (arrays and JSON text only: loading it runs no code)."""
        arrays = {"meta": np.array(json.dumps({"kind": self.kind, "vocabulary": self.vocabulary,
                                                "dimensions": {d: {"classes": m.classes, "temperature": m.temperature}
                                                               for d, m in self.dimensions.items()}}))}
        for name, model in self.dimensions.items():
            arrays[f"{name}.coef"], arrays[f"{name}.intercept"] = model.coef, model.intercept
        if self.idf is not None:
            arrays["idf"] = self.idf
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> "LabelModel":
        with np.load(io.BytesIO(blob), allow_pickle=False) as arrays:
            meta = json.loads(str(arrays["meta"]))
            dimensions = {d: DimensionModel(m["classes"], arrays[f"{d}.coef"], arrays[f"{d}.intercept"], m["temperature"])
                          for d, m in meta["dimensions"].items()}
            return cls(meta["kind"], dimensions, meta["vocabulary"], arrays["idf"] if "idf" in arrays else None)

    def featurize(self, texts: list[str], embeddings: np.ndarray | None):
        """The model's input for ``texts``: their embeddings, TF-IDF vectors, or both side by side."""
        parts = []
        if self.kind in ("tfidf", "both"):
            parts.append(_tfidf(self.vocabulary, self.idf).transform(texts))
        if self.kind in ("embeddings", "both"):
            parts.append(sparse.csr_matrix(embeddings) if self.kind == "both" else embeddings)
        return sparse.hstack(parts).tocsr() if len(parts) > 1 else parts[0]


def _tfidf(vocabulary: list[str], idf: np.ndarray):
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(**{k: v for k, v in TFIDF.items() if k not in ("min_df", "max_features")},
                                 vocabulary={term: i for i, term in enumerate(vocabulary)})
    vectorizer.idf_ = idf
    return vectorizer


def _fit_tfidf(texts: list[str]) -> tuple[list[str], np.ndarray]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(**TFIDF).fit(texts)
    return vectorizer.get_feature_names_out().tolist(), vectorizer.idf_.astype(np.float32)


def _regression(features, labels: np.ndarray, classes: list[str], c: float, seed: int,
                weights: np.ndarray | None = None, start: DimensionModel | None = None) -> DimensionModel:
    """A multinomial logistic regression over every class (a class missing from ``labels`` gets a
    logit far below the others); ``start``: a model of these classes to start the solver from (the
    optimum is the same, reached in fewer iterations from a fit on most of the same prompts)."""
    from sklearn.linear_model import LogisticRegression

    present = sorted(set(labels.tolist()))
    width = features.shape[1]
    coef = np.zeros((len(classes), width), dtype=np.float32)
    intercept = np.full(len(classes), -30.0, dtype=np.float32)
    if len(present) == 1:  # one class seen: it is certain
        intercept[classes.index(present[0])] = 0.0
        return DimensionModel(classes, coef, intercept)
    regression = LogisticRegression(C=c, max_iter=500, tol=1e-3, random_state=seed, warm_start=start is not None)
    rows = [classes.index(name) for name in present]  # scikit-learn's class order: sorted, as ``present``
    if start is not None:
        begin, offset = start.coef[rows].astype(np.float64), np.maximum(start.intercept[rows], -5.0).astype(np.float64)
        if len(rows) == 2:  # one weight vector for two classes: the second's logit minus the first's
            begin, offset = begin[1:] - begin[:1], offset[1:] - offset[:1]
        regression.coef_, regression.intercept_ = begin, offset
    with warnings.catch_warnings():  # many domains, few prompts each: not a regression problem, as it warns
        warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")
        fitted = regression.fit(features, labels, sample_weight=weights)
    if len(rows) == 2:  # logits (0, z)
        coef[rows[1]], intercept[rows[1]], intercept[rows[0]] = fitted.coef_[0], fitted.intercept_[0], 0.0
    else:
        coef[rows], intercept[rows] = fitted.coef_, fitted.intercept_
    return DimensionModel(classes, coef, intercept)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimising the negative log-likelihood of ``labels`` under softmax(logits / T);
    ``labels``: each row's class index, or a boolean rows × classes matrix of the classes that count
    as right (then the likelihood of a row is the probability of its set).

    >>> logits = np.log(np.array([[0.9, 0.1]] * 10))  # 90% sure, right 9 times in 10: already calibrated
    >>> round(fit_temperature(logits, np.array([0] * 9 + [1])), 2)
    1.0
    """
    right = np.eye(logits.shape[1], dtype=bool)[labels] if np.ndim(labels) == 1 else labels
    result = minimize_scalar(lambda t: -logsumexp(log_softmax(logits / t, axis=1), b=right, axis=1).mean(),
                             bounds=(0.05, 20.0), method="bounded", options={"xatol": 1e-4})
    return float(result.x)


def fit_label_model(texts: list[str], labels: dict[str, list[Label | None]], groups: list,
                    features: np.ndarray | None, kind: str = "embeddings", c: float = 1.0, seed: int = 0,
                    classes: dict[str, list[str]] | None = None, shown: bool = False) -> LabelModel:
    """Fit one calibrated regression per dimension on ``texts`` (with their ``features``: embeddings)
    and ``labels`` (per dimension: a domain id or 'none' per text, a tuple where a text has several
    domains, None where it has no label); ``shown``: progress a dimension at a time."""
    vocabulary, idf = _fit_tfidf(texts) if kind in ("tfidf", "both") else ([], None)
    model = LabelModel(kind, {}, vocabulary, idf)
    matrix = model.featurize(texts, features)
    with progress(len(labels), f"fit the labelling model ({len(texts)} prompts)", "dimensions", shown=shown) as bar:
        bar.update(0)  # said before the first dimension's minute of fitting, not after
        for dimension, values in labels.items():
            model.dimensions[dimension] = _fit_dimension(matrix, values, groups,
                                                         sorted(classes[dimension]) if classes else None, c, seed)
            bar.update(1)
    return model


def _fit_dimension(matrix, values: list[Label | None], groups: list, classes: list[str] | None, c: float,
                   seed: int) -> DimensionModel:
    """One dimension's regression, its temperature fitted on a held-out fifth (split by ``groups``)."""
    from sklearn.model_selection import GroupShuffleSplit

    # one row per (text, domain), weighted 1/k for a text's k domains
    known = [(i, label_set(v)) for i, v in enumerate(values) if v is not None]
    rows = np.array([i for i, domains in known for _ in domains])
    y = np.array([d for _, domains in known for d in domains], dtype=object)
    weights = np.array([1 / len(domains) for _, domains in known for _ in domains])
    x, g = matrix[rows], np.asarray(groups, dtype=object)[rows]
    names = classes or sorted(set(y.tolist()))
    calibrate, hold = next(GroupShuffleSplit(1, test_size=0.2, random_state=seed).split(x, y, g.astype(str)))
    first = _regression(x[calibrate], y[calibrate], names, c, seed, weights[calibrate])
    held = list(dict.fromkeys(rows[hold].tolist()))  # the held-out texts, once each
    temperature = fit_temperature(first.logits(matrix[held]), membership([values[i] for i in held], names))
    final = _regression(x, y, names, c, seed, weights, start=first)
    final.temperature = temperature
    return final


def grouped_folds(groups, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index arrays of K folds in which every group (dedup cluster) lies in one test fold.

    >>> [test.tolist() for _, test in grouped_folds(["a", "a", "b", "c"], 2)]
    [[0, 1], [2, 3]]
    """
    from sklearn.model_selection import GroupKFold

    groups = np.asarray(groups)
    return list(GroupKFold(k).split(np.zeros(len(groups)), groups=groups))


def cross_validated(texts: list[str], labels: dict[str, list[Label | None]], groups: list, features: np.ndarray | None,
                    k: int = 5, kind: str = "embeddings", c: float = 1.0, seed: int = 0,
                    delta: float | None = None) -> dict[str, dict]:
    """Per dimension, :func:`label_figures` of out-of-fold predictions: K folds grouped by ``groups``
    (dedup clusters), so near-duplicates never straddle a fold; every prediction is of a text its
    model did not see."""
    results = {}
    group_ids = np.unique(np.asarray(groups, dtype=str), return_inverse=True)[1]
    with progress(len(labels) * k, f"cross-validation ({len(texts)} prompts)", "folds") as bar:
        bar.update(0)  # said before the first fold's fit, which takes a while on many prompts
        for dimension, values in labels.items():
            known = np.flatnonzero([v is not None for v in values])
            classes = sorted({c for i in known for c in label_set(values[i])})
            out = np.zeros((len(known), len(classes)))
            for train, test in grouped_folds(group_ids[known], k):
                fold_texts = [texts[i] for i in known[train]]
                fold = fit_label_model(fold_texts, {dimension: [values[i] for i in known[train]]},
                                       group_ids[known[train]].tolist(),
                                       None if features is None else features[known[train]], kind, c, seed,
                                       classes={dimension: classes})
                test_features = fold.featurize([texts[i] for i in known[test]],
                                               None if features is None else features[known[test]])
                out[test] = fold.dimensions[dimension].probabilities(test_features)
                bar.update(1)
            results[dimension] = label_figures([values[i] for i in known], out, classes, delta)
    return results
