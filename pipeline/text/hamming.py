"""Every pair of fingerprints within Hamming distance τ, exactly, by multi-index hashing.

The ``bits`` are cut into m blocks with thresholds t_j where Σ(t_j + 1) = τ + 1 (generalised
pigeonhole): any pair within τ differs by at most t_j bits in some block j. Each block is an
index from key to a run of fingerprints sorted by that key; a query probes every key within t_j
of its own and verifies candidates on all bits. A pair is reported only from the first block that
can find it, and from its smaller query, so each pair comes out once. m is chosen by a cost model
(probes versus candidates) for the number of fingerprints. The kernel is compiled with numba and
runs on threads over query chunks.

>>> pairs = near_pairs(np.array([0b1011, 0b1001, 0xFFFF], dtype=np.uint64), tau=1)
>>> pairs.left.tolist(), pairs.right.tolist(), pairs.distance.tolist()
([0], [1], [1])
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from math import comb

import numba
import numpy as np

MAX_BLOCK_BITS = 24  # a block's key table has 2**bits + 1 entries


@dataclass(frozen=True)
class Pairs:
    """Pairs of indices (left < right) with their Hamming distance, sorted."""

    left: np.ndarray
    right: np.ndarray
    distance: np.ndarray

    def __len__(self) -> int:
        return len(self.left)

    def as_set(self) -> set[tuple[int, int]]:
        return set(zip(self.left.tolist(), self.right.tolist()))


@dataclass(frozen=True)
class Block:
    shift: int
    width: int
    threshold: int  # -1: the block is not probed

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.shift


def plan_blocks(bits: int, tau: int, n: int, m: int | None = None) -> list[Block]:
    """Blocks for ``n`` fingerprints: ``m`` given, or the one with the lowest estimated cost."""
    if m is not None:
        blocks = _blocks(bits, tau, m)
        if max(b.width for b in blocks) > MAX_BLOCK_BITS:
            raise ValueError(f"{m} blocks of {bits} bits: a block must be at most {MAX_BLOCK_BITS} bits wide")
        return blocks
    best, best_cost = None, float("inf")
    for count in range(1, bits + 1):
        blocks = _blocks(bits, tau, count)
        if any(b.width > MAX_BLOCK_BITS for b in blocks):
            continue
        probes = sum(_ball(b.width, b.threshold) for b in blocks)
        candidates = sum(_ball(b.width, b.threshold) * n / 2 ** b.width for b in blocks)
        # a probe into a table bigger than the cache costs several candidate checks
        probe_cost = sum(_ball(b.width, b.threshold) * (2 if b.width <= 17 else 12) for b in blocks)
        cost = probe_cost + candidates if probes else float("inf")
        if cost < best_cost:
            best, best_cost = blocks, cost
    return best


def _blocks(bits: int, tau: int, m: int) -> list[Block]:
    widths = [bits // m + (1 if i < bits % m else 0) for i in range(m)]
    base, extra = divmod(tau + 1, m)
    # Σ(t_j + 1) = τ + 1; the wider blocks take the larger thresholds
    thresholds = [base - 1 + (1 if i < extra else 0) for i in range(m)]
    shifts = list(itertools.accumulate([0, *widths[:-1]]))
    return [Block(s, w, t) for s, w, t in zip(shifts, widths, thresholds)]


def _ball(width: int, radius: int) -> int:
    return sum(comb(width, r) for r in range(radius + 1)) if radius >= 0 else 0


def _masks(width: int, radius: int) -> np.ndarray:
    masks = [sum(1 << b for b in flips) for r in range(radius + 1)
             for flips in itertools.combinations(range(width), r)]
    return np.array(masks, dtype=np.uint64)


@numba.njit(inline="always")
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@numba.njit(nogil=True, cache=True)
def _search(queries, is_query, fps, tau, shifts, widths, thresholds, block_masks,
            masks, mask_offsets, starts, start_offsets, sorted_ids, sorted_fps, sorted_offsets):
    capacity = 1024
    left = np.empty(capacity, np.int64)
    right = np.empty(capacity, np.int64)
    dist = np.empty(capacity, np.int8)
    found = 0
    for x in queries:
        fx = fps[x]
        for j in range(len(widths)):
            t = thresholds[j]
            if t < 0:
                continue
            key = (fx >> np.uint64(shifts[j])) & ((np.uint64(1) << np.uint64(widths[j])) - np.uint64(1))
            for mi in range(mask_offsets[j], mask_offsets[j + 1]):
                bucket = start_offsets[j] + np.int64(key ^ masks[mi])
                for pos in range(sorted_offsets[j] + starts[bucket], sorted_offsets[j] + starts[bucket + 1]):
                    y = sorted_ids[pos]
                    if y == x or (is_query[y] and y < x):
                        continue
                    diff = fx ^ sorted_fps[pos]
                    d = _popcount(diff)
                    if d > tau:
                        continue
                    earlier = False
                    for jj in range(j):
                        if thresholds[jj] >= 0 and _popcount(diff & block_masks[jj]) <= thresholds[jj]:
                            earlier = True
                            break
                    if earlier:
                        continue
                    if found == capacity:
                        capacity *= 2
                        left = np.resize(left, capacity)
                        right = np.resize(right, capacity)
                        dist = np.resize(dist, capacity)
                    left[found], right[found], dist[found] = min(x, y), max(x, y), d
                    found += 1
    return left[:found], right[:found], dist[:found]


def near_pairs(fps: np.ndarray, tau: int, bits: int = 64, queries: np.ndarray | None = None,
               valid: np.ndarray | None = None, m: int | None = None, threads: int | None = None) -> Pairs:
    """Every pair (i < j) with ``popcount(fps[i] ^ fps[j]) <= tau``, exactly.

    ``queries`` (bool mask): only pairs with at least one query side (incremental search of new
    fingerprints against stored ones). ``valid`` (bool mask): fingerprints that take part at all.
    """
    fps = np.ascontiguousarray(fps, dtype=np.uint64)
    n = len(fps)
    if bits < 64 and n and int(fps.max()) >> bits:
        raise ValueError(f"fingerprints have bits above the {bits}-bit width")
    valid = np.ones(n, bool) if valid is None else np.asarray(valid, bool)
    is_query = (np.ones(n, bool) if queries is None else np.asarray(queries, bool)) & valid
    members = np.flatnonzero(valid)
    blocks = plan_blocks(bits, tau, max(len(members), 1), m)

    masks = [_masks(b.width, b.threshold) for b in blocks]
    starts, sorted_ids, sorted_fps = [], [], []
    for block in blocks:
        keys = (fps[members] >> np.uint64(block.shift)) & np.uint64((1 << block.width) - 1)
        order = np.argsort(keys, kind="stable")
        counts = np.bincount(keys.astype(np.int64), minlength=1 << block.width)
        starts.append(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
        sorted_ids.append(members[order].astype(np.int64))
        sorted_fps.append(fps[members][order])

    def offsets(arrays):
        return np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int64)

    arguments = (
        is_query, fps, np.int64(tau),
        np.array([b.shift for b in blocks], np.int64), np.array([b.width for b in blocks], np.int64),
        np.array([b.threshold for b in blocks], np.int64), np.array([b.mask for b in blocks], np.uint64),
        np.concatenate(masks), offsets(masks), np.concatenate(starts), offsets(starts)[:-1],
        np.concatenate(sorted_ids), np.concatenate(sorted_fps), offsets(sorted_ids)[:-1],
    )
    query_ids = np.flatnonzero(is_query).astype(np.int64)
    threads = threads or os.cpu_count() or 1
    chunks = np.array_split(query_ids, max(1, min(len(query_ids) // 2048, threads * 8)))
    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(lambda chunk: _search(chunk, *arguments), chunks))
    return _sorted_pairs(*(np.concatenate([p[i] for p in parts]) if parts else np.empty(0) for i in range(3)))


def _sorted_pairs(left, right, distance) -> Pairs:
    order = np.lexsort((right, left))
    return Pairs(left[order].astype(np.int64), right[order].astype(np.int64), distance[order].astype(np.int8))


def brute_force_pairs(fps: np.ndarray, tau: int, valid: np.ndarray | None = None, chunk: int = 2048) -> Pairs:
    """The reference: every pair checked with numpy (``bitwise_count`` of XOR), O(n²)."""
    fps = np.asarray(fps, dtype=np.uint64)
    members = np.flatnonzero(np.ones(len(fps), bool) if valid is None else valid)
    values = fps[members]
    lefts, rights, dists = [], [], []
    for begin in range(0, len(values), chunk):
        block = values[begin:begin + chunk]
        d = np.bitwise_count(block[:, None] ^ values[None, begin:])
        i, j = np.nonzero(np.triu(d <= tau, k=1))
        lefts.append(members[begin + i])
        rights.append(members[begin + j])
        dists.append(d[i, j])
    if not lefts:
        return _sorted_pairs(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int8))
    return _sorted_pairs(np.concatenate(lefts), np.concatenate(rights), np.concatenate(dists))
