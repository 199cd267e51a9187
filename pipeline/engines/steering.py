"""Steering vectors and how the ``hf`` backend applies them: a direction per decoder layer, added
(times a strength α) to that layer's output, the residual stream, at every position while a call runs.

A vector is a safetensors file: one tensor per layer (``layer.<i>``, the model's hidden size) and its
provenance as the file's metadata (``provenance``: JSON). Hooks exist only inside
:func:`steered`, so a model is never left steered; α = 0 adds exactly nothing.

    vector = SteeringVector.load("vectors/culture.safetensors")
    with steered(network, vector, strength=4.0):
        network(**inputs)
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.engines.protocol import EngineError


@dataclass
class SteeringVector:
    """Per layer index, a direction (float32, the model's hidden size), and where it came from."""

    layers: dict[int, np.ndarray]
    provenance: dict = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        from safetensors.numpy import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({f"layer.{i}": v.astype(np.float32) for i, v in sorted(self.layers.items())}, str(path),
                  metadata={"provenance": json.dumps(self.provenance, sort_keys=True)})
        return path

    @classmethod
    def load(cls, path: str | Path) -> "SteeringVector":
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise EngineError(f"steer: {path}: no such steering vector (misalign steer build writes one)")
        try:
            with safe_open(str(path), framework="numpy") as f:
                layers = {int(k.split(".", 1)[1]): f.get_tensor(k) for k in f.keys()}
                provenance = json.loads((f.metadata() or {}).get("provenance", "{}"))
        except Exception:  # noqa: BLE001  (not a safetensors file: the user's to fix)
            raise EngineError(f"steer: {path}: not a steering vector file (safetensors)") from None
        return cls(layers, provenance)


def decoder_layers(network) -> list:
    """The decoder blocks of a causal LM, whose outputs are the residual stream (Llama, Qwen, Mistral,
    Gemma: ``model.layers``; GPT-2, Falcon: ``transformer.h``; GPT-NeoX: ``gpt_neox.layers``)."""
    for path in ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers"):
        found = network
        for part in path.split("."):
            found = getattr(found, part, None)
        if found is not None:
            return list(found)
    raise EngineError(f"steer: cannot find the decoder layers of {type(network).__name__}")


@contextmanager
def steered(network, vector: SteeringVector | None, strength: float):
    """While the block runs, each layer named by ``vector`` adds ``strength`` × its direction to its
    output; the hooks are removed when it ends, even on an error."""
    if vector is None:
        yield
        return
    import torch

    layers = decoder_layers(network)
    bad = [i for i in vector.layers if not 0 <= i < len(layers)]
    if bad:
        raise EngineError(f"steer: layer {bad[0]} does not exist (the model has {len(layers)} layers)")
    handles = []
    for index, direction in vector.layers.items():
        if direction.shape[-1] != network.config.hidden_size:
            raise EngineError(f"steer: the vector has size {direction.shape[-1]}, the model's hidden size is "
                              f"{network.config.hidden_size}: it was built for another model")
        shift = torch.as_tensor(direction * strength, dtype=network.dtype, device=network.device)

        def add(module, inputs, output, shift=shift):
            if isinstance(output, tuple):
                return (output[0] + shift, *output[1:])
            return output + shift
        handles.append(layers[index].register_forward_hook(add))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
