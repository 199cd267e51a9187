"""A sentence-transformers model (mean pooling) run by onnxruntime: same vectors, faster on CPU.

The model is exported once, locally, with ``torch.onnx`` into ``cache_dir`` (nothing is
downloaded) and reused afterwards. Texts are encoded in length-sorted batches so padding stays
short, and truncated at ``max_seq_length`` tokens.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.defaults import cache_home

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def default_cache_dir() -> Path:
    """Where exported ONNX models are kept: ``$MISALIGN_CACHE/onnx``, else ~/.cache/misalign/onnx."""
    return cache_home() / "onnx"


def uses_mean_pooling(model_dir: Path) -> bool:
    """Whether a sentence-transformers model directory pools by the mean of its tokens."""
    config = model_dir / "1_Pooling" / "config.json"
    return config.is_file() and json.loads(config.read_text()).get("pooling_mode_mean_tokens", False)


def _export(model_dir: Path, target: Path) -> None:
    import sys
    import warnings

    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    print(f"embed: exporting {model_dir} to ONNX once (a few seconds; later runs reuse {target.parent})",
          file=sys.stderr, flush=True)
    transformers_logging.disable_progress_bar()  # its weight-loading bar is not ours to show

    class LastHiddenState(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()
    example = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)(["an example"], return_tensors="pt")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with warnings.catch_warnings():  # the tracer's notes on a model it exports correctly: nothing to act on
        warnings.simplefilter("ignore")
        torch.onnx.export(LastHiddenState(model), tuple(example[k] for k in INPUTS), str(partial),
                          input_names=list(INPUTS), output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                          dynamic_axes={k: {0: "batch", 1: "tokens"} for k in (*INPUTS, "last_hidden_state")})
    partial.rename(target)  # a cut-off export never passes for a finished one


def _quantize(model: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    partial = target.with_suffix(".partial")
    quantize_dynamic(str(model), str(partial), weight_type=QuantType.QInt8)
    partial.rename(target)


class OnnxEncoder:
    """``quantized``: int8 weights (onnxruntime dynamic quantisation), about twice as fast, vectors
    close to but not equal to fp32 (mean cosine 0.97 on the dev prompts)."""

    def __init__(self, model_dir: Path, max_seq_length: int = 128, quantized: bool = False,
                 cache_dir: Path | None = None, threads: int = 0):
        import logging

        import onnxruntime
        from transformers import AutoTokenizer

        weights = next(iter(sorted(model_dir.glob("*.safetensors"))), model_dir / "config.json")
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
        target = (cache_dir or default_cache_dir()) / f"{model_dir.name}-{digest}" / "model.onnx"
        if not target.is_file():
            _export(model_dir, target)
        if quantized:
            int8 = target.with_name("model_int8.onnx")
            if not int8.is_file():
                logging.getLogger().setLevel(logging.ERROR)  # onnxruntime's pre-processing advice, once
                _quantize(target, int8)
            target = int8
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        self.session = onnxruntime.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self.max_seq_length = max_seq_length

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit-length mean-pooled embeddings, in the order of ``texts``."""
        order = np.argsort([len(t) for t in texts], kind="stable")
        vectors = np.zeros((len(texts), 0), dtype=np.float32)
        for begin in range(0, len(texts), batch_size):
            rows = order[begin:begin + batch_size]
            batch = self.tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                   max_length=self.max_seq_length, return_tensors="np")
            hidden = self.session.run(None, {k: batch[k].astype(np.int64) for k in INPUTS})[0]
            mask = batch["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
            if not vectors.shape[1]:
                vectors = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
            vectors[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return vectors
