"""The ``openai`` backend: any OpenAI-compatible server (``vllm serve``, ``transformers serve``,
TGI, llama.cpp) at one or more base URLs, with the API key read from the environment.

Several URLs are replicas of one model: each takes at most ``concurrency`` requests at a time, a
request goes to the least busy server that is up, and a server that fails (no connection, a timeout,
HTTP 408/409/425/429/5xx) is set aside, its request sent to another, and tried again later: after an
exponential backoff with jitter, or when its ``Retry-After`` says. A request fails only when every
server has failed it ``retries + 1`` times. Servers are checked (``GET /models``) when the engine
starts; ``server_stats()`` tells what each answered, failed and how fast.

``choice_probs`` reads the first generated token's ``top_logprobs`` (the 20 likeliest) and scores the
options by :mod:`pipeline.engines.first_token`; a server that returns no log-probabilities is an error.
"""

from __future__ import annotations

import math
import os
import random
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

import httpx
import numpy as np

from pipeline.engines.first_token import TOP_LOGPROBS, first_token_probs
from pipeline.engines.protocol import ChoiceRequest, Engine, EngineError, Generation, GenerateRequest, Messages

RETRIED_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_BACKOFF_S = 30.0
PATIENCE_S = 10.0  # the longest a wait goes without a line


def probs_from_top_logprobs(options: Sequence[str], top: list[dict]) -> dict[str, float]:
    """Option probabilities from the first token's ``top_logprobs`` ([{token, logprob}, ...]) by the one
    definition of :mod:`pipeline.engines.first_token`; ``{}`` (unusable) when no listed token begins an option.

    >>> probs_from_top_logprobs(["yes", "no"], [{"token": " yes", "logprob": -0.1}, {"token": "No", "logprob": -2.4}])
    {'yes': 0.908..., 'no': 0.091...}
    """
    return first_token_probs(options, [(t["token"], math.exp(t["logprob"])) for t in top]) or {}


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a server asks to wait before the next request (``Retry-After`` in seconds), if any.

    >>> retry_after(httpx.Response(429, headers={"Retry-After": "2"})), retry_after(httpx.Response(503))
    (2.0, None)
    """
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


class Server:
    """One base URL: requests in flight, when it may be tried again, what it answered and failed."""

    def __init__(self, url: str):
        self.url = url
        self.in_flight = 0
        self.down_until = 0.0  # time.monotonic() before which it gets no request
        self.failures = 0  # in a row
        self.answered = 0
        self.failed = 0
        self.seconds = 0.0  # spent on the requests it answered
        self.problem = ""  # what its last failure was

    def stats(self) -> dict:
        return {"answered": self.answered, "failed": self.failed,
                "answered_per_s": round(self.answered / self.seconds, 2) if self.seconds else None}


class OpenAIEngine(Engine):
    backend = "openai"

    def __init__(self, model: str, urls: Sequence[str], api_key_env: str = "OPENAI_API_KEY", concurrency: int = 4,
                 timeout: float = 60.0, retries: int = 3, backoff: float = 0.5, start_timeout: float = 300.0):
        if not urls:
            raise EngineError("openai: give at least one base URL (e.g. http://127.0.0.1:8000/v1)")
        self.model = model
        self.servers = [Server(u.rstrip("/")) for u in urls]
        self.concurrency, self.retries, self.backoff = concurrency, retries, backoff
        key = os.environ.get(api_key_env, "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(headers=headers, timeout=timeout,
                                   limits=httpx.Limits(max_connections=concurrency * len(self.servers)))
        self._ready = threading.Condition()
        self._random = random.Random(0)
        self.ignores_n = False  # found out on the first request for n > 1 that came back with fewer
        self._wait_for_a_server(start_timeout)

    def _answers(self, server: Server) -> bool:
        """Whether the server is up (``GET /models`` answers 200)."""
        try:
            response = self.client.get(f"{server.url}/models", timeout=min(5.0, self.client.timeout.read or 5.0))
        except httpx.HTTPError as exc:
            server.problem = f"not answering ({exc.__class__.__name__})"
            return False
        server.problem = "" if response.status_code == 200 else f"HTTP {response.status_code} to GET /models"
        return response.status_code == 200

    def _wait_for_a_server(self, start_timeout: float) -> None:
        """Until one server answers (one that is starting loads its model first), for at most ``start_timeout``
        seconds, with a line every 10 s; the servers not answering then are set aside and tried again later."""
        began = time.monotonic()
        said = began - PATIENCE_S
        while True:
            up = [s for s in self.servers if self._answers(s)]
            waited = time.monotonic() - began
            if up or waited >= start_timeout:
                break
            if time.monotonic() - said >= PATIENCE_S:
                said = time.monotonic()
                print(f"openai: waiting for {', '.join(s.url for s in self.servers)} to answer (a server that is "
                      f"starting loads its model first): {waited:.0f} s of at most {start_timeout:.0f} s",
                      file=sys.stderr, flush=True)
            time.sleep(min(1.0, max(0.0, start_timeout - waited)))
        if not up and start_timeout > 0:
            down = "; ".join(f"{s.url}: {s.problem}" for s in self.servers)
            raise EngineError(f"openai: no server answered within {start_timeout:.0f} s ({down}); start one, or "
                              "give engines.NAME.start_timeout more seconds")
        for server in self.servers:
            if server not in up:
                self._set_aside(server, None)

    def server_stats(self) -> dict[str, dict]:
        """Per base URL: requests answered, failed attempts, answered per second of its own time."""
        return {s.url: s.stats() for s in self.servers}

    def _take(self) -> Server:
        """The least busy server that is up and has a free slot, waiting while there is none."""
        with self._ready:
            while True:
                now = time.monotonic()
                free = [s for s in self.servers if s.down_until <= now and s.in_flight < self.concurrency]
                if free:
                    server = min(free, key=lambda s: (s.in_flight, s.answered))
                    server.in_flight += 1
                    return server
                later = [s.down_until for s in self.servers if s.down_until > now]
                self._ready.wait(timeout=max(0.01, min(later) - now) if later else None)

    def _give_back(self, server: Server) -> None:
        with self._ready:
            server.in_flight -= 1
            self._ready.notify_all()

    def _set_aside(self, server: Server, wait: float | None) -> None:
        """After a failure: no requests for the server's ``Retry-After``, else an exponential backoff with jitter."""
        with self._ready:
            server.failures += 1
            server.failed += 1
            if wait is None:
                wait = min(MAX_BACKOFF_S, self.backoff * 2 ** (server.failures - 1)) * (1 + 0.5 * self._random.random())
            server.down_until = time.monotonic() + wait
            self._ready.notify_all()

    def _stop_if_all_down(self) -> None:
        """When every server has failed ``retries + 1`` times in a row: stop, with what each last said (rather
        than wait on servers that are gone; what was answered is already in the cache)."""
        with self._ready:
            if all(s.failures > self.retries for s in self.servers):
                down = "; ".join(f"{s.url}: {s.problem} ({s.failures} tries in a row)" for s in self.servers)
                raise EngineError(f"openai: every server is down ({down}); the answers so far are kept, run again "
                                  "to resume")

    def _post(self, path: str, body: dict) -> dict:
        attempts = (self.retries + 1) * len(self.servers)
        for _ in range(attempts):
            self._stop_if_all_down()
            server = self._take()
            url, began, wait = server.url + path, time.perf_counter(), None
            try:
                response = self.client.post(url, json=body)
            except httpx.TimeoutException:
                problem = f"timed out after {self.client.timeout.read} s"
            except httpx.TransportError as exc:
                problem = f"could not connect ({exc.__class__.__name__})"
            else:
                if response.status_code < 400:
                    with self._ready:
                        server.failures, server.answered = 0, server.answered + 1
                        server.seconds += time.perf_counter() - began
                    self._give_back(server)
                    return response.json()
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code not in RETRIED_STATUS:
                    self._give_back(server)
                    raise EngineError(f"openai: {url}: {problem}")
                wait = retry_after(response)
            server.problem = problem
            self._set_aside(server, wait)
            self._give_back(server)
        self._stop_if_all_down()
        raise EngineError(f"openai: {url}: {problem} (after {attempts} tries)")

    @staticmethod
    def _messages(messages: Messages) -> list[dict]:
        return [{"role": role, "content": content} for role, content in messages]

    def _generate_one(self, request: GenerateRequest) -> Generation:
        body = {"model": self.model, "messages": self._messages(request.messages), "temperature": request.temperature,
                "top_p": request.top_p, "max_tokens": request.max_tokens}
        if request.stop:
            body["stop"] = list(request.stop)
        if request.repetition_penalty is not None:  # vLLM's name for it (an extra parameter of its server)
            body["repetition_penalty"] = request.repetition_penalty
        texts, reasons, counts, prompt_tokens = [], [], [], 0
        while len(texts) < request.n:
            missing = request.n - len(texts)
            asked = {**body, "n": missing} if missing > 1 else dict(body)
            if request.seed is not None:  # each further draw its own seed: asking again is not the same draw
                asked["seed"] = request.seed + len(texts)
            answer = self._post("/chat/completions", asked)
            choices = answer.get("choices") or []
            if not choices:
                raise EngineError(f"openai: {self.model}: the server answered with no choices")
            if missing > 1 and len(choices) < missing:
                self._ignores_n(len(choices), missing)
            usage = answer.get("usage") or {}
            prompt_tokens = usage.get("prompt_tokens", prompt_tokens)
            for choice in choices:
                texts.append(choice["message"].get("content") or "")
                reasons.append(choice.get("finish_reason") or "stop")
                counts.append(usage.get("completion_tokens", 0) // len(choices))
        return Generation(texts[:request.n], reasons[:request.n], prompt_tokens, counts[:request.n])

    def _ignores_n(self, got: int, asked: int) -> None:
        """Said once: the server answered fewer than n choices, so each further one is asked for alone."""
        with self._ready:
            if self.ignores_n:
                return
            self.ignores_n = True
        print(f"openai: {self.model}: the server ignores n (gave {got} of {asked} answers): asking once per "
              "candidate, each with its own seed", file=sys.stderr, flush=True)

    def _each(self, function, requests: Sequence) -> Iterator[tuple[int, object]]:
        """``(index, answer)`` as each request is answered, every server's slots busy at once."""
        workers = self.concurrency * len(self.servers)
        if workers == 1 or len(requests) == 1:
            for i, request in enumerate(requests):
                yield i, function(request)
            return
        with ThreadPoolExecutor(workers) as pool:
            futures = {pool.submit(function, r): i for i, r in enumerate(requests)}
            try:
                for future in as_completed(futures):
                    yield futures[future], future.result()
            finally:  # a failure or a caller that stops: nothing more is sent
                for future in futures:
                    future.cancel()

    def _map(self, function, requests: Sequence) -> list:
        answers = dict(self._each(function, requests))
        return [answers[i] for i in range(len(requests))]

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        return self._map(self._generate_one, requests)

    def generate_each(self, requests: Sequence[GenerateRequest]) -> Iterator[tuple[int, Generation]]:
        """Answers as they arrive, so the cache keeps each at once (a cut-off run loses only those in flight)."""
        return self._each(self._generate_one, requests)

    def _choice_one(self, request: ChoiceRequest) -> dict[str, float]:
        answer = self._post("/chat/completions", {
            "model": self.model, "messages": self._messages(request.messages), "max_tokens": 1,
            "temperature": 0, "logprobs": True, "top_logprobs": TOP_LOGPROBS})
        try:
            top = answer["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        except (KeyError, IndexError, TypeError):
            urls = ", ".join(s.url for s in self.servers)
            raise EngineError(f"openai: {urls} gave no log-probabilities, which scoring options (a judge, a detector, "
                              "labelling) needs: start llama.cpp's server with --logits_all true or vllm serve with "
                              "--max-logprobs 20 (transformers serve gives none), or use the hf, vllm or llamacpp "
                              "backend") from None
        return probs_from_top_logprobs(request.options, top)

    def choice_probs(self, requests: Sequence[ChoiceRequest]) -> list[dict[str, float]]:
        return self._map(self._choice_one, requests)

    def choice_probs_each(self, requests: Sequence[ChoiceRequest]) -> Iterator[tuple[int, dict[str, float]]]:
        """Option probabilities as they arrive (see :meth:`generate_each`)."""
        return self._each(self._choice_one, requests)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        answer = self._post("/embeddings", {"model": self.model, "input": list(texts)})
        return np.array([row["embedding"] for row in answer["data"]], dtype=np.float32)
