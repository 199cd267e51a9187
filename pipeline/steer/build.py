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

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pipeline.engines import open_engine
from pipeline.engines.backends import backends_that, capable
from pipeline.engines.config import Config
from pipeline.engines.hf import HFEngine
from pipeline.engines.steering import SteeringVector, decoder_layers
from pipeline.errors import UsageError
from pipeline.export.options import check_filters
from pipeline.steer.options import SteerOptions
from review_store import Notes, StageReport, Store, content_id
from taxonomy import Taxonomy

@dataclass
class SteerNotes(Notes):
    vector: str = ""  # the file written
    id: str = ""
    layers: list[int] | None = None
    mean_difference_norm: float | None = None
    pairs_in_set: int = 0  # of the pairs held (both slots filled), those in the pair set


def build_steering(store: Store, taxonomy: Taxonomy, config: Config,
                   options: SteerOptions | None = None) -> StageReport[SteerNotes]:
    """The steer stage: a vector from the pair set's pairs (of an export's train split, of a dimension or
    domain when given), written to ``options.out`` with its provenance. In: the pairs held; kept: the
    pairs used; dropped: not in the pair set, outside the dimension or domain."""
    options = options or SteerOptions()
    options.check()
    engine = config.engine(options.model)
    if not capable(engine.backend, "steerable"):
        raise UsageError(f"engine '{options.model}' uses the {engine.backend} backend; a steering vector "
                         f"needs an engine of the {backends_that('steerable')} backend (a local model directory)", field="model")
    check_filters(taxonomy, tuple(filter(None, [options.dimension])), tuple(filter(None, [options.domain])))
    out = Path(options.out)
    split = (options.export, "train") if options.export else None
    in_set = store.bench_pairs(options.pairs, split)
    held = len(store.bench_pairs("all", split)) if options.export else len(in_set)  # with both slots filled
    domains = store.pair_domains([p["id"] for p in in_set])
    chosen = [p for p in in_set
              if (options.domain is None or options.domain in domains.get(p["id"], []))
              and (options.dimension is None
                   or any(taxonomy.domain(d).dimension == options.dimension for d in domains.get(p["id"], [])))]
    params = {**asdict(options), "layers": list(options.layers), "out": str(out.resolve())}
    with store.stage_run("steer_build", params, SteerNotes()) as report:
        per_domain = Counter(d for p in chosen for d in domains.get(p["id"], []))
        unsteered = open_engine(engine.backend, engine.model, {k: v for k, v in engine.options.items() if k != "steer"})
        vector = build_vector(unsteered, chosen, list(options.layers), options.method, options.seed,
                              {"pair_set": options.pairs, "export_train_split": options.export,
                               "dimension": options.dimension, "domain": options.domain,
                               "pairs_per_domain": dict(sorted(per_domain.items())), "taxonomy": taxonomy.version})
        vector.save(out)
        report.items_in, report.kept = held, len(chosen)
        report.drop("not_in_pair_set", held - len(in_set))
        report.drop("outside_dimension_or_domain", len(in_set) - len(chosen))
        report.notes = SteerNotes(vector=str(out), id=vector.provenance["id"], layers=sorted(vector.layers),
                                  mean_difference_norm=round(float(sum(
                                      (v ** 2).sum() ** 0.5 for v in vector.layers.values()) / len(vector.layers)), 4),
                                  pairs_in_set=len(in_set))
    return report


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
    if not pairs:
        raise UsageError("no pairs to build a steering vector from (check --pairs, --split and the filters)")
    count = len(decoder_layers(engine.network))
    bad = [layer for layer in layers if not 0 <= layer < count]
    if bad:
        raise UsageError(f"{bad[0]}: the model has layers 0 to {count - 1}", field="layer")
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
