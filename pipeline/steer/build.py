"""Build a steering vector for a causal LM from aligned/misaligned pairs.

For each pair the model reads the prompt (in its chat template) followed by each response; the
residual stream after each chosen layer is mean-pooled over the response's tokens, and the pair's
difference is ``d_i = mean(aligned) − mean(misaligned)``. Two methods:

- ``contrastive``: the mean of the ``d_i`` (contrastive activation addition), L2-normalised;
- ``learned``: a direction fitted with Adam to minimise the mean of ``1 − cos(v, d_i)`` over pairs
  (starting from the contrastive one), L2-normalised.

Either is then rescaled to the mean ‖d_i‖, so strength α = 1 adds one typical pair difference.
Only the pairs given are read: pass an export's train split so test pairs never enter a vector.

    vector = build_vector(engine, pairs, layers=[10], method="learned", seed=0)
    vector.save("vectors/culture.safetensors")
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.engines.hf import HFEngine
from pipeline.engines.steering import SteeringVector, decoder_layers
from pipeline.errors import UsageError
from review_store import Notes, content_id

METHODS = ("contrastive", "learned")


@dataclass
class SteerNotes(Notes):
    vector: str = ""  # the file written
    id: str = ""
    layers: list[int] | None = None
    mean_difference_norm: float | None = None


def pair_differences(engine: HFEngine, pairs: list[dict], layers: list[int]) -> dict[int, np.ndarray]:
    """Per layer, one row per pair: mean response-token activation on the aligned response minus on
    the misaligned one."""
    torch, network = engine._torch, engine.network
    rows: dict[int, list[np.ndarray]] = {layer: [] for layer in layers}
    for pair in pairs:
        prompt = engine._prompt([("user", pair["prompt"])])
        means = {}
        for slot in ("aligned", "misaligned"):
            prompt_ids, response_ids = engine.continuation_ids(prompt, pair[slot])
            ids = torch.tensor([prompt_ids + response_ids], device=engine.device)
            with torch.no_grad():
                hidden = network(input_ids=ids, output_hidden_states=True).hidden_states
            # hidden_states[0] is the embeddings; [layer + 1] the output of decoder layer ``layer``
            means[slot] = {layer: hidden[layer + 1][0, len(prompt_ids):].float().mean(dim=0).cpu().numpy()
                           for layer in layers}
        for layer in layers:
            rows[layer].append(means["aligned"][layer] - means["misaligned"][layer])
    return {layer: np.stack(r) for layer, r in rows.items()}


def learned_direction(differences: np.ndarray, seed: int = 0, steps: int = 300, lr: float = 0.01) -> np.ndarray:
    """A unit vector minimising the mean of 1 − cos(v, d_i), fitted with Adam from the mean difference
    (a little noise from ``seed`` so the fit is reproducible, not trivially the start)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    targets = torch.nn.functional.normalize(torch.as_tensor(differences, dtype=torch.float32), dim=1)
    start = targets.mean(dim=0)
    v = (start + 1e-3 * torch.randn(start.shape, generator=generator)).requires_grad_(True)
    optimiser = torch.optim.Adam([v], lr=lr)
    for _ in range(steps):
        optimiser.zero_grad()
        loss = (1 - torch.nn.functional.cosine_similarity(v[None, :], targets, dim=1)).mean()
        loss.backward()
        optimiser.step()
    return torch.nn.functional.normalize(v.detach(), dim=0).numpy()


def build_vector(engine: HFEngine, pairs: list[dict], layers: list[int], method: str = "contrastive",
                 seed: int = 0, provenance: dict | None = None) -> SteeringVector:
    """The steering vector of ``pairs`` (dicts with id, prompt, aligned, misaligned) for ``engine``'s model."""
    if method not in METHODS:
        raise UsageError(f"--method: '{method}' is not one of {', '.join(METHODS)}")
    if not pairs:
        raise UsageError("no pairs to build a steering vector from (check --pairs, --split and the filters)")
    count = len(decoder_layers(engine.network))
    bad = [layer for layer in layers if not 0 <= layer < count]
    if bad:
        raise UsageError(f"--layer {bad[0]}: the model has layers 0 to {count - 1}")
    differences = pair_differences(engine, pairs, layers)
    directions = {}
    for layer, d in differences.items():
        unit = learned_direction(d, seed) if method == "learned" else d.mean(axis=0) / np.linalg.norm(d.mean(axis=0))
        directions[layer] = (unit * np.linalg.norm(d, axis=1).mean()).astype(np.float32)
    ids = sorted(p["id"] for p in pairs)
    made = {"model": engine.model, "method": method, "layers": sorted(layers), "seed": seed, "pairs": len(ids),
            "pairs_hash": content_id(*ids), **(provenance or {})}
    made["id"] = content_id("steer", made["model"], method, made["layers"], seed, made["pairs_hash"])[:12]
    return SteeringVector(directions, made)
