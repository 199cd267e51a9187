"""The real model (SmolLM2-135M-Instruct) on CPU through every engine the studio has, in one run: transformers
in process (``hf``, the baseline) and `transformers serve`; vLLM's CPU build in process (``vllm``) and its
OpenAI server; llama.cpp in process (``llamacpp``, the GGUF as it ships) and its server.

1. generate, batch 1: one prompt at a time, tokens written per second.
2. generate, batched: every prompt at once (a batch in process, ``concurrency`` requests at a time served).
3. judge: the pairs judge's yes/no question per demo response, answers per second (first-token scoring).
   `transformers serve` returns no log-probabilities: its row says so.
4. pairs: the pairs stage (k = 1, no resampling) on demo prompts, the generator through the engine, the
   embedded judge; pairs per minute.

Each rate is also given as a ratio to transformers in process, measured in the same run; the machine's load
average is printed before and after. An engine that is not installed is a row that says so.

    python benchmarks/real_model.py [--json] [--prompts 8] [--tokens 64] [--concurrency 4] [--engines hf,llamacpp]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.serve import served  # noqa: E402
from pipeline.demo.run import demo_records  # noqa: E402
from pipeline.engines import ChoiceRequest, GenerateRequest, as_messages, open_engine  # noqa: E402
from pipeline.engines.config import load_config  # noqa: E402
from pipeline.engines.models import gguf_source, install_hint, installed_path, is_installed  # noqa: E402
from pipeline.engines.openai_server import OpenAIEngine  # noqa: E402
from pipeline.stages.ingest import IngestOptions, ingest  # noqa: E402
from pipeline.stages.pairs.options import PairOptions  # noqa: E402
from pipeline.stages.pairs.run import make_pairs  # noqa: E402
from pipeline.stages.pairs.templates import judge_messages  # noqa: E402
from review_store import Store  # noqa: E402
from taxonomy import load_taxonomy  # noqa: E402

MODEL = "smollm2"
# name: (backend in process or server kind, what it needs installed, in process?)
ENGINES = {
    "hf": ("hf", "transformers", True),
    "transformers serve": ("transformers", "transformers", False),
    "vllm": ("vllm", "vllm", True),
    "vllm serve": ("vllm", "vllm", False),
    "llamacpp": ("llamacpp", "llama_cpp", True),
    "llama.cpp server": ("llamacpp", "llama_cpp", False),
}
BASELINE = "hf"


def timed(function):
    began = time.perf_counter()
    value = function()
    return value, time.perf_counter() - began


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def generate_rows(engine, prompts: list[str], tokens: int) -> list[dict]:
    """Tokens written per second, one prompt at a time and all at once."""
    asked = [GenerateRequest(as_messages(p), temperature=0.7, top_p=0.9, max_tokens=tokens, seed=i)
             for i, p in enumerate(prompts)]
    rows = []
    for stage, batches in (("generate, batch 1", [[r] for r in asked]), ("generate, batched", [asked])):
        answers, seconds = timed(lambda: [g for batch in batches for g in engine.generate(batch)])
        written = sum(sum(g.completion_tokens) for g in answers)
        rows.append({"stage": stage, "rate": written / seconds, "unit": "tokens/s", "seconds": seconds})
    return rows


def judge_row(engine, records: list[dict]) -> dict:
    asked = [ChoiceRequest(judge_messages(r["prompt"], "", "aligned", r[slot]), ("yes", "no"))
             for r in records for slot in ("aligned", "misaligned")]
    answers, seconds = timed(lambda: engine.choice_probs(asked))
    return {"stage": "judge", "rate": len(asked) / seconds, "unit": "answers/s", "seconds": seconds,
            "usable": sum(bool(a) for a in answers)}


def pairs_row(folder: Path, name: str, settings: str, records: list[dict], tokens: int) -> dict:
    """Pairs per minute for the pairs stage on the records' prompts, into a fresh store."""
    slug = "".join(c if c.isalnum() else "-" for c in name)
    config_path = folder / f"{slug}.toml"
    config_path.write_text(f"[engines.gen]\n{settings}\n", encoding="utf-8")
    prompts = folder / f"{slug}.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    taxonomy = load_taxonomy()
    with Store(folder / f"{slug}.db") as store:  # the prompts with the demo's own domains
        ingest(store, taxonomy, options=IngestOptions(prompts, source="bench", label_columns={
            d: d for d in taxonomy.dimension_names}, semantic_type_column="semantic_type", empty_label="none"))
        options = PairOptions(generators=("gen",), judge="embedded", labeler="imported:bench", k=1, rounds=0,
                              max_tokens=tokens, kind="harmful_compliance")
        _, seconds = timed(lambda: make_pairs(store, taxonomy, load_config(config_path), options))
        made = store.db.execute("SELECT count(*) FROM pairs").fetchone()[0]
    return {"stage": "pairs", "rate": 60 * made / seconds, "unit": "pairs/min", "seconds": seconds}


def open_one(name: str, stack: ExitStack, concurrency: int) -> tuple[object, str]:
    """The engine called ``name``, opened (its server started), and its misalign.toml settings."""
    backend, _, in_process = ENGINES[name]
    directory, gguf = installed_path(MODEL), gguf_source(MODEL)
    if in_process:
        options = {"hf": {"device": "cpu", "batch_size": concurrency}, "vllm": {"dtype": "float32"},
                   "llamacpp": {}}[backend]
        model = str(gguf) if backend == "llamacpp" else str(directory)
        settings = f'backend = "{backend}"\nmodel = "{model}"\n' + "".join(
            f"{k} = {json.dumps(v)}\n" for k, v in options.items())
        return open_engine(backend, model, options), settings
    model = str(gguf) if backend == "llamacpp" else str(directory)
    extra = ("--continuous-batching",) if backend == "transformers" else ()
    url = stack.enter_context(served(backend, model, *extra, ready_within=400))
    settings = f'backend = "openai"\nmodel = "{model}"\nurls = ["{url}"]\nconcurrency = {concurrency}\n'
    return OpenAIEngine(model, [url], concurrency=concurrency), settings


def rows(names: list[str], prompts: int, tokens: int, concurrency: int, folder: Path) -> list[dict]:
    records = demo_records()[:prompts]
    texts = [r["prompt"] for r in records]
    out = []
    for name in names:
        _, module, _ = ENGINES[name]
        if importlib.util.find_spec(module) is None:
            out.append({"engine": name, "stage": "all", "note": f"{module} is not installed"})
            continue
        print(f"{name}: opening (load {load()})", file=sys.stderr, flush=True)
        with ExitStack() as stack:
            (engine, settings), opened = timed(lambda: open_one(name, stack, concurrency))
            engine.generate([GenerateRequest(as_messages("Hello"), max_tokens=4)])  # warm-up
            found = generate_rows(engine, texts, tokens)
            if name == "transformers serve":
                found.append({"stage": "judge", "rate": None, "unit": "answers/s", "seconds": None,
                              "note": "no log-probabilities"})
            else:
                found.append(judge_row(engine, records))
            found.append(pairs_row(folder, name, settings, records, tokens))
        for row in found:
            out.append({"engine": name, "open_s": opened, **row})
        print(f"{name}: done (load {load()})", file=sys.stderr, flush=True)
    for row in out:
        base = next((r for r in out if r["engine"] == BASELINE and r["stage"] == row["stage"]), None)
        row["ratio"] = row["rate"] / base["rate"] if row.get("rate") and base and base.get("rate") else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=4, help="in-process batch size and served concurrency")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, of: {', '.join(ENGINES)}")
    args = parser.parse_args()
    names = [n.strip() for n in args.engines.split(",") if n.strip()]
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        sys.exit(f"error: --engines: no engine '{unknown[0]}' ({', '.join(ENGINES)})")
    if not is_installed(MODEL):
        sys.exit(f"error: SmolLM2 is not installed: {install_hint(MODEL)}")
    before = load()
    with tempfile.TemporaryDirectory() as tmp:
        table = rows(names, args.prompts, args.tokens, args.concurrency, Path(tmp))
    after = load()
    if args.json:
        print(json.dumps({"load_before": before, "load_after": after, "cpus": os.cpu_count(), "rows": table}, indent=2))
        return
    print(f"SmolLM2-135M-Instruct on {os.cpu_count()} CPUs, {args.prompts} demo prompts, up to {args.tokens} tokens, "
          f"batch/concurrency {args.concurrency}; ratio to {BASELINE} in process; load {before} before, {after} after")
    print(f"{'engine':18} {'stage':18} {'rate':>9} {'unit':10} {'seconds':>8} {'ratio':>6}  {'opened':>7}")
    for row in table:
        rate = f"{row['rate']:.2f}" if row.get("rate") else "-"
        seconds = f"{row['seconds']:.1f}" if row.get("seconds") else "-"
        ratio = f"{row['ratio']:.2f}" if row.get("ratio") else row.get("note", "-")
        opened = f"{row['open_s']:.1f}s" if "open_s" in row else ""
        print(f"{row['engine']:18} {row['stage']:18} {rate:>9} {row.get('unit', ''):10} {seconds:>8} {ratio:>6}  "
              f"{opened:>7}")


if __name__ == "__main__":
    main()
