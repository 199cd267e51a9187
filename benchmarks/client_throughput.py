"""The studio's OpenAI client (the ``openai`` backend) against one or more servers: requests/s and
output tokens/s for N chat requests of fixed length at a given concurrency per server, with what each
server answered. ``benchmarks/vllm_scale.sh`` compares it with vLLM's own benchmark client.

    python benchmarks/client_throughput.py --url http://127.0.0.1:8000/v1 [--url …] --model NAME
        [--prompts 512] [--input-words 200] [--output-tokens 128] [--concurrency 64] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.engines import GenerateRequest, as_messages  # noqa: E402
from pipeline.engines.openai_server import OpenAIEngine  # noqa: E402

WORDS = "festival museum recipe elders privacy safety value culture river market song harvest language".split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", action="append", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--input-words", type=int, default=200)
    parser.add_argument("--output-tokens", type=int, default=128)
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight per server")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = random.Random(0)
    requests = [GenerateRequest(as_messages(" ".join(rng.choice(WORDS) for _ in range(args.input_words))),
                                temperature=0.0, max_tokens=args.output_tokens) for _ in range(args.prompts)]
    engine = OpenAIEngine(args.model, args.url, concurrency=args.concurrency, timeout=600)
    began = time.perf_counter()
    answers = engine.generate(requests)
    seconds = time.perf_counter() - began
    tokens = sum(sum(a.completion_tokens) for a in answers)
    figures = {"prompts": args.prompts, "seconds": round(seconds, 2), "requests_per_s": round(args.prompts / seconds, 2),
               "output_tokens_per_s": round(tokens / seconds, 1), "servers": engine.server_stats()}
    print(json.dumps(figures, indent=2) if args.json else
          f"{args.prompts} requests in {seconds:.1f} s: {figures['requests_per_s']} req/s, "
          f"{figures['output_tokens_per_s']} output tokens/s; per server {figures['servers']}")


if __name__ == "__main__":
    main()
