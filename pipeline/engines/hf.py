"""The ``hf`` backend: transformers on any local model directory, CPU or GPU.

Chat templates, left padding, batched generation (requests grouped by sampling parameters) and
option scoring: one-word options (yes/no) from the first answer token's whole distribution, by the
one definition in :mod:`pipeline.engines.first_token`; options of several words by the summed
log-probability of their tokens after the prompt, normalised over the options. With ``steer = {vector = PATH, strength = α,
layers = [...]}`` every call runs with the steering vector added (:mod:`pipeline.engines.steering`);
the engine's model id then names the vector and α, so its cached answers are its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from pathlib import Path

import numpy as np

from pipeline.engines.first_token import by_first_token, counts_for, first_token_probs, token_word
from pipeline.engines.protocol import ChoiceRequest, Engine, EngineError, Generation, GenerateRequest, Messages, normalise
from pipeline.engines.steering import SteeringVector, steered


class HFEngine(Engine):
    backend = "hf"

    def __init__(self, model: str, device: str | None = None, dtype: str = "auto", batch_size: int = 16,
                 steer: dict | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # its loading bars are not ours to show

        path = Path(model).expanduser()
        if not (path / "config.json").is_file():
            raise EngineError(f"hf: {model}: not a local model directory (no config.json); models are never downloaded")
        self.model = str(path.resolve())
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size = batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.network = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype).to(self.device)
        self.network.eval()
        self._torch = torch
        self._words: list[str] | None = None
        self._ids: dict[str, list[int]] = {}
        self.vector, self.strength = None, 0.0
        if steer:
            self.vector, self.strength = steering(steer)
            self.model += f"+steer:{self.vector.provenance.get('id', Path(steer['vector']).stem)}@{self.strength:g}"

    def _steered(self):
        return steered(self.network, self.vector, self.strength)

    def _prompt(self, messages: Messages) -> str:
        chat = [{"role": role, "content": content} for role, content in messages]
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        return "\n".join(content for _, content in messages) + "\n"

    def _encode(self, texts: list[str]):
        # a chat template writes its own special tokens
        special = not self.tokenizer.chat_template
        return self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=special).to(self.device)

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        results: dict[int, Generation] = {}
        ordered = sorted(range(len(requests)), key=lambda i: repr(requests[i].sampling_key()))
        for _, group in groupby(ordered, key=lambda i: repr(requests[i].sampling_key())):
            group = list(group)
            for begin in range(0, len(group), self.batch_size):
                batch = group[begin:begin + self.batch_size]
                for i, generation in zip(batch, self._generate_batch([requests[i] for i in batch])):
                    results[i] = generation
        return [results[i] for i in range(len(requests))]

    def _generate_batch(self, requests: list[GenerateRequest]) -> list[Generation]:
        torch, first = self._torch, requests[0]
        inputs = self._encode([self._prompt(r.messages) for r in requests])
        if first.seed is not None:
            torch.manual_seed(first.seed)  # one seed per batch: requests here share sampling parameters
        sample = first.temperature > 0
        with torch.no_grad(), self._steered():
            output = self.network.generate(
                **inputs, max_new_tokens=first.max_tokens, do_sample=sample, num_return_sequences=first.n,
                pad_token_id=self.tokenizer.pad_token_id,
                **({"temperature": first.temperature, "top_p": first.top_p} if sample else {}),
                **({"repetition_penalty": first.repetition_penalty} if first.repetition_penalty else {}))
        new_tokens = output[:, inputs["input_ids"].shape[1]:].tolist()
        prompt_lengths = inputs["attention_mask"].sum(dim=1).tolist()
        eos = self.tokenizer.eos_token_id
        generations = []
        for r, request in enumerate(requests):
            texts, reasons, counts = [], [], []
            for tokens in new_tokens[r * first.n:(r + 1) * first.n]:
                reason = "length"
                if eos in tokens:
                    tokens, reason = tokens[:tokens.index(eos)], "stop"
                text = self.tokenizer.decode(tokens, skip_special_tokens=True)
                cut = min((text.find(s) for s in request.stop if s in text), default=-1)
                if cut >= 0:
                    text, reason = text[:cut], "stop"
                texts.append(text)
                reasons.append(reason)
                counts.append(len(tokens))
            generations.append(Generation(texts, reasons, int(prompt_lengths[r]), counts))
        return generations

    def continuation_ids(self, prompt: str, continuation: str) -> tuple[list[int], list[int]]:
        """Token ids of a prompt (special tokens only where no chat template wrote them) and of a
        continuation read right after it."""
        special = not self.tokenizer.chat_template
        return (self.tokenizer(prompt, add_special_tokens=special)["input_ids"],
                self.tokenizer(continuation, add_special_tokens=False)["input_ids"])

    def option_logprobs(self, prompts: list[str], options: list[str]) -> np.ndarray:
        """Summed log-probability of each option's tokens after its prompt (one row per pair)."""
        torch = self._torch
        pieces = [self.continuation_ids(p, o) for p, o in zip(prompts, options)]
        option_ids = [o for _, o in pieces]
        sequences = [p + o for p, o in pieces]
        width = max(len(s) for s in sequences)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(s)) + s for s in sequences], device=self.device)
        mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in sequences], device=self.device)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        with torch.no_grad(), self._steered():
            logits = self.network(input_ids=ids, attention_mask=mask, position_ids=positions).logits.float()
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
        scores = []
        for row, option in enumerate(option_ids):
            n = len(option)
            targets = ids[row, width - n:]
            scores.append(logprobs[row, width - n - 1:width - 1].gather(1, targets[:, None]).sum().item())
        return np.array(scores)

    def _option_ids(self, option: str) -> list[int]:
        """The vocabulary ids whose token counts for ``option`` as a first answer token."""
        if self._words is None:  # every token's word, once per engine
            self._words = [token_word(t) for t in self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))])]
        if option not in self._ids:
            self._ids[option] = [i for i, w in enumerate(self._words) if counts_for(w, option)]
        return self._ids[option]

    def first_token_distributions(self, prompts: list[str]):
        """The next-token probabilities after each prompt (one row per prompt)."""
        torch = self._torch
        inputs = self._encode(prompts)
        positions = (inputs["attention_mask"].cumsum(dim=1) - 1).clamp(min=0)
        with torch.no_grad(), self._steered():
            # the last position's logits only: the others (~1.1 GB a batch of 16 on SmolLM2) are never read
            logits = self.network(**inputs, position_ids=positions, logits_to_keep=1).logits[:, -1].float()
        return torch.softmax(logits, dim=-1)

    def _first_token_choices(self, requests: list[ChoiceRequest]) -> list[dict[str, float]]:
        results = []
        for begin in range(0, len(requests), self.batch_size):
            batch = requests[begin:begin + self.batch_size]
            distributions = self.first_token_distributions([self._prompt(r.messages) for r in batch])
            for request, row in zip(batch, distributions):
                tokens = [(o, float(row[self._option_ids(o)].sum())) for o in request.options]
                results.append(first_token_probs(request.options, tokens) or {})
        return results

    def choice_probs(self, requests: Sequence[ChoiceRequest]) -> list[dict[str, float]]:
        """One-word options from the first answer token (:mod:`pipeline.engines.first_token`), others by the
        summed log-probability of their whole token sequence, normalised over the options."""
        first = [i for i, r in enumerate(requests) if by_first_token(r.options)]
        results: dict[int, dict[str, float]] = dict(zip(first, self._first_token_choices([requests[i] for i in first])))
        rest = [requests[i] for i in range(len(requests)) if i not in results]
        pairs = [(r, option) for r in rest for option in r.options]
        scores = np.concatenate([
            self.option_logprobs([self._prompt(r.messages) for r, _ in pairs[b:b + self.batch_size]],
                                 [o for _, o in pairs[b:b + self.batch_size]])
            for b in range(0, len(pairs), self.batch_size)]) if pairs else np.zeros(0)
        cursor, others = 0, iter(i for i in range(len(requests)) if i not in results)
        for request in rest:
            k = len(request.options)
            results[next(others)] = dict(zip(request.options, normalise(scores[cursor:cursor + k]).tolist()))
            cursor += k
        return [results[i] for i in range(len(requests))]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise EngineError("hf: this backend does not embed; use an 'embed' engine")


def steering(options: dict) -> tuple[SteeringVector, float]:
    """The vector (restricted to ``layers`` when given) and strength an engine's ``steer`` table names."""
    vector = SteeringVector.load(options["vector"])
    if options.get("layers") is not None:
        missing = [i for i in options["layers"] if i not in vector.layers]
        if missing:
            raise EngineError(f"steer: the vector has no layer {missing[0]} (it has {sorted(vector.layers)})")
        vector = SteeringVector({i: vector.layers[i] for i in options["layers"]}, vector.provenance)
    return vector, float(options.get("strength", 1.0))
