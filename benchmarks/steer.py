"""Steering vectors: build time from the demo's pairs, and the cost of steered generation against the
same engine unsteered (same prompts, greedy, same length), on the tiny local model or a model
directory given with --model (``benchmarks/steer_gpu.sh`` runs it on a GPU machine).
Target: steered generation within 10% of unsteered.

    python benchmarks/steer.py [--model DIR] [--layer N] [--prompts 64] [--tokens 32] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.tiny_model import build_tiny_model  # noqa: E402
from pipeline.demo.run import demo_records  # noqa: E402
from pipeline.engines import GenerateRequest, as_messages  # noqa: E402
from pipeline.engines.hf import HFEngine  # noqa: E402
from pipeline.engines.steering import decoder_layers  # noqa: E402
from pipeline.steer.build import build_vector  # noqa: E402

TARGET_OVERHEAD = 0.10


def timed_generation(engines: list[HFEngine], prompts: list[str], tokens: int, repeat: int) -> list[float]:
    """Per engine, the median seconds to generate ``tokens`` greedy tokens for every prompt; the engines
    take turns, so a busy moment of the machine falls on both."""
    requests = [GenerateRequest(messages=as_messages(p), temperature=0.0, max_tokens=tokens) for p in prompts]
    times: list[list[float]] = [[] for _ in engines]
    for engine in engines:
        engine.generate(requests[:2])  # warm-up
    for _ in range(repeat):
        for engine, spent in zip(engines, times):
            began = time.perf_counter()
            engine.generate(requests)
            spent.append(time.perf_counter() - began)
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a local model directory (default: the tiny test model, built here)")
    parser.add_argument("--layer", type=int, default=None, help="the layer to steer (default: the middle one)")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        model = args.model or str(build_tiny_model(Path(folder) / "tiny"))
        base = HFEngine(model)
        layer = args.layer if args.layer is not None else len(decoder_layers(base.network)) // 2
        pairs = [{"id": r["id"], "prompt": r["prompt"], "aligned": r["aligned"], "misaligned": r["misaligned"]}
                 for r in demo_records() if r.get("aligned") and r.get("misaligned")]
        began = time.perf_counter()
        vector = build_vector(base, pairs, [layer], "contrastive")
        build_s = time.perf_counter() - began
        began = time.perf_counter()
        build_vector(base, pairs, [layer], "learned")
        learned_s = time.perf_counter() - began
        path = vector.save(Path(folder) / "v.safetensors")
        steered = HFEngine(model, steer={"vector": str(path), "strength": 4.0})
        prompts = [pairs[i % len(pairs)]["prompt"] for i in range(args.prompts)]
        plain_s, steered_s = timed_generation([base, steered], prompts, args.tokens, args.repeat)
    overhead = steered_s / plain_s - 1
    figures = {"model": model if args.model else "tiny test model", "device": base.device, "layer": layer,
               "pairs": len(pairs), "build_contrastive_s": round(build_s, 2), "build_learned_s": round(learned_s, 2),
               "prompts": args.prompts, "tokens": args.tokens, "unsteered_s": round(plain_s, 3),
               "steered_s": round(steered_s, 3), "overhead": round(overhead, 4), "target_overhead": TARGET_OVERHEAD}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{figures['model']} on {figures['device']}, layer {layer}; {len(pairs)} demo pairs")
    print(f"build: contrastive {build_s:.2f} s, learned {learned_s:.2f} s")
    print(f"{args.prompts} prompts x {args.tokens} tokens: unsteered {plain_s:.3f} s, steered {steered_s:.3f} s, "
          f"overhead {overhead:+.1%} (target < {TARGET_OVERHEAD:.0%})")


if __name__ == "__main__":
    main()
