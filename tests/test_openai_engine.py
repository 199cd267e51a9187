"""The openai backend against a real `transformers serve` on 127.0.0.1 with the tiny model."""

import numpy as np
import pytest

from benchmarks.serve import transformers_serve
from pipeline.app.serving import free_port
from pipeline.engines import ChoiceRequest, EngineError, GenerateRequest, as_messages
from pipeline.engines.openai_server import OpenAIEngine, probs_from_top_logprobs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served_model(tiny_model):
    """`transformers serve` with the tiny model, started for real and stopped after the module."""
    with transformers_serve(tiny_model) as url:
        yield url, str(tiny_model)


def ask(text, **sampling):
    return GenerateRequest(as_messages(text), max_tokens=5, temperature=0, **sampling)


def test_generation_through_the_server(served_model):
    url, model = served_model
    [generation] = OpenAIEngine(model, [url]).generate([ask("Tell me about a festival")])
    assert len(generation.texts) == 1 and isinstance(generation.texts[0], str)
    assert generation.finish_reasons[0] in {"stop", "length"}


def test_concurrent_requests_all_come_back_in_order(served_model):
    url, model = served_model
    engine = OpenAIEngine(model, [url], concurrency=4)
    prompts = [f"Question number {i} about museums" for i in range(8)]
    concurrent = engine.generate([ask(p) for p in prompts])
    serial = OpenAIEngine(model, [url], concurrency=1).generate([ask(p) for p in prompts])
    assert [g.texts for g in concurrent] == [g.texts for g in serial]


def test_a_server_error_is_reported_with_the_url(served_model):
    url, _ = served_model
    engine = OpenAIEngine("no-such-model-anywhere", [url], retries=1, backoff=0.01)
    with pytest.raises(EngineError, match=r"openai: http://127\.0\.0\.1:\d+/v1/chat/completions: HTTP \d{3}"):
        engine.generate([ask("hello")])


def test_a_timeout_is_retried_then_reported(served_model):
    url, model = served_model
    engine = OpenAIEngine(model, [url], timeout=0.001, retries=2, backoff=0.01)
    with pytest.raises(EngineError, match=r"timed out after 0\.001 s \(3 tries in a row\)"):
        engine.generate([ask("hello", n=1)])


def test_an_unreachable_url_is_reported():
    engine = OpenAIEngine("m", [f"http://127.0.0.1:{free_port()}/v1"], retries=1, backoff=0.01, start_timeout=0)
    with pytest.raises(EngineError, match="could not connect"):
        engine.generate([ask("hello")])


def test_n_answers_are_topped_up_when_the_server_returns_fewer(served_model):
    url, model = served_model
    [generation] = OpenAIEngine(model, [url]).generate([ask("hello", n=3)])
    assert len(generation.texts) == 3 and len(generation.finish_reasons) == 3


def test_choice_probs_without_server_logprobs_is_a_clear_error(served_model):
    url, model = served_model
    with pytest.raises(EngineError, match=r"gave no log-probabilities, .* --logits_all true .* --max-logprobs 20"):
        OpenAIEngine(model, [url]).choice_probs([ChoiceRequest(as_messages("Safe?"), ("yes", "no"))])


def test_option_probabilities_from_top_logprobs_match_a_hand_computation():
    top = [{"token": " yes", "logprob": -0.2}, {"token": "Ye", "logprob": -1.0}, {"token": "no", "logprob": -1.8},
           {"token": " ", "logprob": -3.0}, {"token": "This", "logprob": -0.5}]
    probs = probs_from_top_logprobs(["yes", "no", "maybe"], top)
    # yes: " yes" and "Ye" (a prefix of the word, any case); no: "no"; maybe: nothing; " " and "This" count for none
    mass = np.exp([-0.2, -1.0, -1.8])
    expected = [(mass[0] + mass[1]) / mass.sum(), mass[2] / mass.sum(), 0.0]
    assert [probs[o] for o in ("yes", "no", "maybe")] == pytest.approx(expected)


def test_no_option_among_the_top_logprobs_is_unusable_not_a_no():
    assert probs_from_top_logprobs(["yes", "no"], [{"token": "This", "logprob": -0.1}]) == {}


def test_a_replica_killed_mid_run_costs_no_request_and_is_used_again_once_back(tiny_model, store, tmp_path):
    """Two real `transformers serve` replicas; one is SIGKILLed while the run is under way."""
    import threading
    import time

    from benchmarks.serve import start_server, stop_server
    from pipeline.engines import CachedEngine, server_notes

    ports = free_port(), free_port()
    urls = [f"http://127.0.0.1:{port}/v1" for port in ports]
    steady, doomed = (start_server(tiny_model, port, tmp_path) for port in ports)
    try:
        engine = OpenAIEngine(str(tiny_model), urls, concurrency=2, retries=2, backoff=0.2)
        requests = [GenerateRequest(as_messages(f"Tell me about festival number {i}"), max_tokens=24, temperature=0)
                    for i in range(40)]

        def kill_once_it_has_answered_some():
            while engine.server_stats()[urls[1]]["answered"] < 3:
                time.sleep(0.05)
            doomed.kill()  # SIGKILL: requests in flight there are cut off

        killer = threading.Thread(target=kill_once_it_has_answered_some)
        killer.start()
        cached = CachedEngine(engine, store, batch_size=64)
        answers = cached.generate(requests)
        killer.join()
        stats = engine.server_stats()
        assert server_notes(cached) == stats  # what a stage's report records per server
        assert len(answers) == 40 and all(len(a.texts) == 1 for a in answers)
        assert store.db.execute("SELECT COUNT(*) FROM engine_cache").fetchone()[0] == 40  # one answer per request
        assert stats[urls[0]]["answered"] + stats[urls[1]]["answered"] == 40  # none asked twice successfully
        assert stats[urls[1]]["failed"] >= 1 and stats[urls[0]]["answered"] > stats[urls[1]]["answered"]

        doomed = start_server(tiny_model, ports[1], tmp_path)  # back on the same port
        before, deadline = engine.server_stats()[urls[1]]["answered"], time.time() + 90
        while engine.server_stats()[urls[1]]["answered"] == before and time.time() < deadline:
            engine.generate([ask(f"Another question {time.time()} {i}") for i in range(8)])
        assert engine.server_stats()[urls[1]]["answered"] > before  # tried again after its wait, and used
    finally:
        for server in (steady, doomed):
            if server.poll() is None:
                stop_server(server)
