"""The real model (SmolLM2-135M-Instruct, `misalign model install smollm2`) on CPU: generate and judge, in
process (HFEngine) against served (`transformers serve --continuous-batching` behind OpenAIEngine).

1. generate: the same prompts, sampled, tokens written per second.
2. judge: the two-stage judge's yes/no question per response, answers per second. `transformers serve`
   returns no logprobs, so the judge runs in process only; the served row says so.
3. pairs: the pairs stage itself (k = 1, no resampling rounds) on demo prompts, pairs per minute, the
   generator in process or served, the embedded judge (a judge must be another model than the generator).

Baseline: in process. The ratio is served / in process (above 1: the server is faster).

    python benchmarks/real_model.py [--json] [--prompts 8] [--tokens 48] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.serve import transformers_serve  # noqa: E402
from pipeline.demo.run import demo_records  # noqa: E402
from pipeline.engines import ChoiceRequest, GenerateRequest, as_messages  # noqa: E402
from pipeline.engines.config import load_config  # noqa: E402
from pipeline.engines.hf import HFEngine  # noqa: E402
from pipeline.engines.models import install_hint, installed_path, is_installed  # noqa: E402
from pipeline.engines.openai_server import OpenAIEngine  # noqa: E402
from pipeline.stages.ingest import IngestOptions, ingest  # noqa: E402
from pipeline.stages.pairs.options import PairOptions  # noqa: E402
from pipeline.stages.pairs.run import make_pairs  # noqa: E402
from pipeline.stages.pairs.templates import judge_messages  # noqa: E402
from review_store import Store  # noqa: E402
from taxonomy import load_taxonomy  # noqa: E402

MODEL = "smollm2"


def timed(function):
    began = time.perf_counter()
    value = function()
    return value, time.perf_counter() - began


def generate_rate(engine, tokenizer, prompts: list[str], tokens: int) -> tuple[float, float]:
    """(tokens written per second, seconds) for one sampled answer to each prompt."""
    asked = [GenerateRequest(as_messages(p), temperature=0.7, top_p=0.9, max_tokens=tokens, seed=i)
             for i, p in enumerate(prompts)]
    answers, seconds = timed(lambda: engine.generate(asked))
    written = sum(len(tokenizer(g.texts[0], add_special_tokens=False)["input_ids"]) for g in answers)
    return written / seconds, seconds


def judge_rate(engine, records: list[dict]) -> tuple[float, float]:
    """(answers per second, seconds) for the judge's question on each demo pair's two responses."""
    asked = [ChoiceRequest(judge_messages(r["prompt"], "", "aligned", r[slot]), ("yes", "no"))
             for r in records for slot in ("aligned", "misaligned")]
    _, seconds = timed(lambda: engine.choice_probs(asked))
    return len(asked) / seconds, seconds


def pairs_rate(folder: Path, generator: str, config_text: str, records: list[dict], tokens: int) -> tuple[float, float]:
    """(pairs per minute, seconds) for the pairs stage on the records' prompts, into a fresh store."""
    config_path = folder / f"{generator}.toml"
    config_path.write_text(config_text, encoding="utf-8")
    prompts = folder / f"{generator}.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    taxonomy = load_taxonomy()
    with Store(folder / f"{generator}.db") as store:  # the prompts with the demo's own domains
        ingest(store, taxonomy, options=IngestOptions(prompts, source="bench", label_columns={
            d: d for d in taxonomy.dimension_names}, semantic_type_column="semantic_type", empty_label="none"))
        options = PairOptions(generators=(generator,), judge="embedded", labeler="imported:bench", k=1, rounds=0,
                              max_tokens=tokens, kind="harmful_compliance")
        _, seconds = timed(lambda: make_pairs(store, taxonomy, load_config(config_path), options))
        made = store.db.execute("SELECT count(*) FROM pairs").fetchone()[0]
    return 60 * made / seconds, seconds


def rows(prompts: int, tokens: int, concurrency: int, folder: Path) -> list[dict]:
    model = installed_path(MODEL)
    records = demo_records()[:prompts]
    texts = [r["prompt"] for r in records]
    local = HFEngine(str(model), device="cpu", batch_size=concurrency)
    tokenizer = local.tokenizer
    local.generate([GenerateRequest(as_messages("Hello"), max_tokens=4)])  # warm-up
    out = []
    with transformers_serve(model, "--continuous-batching") as url:
        served = OpenAIEngine(str(model), [url], concurrency=concurrency)
        served.generate([GenerateRequest(as_messages("Hello"), max_tokens=4)])  # warm-up
        for case, engine in (("in process", local), ("served", served)):
            rate, seconds = generate_rate(engine, tokenizer, texts, tokens)
            out.append({"stage": "generate", "case": case, "rate": rate, "unit": "tokens/s", "seconds": seconds})
        rate, seconds = judge_rate(local, records)
        out.append({"stage": "judge", "case": "in process", "rate": rate, "unit": "answers/s", "seconds": seconds})
        out.append({"stage": "judge", "case": "served", "rate": None, "unit": "answers/s", "seconds": None,
                    "note": "transformers serve returns no logprobs"})
        config = (f'[engines.local]\nbackend = "hf"\nmodel = "{model}"\ndevice = "cpu"\n'
                  f'[engines.served]\nbackend = "openai"\nmodel = "{model}"\nurls = ["{url}"]\n'
                  f'concurrency = {concurrency}\n')
        for case, generator in (("in process", "local"), ("served", "served")):
            rate, seconds = pairs_rate(folder, generator, config, records, tokens)
            out.append({"stage": "pairs", "case": case, "rate": rate, "unit": "pairs/min", "seconds": seconds})
    for row in out:
        base = next(r for r in out if r["stage"] == row["stage"] and r["case"] == "in process")
        row["ratio"] = row["rate"] / base["rate"] if row["rate"] else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--concurrency", type=int, default=4, help="in-process batch size and served concurrency")
    args = parser.parse_args()
    if not is_installed(MODEL):
        sys.exit(f"error: SmolLM2 is not installed: {install_hint(MODEL)}")
    with tempfile.TemporaryDirectory() as tmp:
        table = rows(args.prompts, args.tokens, args.concurrency, Path(tmp))
    if args.json:
        print(json.dumps(table, indent=2))
        return
    print(f"SmolLM2-135M-Instruct on CPU, {args.prompts} demo prompts, up to {args.tokens} tokens, "
          f"batch/concurrency {args.concurrency}; baseline: in process")
    print(f"{'stage':9} {'case':11} {'rate':>9} {'unit':10} {'seconds':>8} {'ratio':>6}")
    for row in table:
        rate = f"{row['rate']:.2f}" if row["rate"] else "-"
        seconds = f"{row['seconds']:.1f}" if row["seconds"] else "-"
        ratio = f"{row['ratio']:.2f}" if row["ratio"] else row.get("note", "-")
        print(f"{row['stage']:9} {row['case']:11} {rate:>9} {row['unit']:10} {seconds:>8} {ratio:>6}")


if __name__ == "__main__":
    main()
