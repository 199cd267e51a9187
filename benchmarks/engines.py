"""Engine layer overhead and server throughput on the tiny local model.

1. hf: our HFEngine (and HFEngine behind the store's cache, on a cold cache) against calling
   transformers directly (tokenizer + model.generate) on the same 64 prompts x 32 tokens.
2. openai: our OpenAIEngine against plain httpx POSTs to the same `transformers serve`.
3. Throughput of OpenAIEngine at concurrency 1, 4 and 8 against `transformers serve --continuous-batching`.
Target for the overhead: under 10%.

    python benchmarks/engines.py [--json] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.serve import transformers_serve  # noqa: E402
from benchmarks.tiny_model import build_tiny_model  # noqa: E402
from pipeline.engines import CachedEngine, GenerateRequest, as_messages  # noqa: E402
from pipeline.engines.hf import HFEngine  # noqa: E402
from pipeline.engines.openai_server import OpenAIEngine  # noqa: E402
from review_store import Store  # noqa: E402

PROMPTS = [f"Describe festival number {i} and what visitors should respect" for i in range(64)]
TOKENS = 32


def median_seconds(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def requests(max_tokens: int = TOKENS) -> list[GenerateRequest]:
    return [GenerateRequest(as_messages(p), max_tokens=max_tokens, temperature=0) for p in PROMPTS]


def hf_rows(model: Path, repeat: int, folder: Path) -> list[dict]:
    engine = HFEngine(str(model), batch_size=64)
    tokenizer, network = engine.tokenizer, engine.network
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False)
             for p in PROMPTS]

    def direct():
        inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            output = network.generate(**inputs, max_new_tokens=TOKENS, do_sample=False,
                                      pad_token_id=tokenizer.pad_token_id)
        tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    store = Store(folder / "cache.db")
    seeds = iter(range(10_000))

    def cached_cold():  # a new seed each run: every request misses, is generated, hashed and stored
        seed = next(seeds)
        CachedEngine(engine, store, batch_size=64, progress=False).generate(
            [GenerateRequest(r.messages, max_tokens=TOKENS, temperature=0, seed=seed) for r in requests()])

    direct()  # warm-up
    base = median_seconds(direct, repeat)
    ours = median_seconds(lambda: engine.generate(requests()), repeat)
    cached = median_seconds(cached_cold, repeat)
    return [
        {"case": "hf: transformers directly", "seconds": base, "overhead_pct": 0.0},
        {"case": "hf: HFEngine", "seconds": ours, "overhead_pct": 100 * (ours / base - 1)},
        {"case": "hf: HFEngine + cache (cold)", "seconds": cached, "overhead_pct": 100 * (cached / base - 1)},
    ]


def http_rows(model: Path, repeat: int) -> list[dict]:
    rows = []
    with transformers_serve(model, "--continuous-batching") as url:
        client = httpx.Client(timeout=120)
        prompts = PROMPTS[:32]

        def plain():
            for p in prompts:
                client.post(f"{url}/chat/completions", json={
                    "model": str(model), "messages": [{"role": "user", "content": p}], "max_tokens": TOKENS,
                    "temperature": 0, "top_p": 0.9}).raise_for_status()

        engine = OpenAIEngine(str(model), [url], concurrency=1)
        plain()  # warm-up
        base = median_seconds(plain, repeat)
        ours = median_seconds(lambda: engine.generate(requests()[:32]), repeat)
        rows += [{"case": "openai: httpx directly (32 requests)", "seconds": base, "overhead_pct": 0.0},
                 {"case": "openai: OpenAIEngine (32 requests)", "seconds": ours, "overhead_pct": 100 * (ours / base - 1)}]
        for concurrency in (1, 4, 8):
            engine = OpenAIEngine(str(model), [url], concurrency=concurrency)
            seconds = median_seconds(lambda: engine.generate(requests()), repeat)
            rows.append({"case": f"openai: concurrency {concurrency} (64 requests)", "seconds": seconds,
                         "requests_per_s": len(PROMPTS) / seconds})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_model(Path(tmp) / "tiny")
        rows = hf_rows(model, args.repeat, Path(tmp)) + http_rows(model, args.repeat)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"tiny Llama (2 layers, hidden 64), {len(PROMPTS)} prompts x {TOKENS} tokens, greedy; median of {args.repeat}")
    print(f"{'case':44} {'seconds':>8} {'overhead':>9} {'req/s':>7}")
    for row in rows:
        overhead = f"{row['overhead_pct']:+.1f}%" if "overhead_pct" in row else ""
        rate = f"{row['requests_per_s']:.1f}" if "requests_per_s" in row else ""
        print(f"{row['case']:44} {row['seconds']:8.3f} {overhead:>9} {rate:>7}")


if __name__ == "__main__":
    main()
