"""Every engine call goes through the store's engine cache, keyed by (backend, model, request, seed),
except an engine that says ``cached = False`` (a local, deterministic one that answers faster than
the store could replay it). Such an engine may still keep what is dear to compute, its text
vectors, in the store (:class:`StoredVectors`): each text is embedded once for every stage.

A re-run replays finished answers; new requests go to the engine in batches and each batch is
committed as soon as it is answered, so a run killed mid-way loses at most the batch in flight; an
engine that answers request by request (a server: ``generate_each``) has each answer committed as
it arrives, so a timeout or a kill loses only the requests in flight.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence

import numpy as np

from pipeline.engines.protocol import ChoiceRequest, Engine, Generation, GenerateRequest
from pipeline.text.progress import progress
from review_store import Store, content_id

# The key hashes the whole request; the stored copy is a preview for people, bounded so that long
# shared instructions (taxonomy descriptions in every labelling request) do not fill the store.
REQUEST_PREVIEW = 500


class CachedEngine:
    """Wraps an engine so its answers are stored and replayed.

    Example::

        engine = CachedEngine(HFEngine("models/tiny"), store)
        engine.generate(requests)  # a second call with the same requests asks the model nothing
    """

    def __init__(self, engine: Engine, store: Store, batch_size: int = 32, progress: bool = True):
        self.store = store
        self.batch_size = batch_size
        self.progress = progress
        self.engine = engine = engine.keeping_vectors_in(store)
        self.backend, self.model = engine.backend, engine.model
        self.calls = 0  # requests sent to the engine (not replayed) since this wrapper was made

    def server_stats(self) -> dict[str, dict]:
        """Per server of an engine with several (the openai backend): what each answered and failed, and how
        fast; empty for the others. Stages put it in their report as ``servers``."""
        stats = self.engine.server_stats()
        return stats if len(stats) > 1 else {}

    def _through_cache(self, kind: str, payloads: list[dict], call: Callable[[list[int]], list],
                       encode: Callable, decode: Callable, each: Callable | None = None) -> list:
        if not self.engine.cached:  # cheaper to recompute than to store
            self.calls += len(payloads)
            return [decode(encode(a)) for a in call(list(range(len(payloads))))] if payloads else []
        requests_json = [json.dumps(p, sort_keys=True) for p in payloads]
        keys = [content_id(self.backend, self.model, kind, r) for r in requests_json]
        found = self.store.cached_responses(keys)
        missing = [i for i, k in enumerate(keys) if k not in found]
        # one entry per distinct key: duplicated requests in a batch are asked once
        todo = list({keys[i]: i for i in missing}.values())
        with progress(len(todo), f"{self.backend}:{kind}", "requests",
                      shown=self.progress and len(todo) > self.batch_size) as bar:

            def keep(pairs: list[tuple[int, object]]) -> None:
                rows = [{"key": keys[i], "backend": self.backend, "model": self.model, "kind": kind,
                         "request": requests_json[i][:REQUEST_PREVIEW], "response": encode(a)} for i, a in pairs]
                with self.store.transaction():
                    self.store.add_cached_responses(rows)
                found.update({r["key"]: r["response"] for r in rows})
                self.calls += len(rows)
                bar.update(len(rows))

            for begin in range(0, len(todo), self.batch_size):
                batch = todo[begin:begin + self.batch_size]
                if each is None:
                    keep(list(zip(batch, call(batch))))
                else:  # a server's answers kept as they arrive: a timeout or a kill loses only those in flight
                    for position, answer in each(batch):
                        keep([(batch[position], answer)])
        return [decode(found[k]) for k in keys]

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        each = getattr(self.engine, "generate_each", None)
        return self._through_cache(
            "generate", [r.payload() for r in requests],
            lambda batch: self.engine.generate([requests[i] for i in batch]),
            lambda g: json.dumps(g.payload()), lambda s: Generation(**json.loads(s)),
            each and (lambda batch: each([requests[i] for i in batch])))

    def choice_probs(self, requests: Sequence[ChoiceRequest]) -> list[dict[str, float]]:
        each = getattr(self.engine, "choice_probs_each", None)
        return self._through_cache(
            "choice", [r.payload() for r in requests],
            lambda batch: self.engine.choice_probs([requests[i] for i in batch]),
            json.dumps, json.loads, each and (lambda batch: each([requests[i] for i in batch])))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._through_cache(
            "embed", [{"text": t} for t in texts],
            lambda batch: list(self.engine.embed([texts[i] for i in batch])),
            lambda v: np.asarray(v, dtype=np.float32).tobytes(), lambda b: np.frombuffer(b, dtype=np.float32))
        return np.stack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)


def pack_vector(vector: np.ndarray) -> bytes:
    """A vector as int8 with its float32 scale: 388 bytes for MiniLM's 384 dimensions (cosine with the
    original above 0.9999; similarities between texts move by under 0.003).

    >>> v = np.array([0.6, -0.8, 0.0], dtype=np.float32)
    >>> bool(np.abs(unpack_vector(pack_vector(v)) - v).max() < 0.01)
    True
    """
    scale = float(np.abs(vector).max()) / 127 or 1.0
    return np.float32(scale).tobytes() + np.round(vector / scale).astype(np.int8).tobytes()


def unpack_vector(data: bytes) -> np.ndarray:
    """The float32 vector :func:`pack_vector` stored."""
    return np.frombuffer(data[4:], dtype=np.int8).astype(np.float32) * np.frombuffer(data[:4], dtype=np.float32)[0]


class StoredVectors:
    """A local embedding model's vectors kept in the store, keyed by a 64-bit hash of (model, text).

    What a stage embedded is read back by the next one (the labelling model's prompts by the embedded
    detector, the judge's responses likewise) and by a re-run. Vectors are stored as int8 with a
    scale and always returned as stored, so a text's vector is the same whether embedded now or
    read back.

    Example::

        vectors = StoredVectors(store, engine.model)
        vectors.embed(texts, engine_encode)  # a second call computes nothing
    """

    def __init__(self, store: Store, model: str):
        self.store, self.model = store, model
        self.computed = 0  # texts embedded (not read back) through this object

    def key(self, text: str) -> int:
        digest = hashlib.sha256(f"{self.model}\x1f{text}".encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def embed(self, texts: Sequence[str], compute: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        if not texts:  # as the encoder answers nothing: no rows to stack
            return compute([])
        keys = [self.key(t) for t in texts]
        found = self.store.text_vectors(keys)
        missing = list({k: i for i, k in enumerate(keys) if k not in found}.values())
        if missing:
            rows = [(keys[i], pack_vector(v)) for i, v in zip(missing, compute([texts[i] for i in missing]))]
            with self.store.transaction():
                self.store.add_text_vectors(rows)
            found.update(rows)
            self.computed += len(missing)
        return np.stack([unpack_vector(found[k]) for k in keys])


def server_notes(*engines: CachedEngine | None) -> dict | None:
    """A stage report's ``servers`` note: per server of the engines that have several, what it answered
    and failed and how fast (``None`` when none has)."""
    merged = {url: stats for engine in engines if engine is not None for url, stats in engine.server_stats().items()}
    return merged or None
