"""Synthetic prompts at scale: Zipf-Mandelbrot-distributed words, with planted near-duplicates.

A share of prompts are edits (a few words replaced, dropped or added) of an earlier prompt, so a
dedup has true near-duplicates to find among random text.

>>> prompts = synthetic_prompts(1000, seed=0)
"""

from __future__ import annotations

import numpy as np


def _vocabulary(size: int, rng: np.random.Generator) -> np.ndarray:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(3, 10, size)
    words = np.array(sorted({"".join(rng.choice(letters, n)) for n in lengths}))
    rng.shuffle(words)
    return words


def synthetic_prompts(n: int, seed: int = 0, vocabulary: int = 30_000, near_duplicate_share: float = 0.1,
                      min_words: int = 8, max_words: int = 40) -> list[str]:
    """``n`` prompts; about ``near_duplicate_share`` of them are light edits of another one."""
    rng = np.random.default_rng(seed)
    words = _vocabulary(vocabulary, rng)
    # Zipf-Mandelbrot word frequencies (p ~ 1 / (rank + 2.7)), as in natural text
    weights = 1.0 / (np.arange(len(words)) + 2.7)
    ranks = rng.choice(len(words), size=n * max_words, p=weights / weights.sum())
    lengths = rng.integers(min_words, max_words + 1, n)
    prompts, cursor = [], 0
    for length in lengths.tolist():
        prompts.append(words[ranks[cursor:cursor + length]].tolist())
        cursor += length
    edited = rng.random(n) < near_duplicate_share
    for i in np.flatnonzero(edited[1:]) + 1:
        source = list(prompts[rng.integers(0, i)])
        for _ in range(rng.integers(1, 4)):
            position = rng.integers(0, len(source))
            action = rng.integers(0, 3)
            if action == 0:
                source[position] = words[rng.integers(0, len(words))]
            elif action == 1 and len(source) > min_words:
                del source[position]
            else:
                source.insert(position, words[rng.integers(0, len(words))])
        prompts[i] = source
    return [" ".join(p) for p in prompts]
