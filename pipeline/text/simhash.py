"""64-bit Charikar SimHash fingerprints, vectorised, bit-identical to ``simhash.Simhash(features)``.

Each distinct feature of a chunk is hashed once (md5, last ``bits/8`` bytes, as the ``simhash`` package
does); a text's fingerprint sets bit i where the weighted share of its features with bit i set
exceeds one half. The per-text sums are one sparse × dense product.

>>> spec = FeatureSpec.parse("words,word_ngrams:2")
>>> fps, short = fingerprints(["a long enough prompt about festivals in spring"], spec)
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from pipeline.text.features import FeatureSpec

_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")


def _features_by_kind(text: str, spec: FeatureSpec) -> list[list[str]]:
    """The feature occurrences of ``text``, one list per kind of ``spec``; each kind has its own prefix."""
    lowered = text.lower()
    words = _WORD.findall(lowered)
    if not spec.stopwords:
        words = [w for w in words if w not in ENGLISH_STOP_WORDS]
    by_kind = []
    for kind in spec.kinds:
        if kind.kind == "words":
            by_kind.append(["w:" + w for w in words])
        elif kind.kind == "word_ngrams":
            prefix = f"s{kind.n}:"
            by_kind.append([prefix + " ".join(words[i:i + kind.n]) for i in range(len(words) - kind.n + 1)])
        else:
            chars, prefix = _SPACE.sub(" ", lowered).strip(), f"c{kind.n}:"
            by_kind.append([prefix + chars[i:i + kind.n] for i in range(len(chars) - kind.n + 1)])
    return by_kind


def text_features(text: str, spec: FeatureSpec) -> list[tuple[str, int]]:
    """The (feature, weight) occurrences of ``text``: what ``simhash.Simhash`` takes.

    >>> text_features("The cat sat", FeatureSpec.parse("words"))
    [('w:cat', 1), ('w:sat', 1)]
    """
    return [(name, kind.weight) for kind, names in zip(spec.kinds, _features_by_kind(text, spec)) for name in names]


def _feature_bits(features: Sequence[str], width: int) -> np.ndarray:
    """A (len(features), bits) 0/1 matrix of md5's last bytes, most significant bit first (the package's order)."""
    digests = b"".join(hashlib.md5(f.encode("utf-8")).digest()[-width:] for f in features)
    return np.unpackbits(np.frombuffer(digests, dtype=np.uint8)).reshape(len(features), width * 8)


def _fingerprint_chunk(texts: Sequence[str], spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray]:
    names: list[str] = []
    kind_counts = np.zeros((len(texts), len(spec.kinds)), dtype=np.int64)
    for row, text in enumerate(texts):
        for column, features in enumerate(_features_by_kind(text, spec)):
            names += features
            kind_counts[row, column] = len(features)
    lengths = kind_counts.sum(axis=1)
    kind_weights = np.array([k.weight for k in spec.kinds], dtype=np.float32)
    weights = np.repeat(np.tile(kind_weights, len(texts)), kind_counts.ravel())
    codes, uniques = pd.factorize(pd.Series(names, dtype=object), sort=False)
    rows = np.repeat(np.arange(len(texts)), lengths)
    counts = sparse.csr_matrix((weights, (rows, codes)), shape=(len(texts), len(uniques)))
    # float32 sums are exact: per-text weight totals stay far below 2**24
    sums = counts @ _feature_bits(uniques, spec.bits // 8).astype(np.float32)
    total = np.asarray(counts.sum(axis=1)).ravel()
    packed = np.packbits(sums > (total / 2)[:, None], axis=1)
    padded = np.zeros((len(texts), 8), dtype=np.uint8)
    padded[:, 8 - packed.shape[1]:] = packed
    values = padded.view(">u8").ravel().astype(np.uint64)
    short = np.diff(counts.indptr) < spec.min_features
    values[short] = 0
    return values, short


def fingerprints(texts: Sequence[str], spec: FeatureSpec, chunk: int = 5_000,
                 workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fingerprints (uint64) of ``texts`` and a mask of texts too short to fingerprint (value 0).

    Chunks run in ``workers`` processes (default: one per core) when there is more than one.
    """
    chunks = [texts[i:i + chunk] for i in range(0, len(texts), chunk)]
    if not chunks:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=bool)
    workers = min(workers or os.cpu_count() or 1, len(chunks))
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            parts = list(pool.map(_fingerprint_chunk, chunks, [spec] * len(chunks)))
    else:
        parts = [_fingerprint_chunk(c, spec) for c in chunks]
    return np.concatenate([v for v, _ in parts]), np.concatenate([s for _, s in parts])
