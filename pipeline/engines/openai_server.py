"""The ``openai`` backend: any OpenAI-compatible server (``vllm serve``, ``transformers serve``,
TGI, llama.cpp) at one or more base URLs, with bounded concurrency, retries with exponential
backoff, timeouts, and the API key read from the environment.

``choice_probs`` reads the first generated token's ``top_logprobs`` and gives each option the
probability of the token that begins it; a server that returns no log-probabilities is an error.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np

from pipeline.engines.protocol import ChoiceRequest, EngineError, Generation, GenerateRequest, Messages, normalise

RETRIED_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


def probs_from_top_logprobs(options: Sequence[str], top: list[dict]) -> dict[str, float]:
    """Option probabilities from the first token's ``top_logprobs`` ([{token, logprob}, ...]).

    Each option takes the log-probability of the likeliest listed token it begins with; an option
    no listed token begins gets a floor below every listed one; the scores are then normalised.

    >>> probs_from_top_logprobs(["yes", "no"], [{"token": " yes", "logprob": -0.1}, {"token": "no", "logprob": -2.4}])
    {'yes': 0.908..., 'no': 0.091...}
    """
    scores = []
    for option in options:
        matching = [t["logprob"] for t in top if t["token"].strip() and option.strip().startswith(t["token"].strip())]
        scores.append(max(matching) if matching else -math.inf)
    scores = np.array(scores)
    if np.isinf(scores).all():
        return {o: 1.0 / len(options) for o in options}
    floor = min(t["logprob"] for t in top) - math.log(len(options))
    return dict(zip(options, normalise(np.where(np.isinf(scores), floor, scores)).tolist()))


class OpenAIEngine:
    backend = "openai"

    def __init__(self, model: str, urls: Sequence[str], api_key_env: str = "OPENAI_API_KEY", concurrency: int = 4,
                 timeout: float = 60.0, retries: int = 3, backoff: float = 0.5):
        if not urls:
            raise EngineError("openai: give at least one base URL (e.g. http://127.0.0.1:8000/v1)")
        self.model = model
        self.urls = [u.rstrip("/") for u in urls]
        self.concurrency, self.retries, self.backoff = concurrency, retries, backoff
        key = os.environ.get(api_key_env, "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(headers=headers, timeout=timeout,
                                   limits=httpx.Limits(max_connections=concurrency * len(self.urls)))
        self._next_url = itertools.cycle(self.urls)
        self._lock = threading.Lock()

    def _post(self, path: str, body: dict) -> dict:
        for attempt in range(self.retries + 1):
            with self._lock:
                url = next(self._next_url) + path
            try:
                response = self.client.post(url, json=body)
            except httpx.TimeoutException:
                problem = f"timed out after {self.client.timeout.read} s"
            except httpx.TransportError as exc:
                problem = f"could not connect ({exc.__class__.__name__})"
            else:
                if response.status_code < 400:
                    return response.json()
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code not in RETRIED_STATUS:
                    raise EngineError(f"openai: {url}: {problem}")
            if attempt < self.retries:
                time.sleep(self.backoff * 2 ** attempt)
        raise EngineError(f"openai: {url}: {problem} (after {self.retries + 1} tries)")

    @staticmethod
    def _messages(messages: Messages) -> list[dict]:
        return [{"role": role, "content": content} for role, content in messages]

    def _generate_one(self, request: GenerateRequest) -> Generation:
        body = {"model": self.model, "messages": self._messages(request.messages), "temperature": request.temperature,
                "top_p": request.top_p, "max_tokens": request.max_tokens}
        if request.seed is not None:
            body["seed"] = request.seed
        if request.stop:
            body["stop"] = list(request.stop)
        texts, reasons, counts, prompt_tokens = [], [], [], 0
        while len(texts) < request.n:  # some servers ignore n > 1: ask again for the rest
            missing = request.n - len(texts)
            answer = self._post("/chat/completions", {**body, "n": missing} if missing > 1 else body)
            choices = answer.get("choices") or []
            if not choices:
                raise EngineError(f"openai: {self.model}: the server answered with no choices")
            usage = answer.get("usage") or {}
            prompt_tokens = usage.get("prompt_tokens", prompt_tokens)
            for choice in choices:
                texts.append(choice["message"].get("content") or "")
                reasons.append(choice.get("finish_reason") or "stop")
                counts.append(usage.get("completion_tokens", 0) // len(choices))
        return Generation(texts[:request.n], reasons[:request.n], prompt_tokens, counts[:request.n])

    def _map(self, function, requests: Sequence) -> list:
        if self.concurrency == 1 or len(requests) == 1:
            return [function(r) for r in requests]
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(function, requests))

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        return self._map(self._generate_one, requests)

    def _choice_one(self, request: ChoiceRequest) -> dict[str, float]:
        answer = self._post("/chat/completions", {
            "model": self.model, "messages": self._messages(request.messages), "max_tokens": 1,
            "temperature": 0, "logprobs": True, "top_logprobs": 20})
        try:
            top = answer["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        except (KeyError, IndexError, TypeError):
            raise EngineError(f"openai: {self.model}: the server gave no logprobs, which choice_probs needs; "
                              "use a server that returns them (vllm serve does) or the hf/vllm backend") from None
        return probs_from_top_logprobs(request.options, top)

    def choice_probs(self, requests: Sequence[ChoiceRequest]) -> list[dict[str, float]]:
        return self._map(self._choice_one, requests)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        answer = self._post("/embeddings", {"model": self.model, "input": list(texts)})
        return np.array([row["embedding"] for row in answer["data"]], dtype=np.float32)
