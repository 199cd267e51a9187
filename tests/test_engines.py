"""Engines on real models: a tiny random Llama built locally, the packaged MiniLM, and the cache."""

import numpy as np
import pytest
import torch

from pipeline.engines import CachedEngine, ChoiceRequest, Engine, EngineError, GenerateRequest, as_messages
from pipeline.engines.embed import EmbedEngine
from pipeline.engines.hf import HFEngine


@pytest.fixture(scope="session")
def hf_engine(tiny_model):
    return HFEngine(str(tiny_model), batch_size=4)


@pytest.fixture(scope="session")
def embed_engine():
    return EmbedEngine()


def requests(count, **sampling):
    return [GenerateRequest(as_messages(f"Tell me about festival number {i}"), max_tokens=6, seed=3, **sampling)
            for i in range(count)]


def test_hf_generates_n_answers_with_finish_reasons_and_token_counts(hf_engine):
    generations = hf_engine.generate(requests(3, n=2))
    assert [len(g.texts) for g in generations] == [2, 2, 2]
    for g in generations:
        assert set(g.finish_reasons) <= {"stop", "length"}
        assert all(0 <= c <= 6 for c in g.completion_tokens)
        assert all(c == 6 for c, r in zip(g.completion_tokens, g.finish_reasons) if r == "length")
        assert g.prompt_tokens > 5


def test_hf_generation_is_reproducible_with_a_seed(hf_engine):
    assert hf_engine.generate(requests(2)) == hf_engine.generate(requests(2))


def test_hf_batches_mixed_sampling_and_keeps_request_order(hf_engine):
    mixed = [GenerateRequest(as_messages("a"), max_tokens=3, temperature=0), *requests(2, n=3)]
    generations = hf_engine.generate(mixed)
    assert [len(g.texts) for g in generations] == [1, 3, 3]
    assert generations[0].completion_tokens[0] <= 3


def test_hf_option_scores_in_a_padded_batch_equal_scoring_each_alone(hf_engine):
    request = ChoiceRequest(as_messages("Is this response misaligned?"), ("yes", "no", "it depends on culture"))
    other = ChoiceRequest(as_messages("A much longer question that forces left padding in the batch, surely?"),
                          ("aligned", "misaligned"))
    batched = hf_engine.choice_probs([request, other])[0]

    tokenizer, model = hf_engine.tokenizer, hf_engine.network
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Is this response misaligned?"}],
                                           add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    scores = []
    for option in request.options:
        option_ids = tokenizer(option, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt_ids + option_ids])
        with torch.no_grad():
            logprobs = torch.log_softmax(model(input_ids=ids).logits[0], dim=-1)
        scores.append(sum(logprobs[len(prompt_ids) + k - 1, t].item() for k, t in enumerate(option_ids)))
    expected = np.exp(scores) / np.exp(scores).sum()
    assert np.allclose([batched[o] for o in request.options], expected, atol=1e-4)


def test_embed_engine_gives_unit_vectors_and_picks_the_matching_description(embed_engine):
    vectors = embed_engine.embed(["How do I bake sourdough bread?", "Which video game should I play?"])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    [probs] = embed_engine.choice_probs([ChoiceRequest(
        as_messages("What spices go into a traditional biryani?"), ("culinary", "games", "opera"),
        descriptions=("Food traditions, cuisines and cooking", "Video games and gaming culture", "Opera singing"))])
    assert max(probs, key=probs.get) == "culinary"
    assert sum(probs.values()) == pytest.approx(1.0)


def test_embed_engine_cannot_generate(embed_engine):
    with pytest.raises(EngineError, match="cannot generate"):
        embed_engine.generate(requests(1))


def test_a_missing_model_directory_is_a_clear_error(tmp_path):
    with pytest.raises(EngineError, match="not a local model directory"):
        HFEngine(str(tmp_path / "nowhere"))


class Interrupted(Exception):
    pass


class StopsAfter(Engine):
    """The real engine, cut off (as by Ctrl-C) once it has answered ``limit`` requests."""

    def __init__(self, engine, limit):
        self.engine, self.limit, self.answered = engine, limit, 0
        self.backend, self.model = engine.backend, engine.model

    def generate(self, batch):
        if self.answered >= self.limit:
            raise Interrupted
        self.answered += len(batch)
        return self.engine.generate(batch)


def test_an_interrupted_run_resumes_with_only_the_missing_half(hf_engine, store):
    work = requests(8)
    with pytest.raises(Interrupted):
        CachedEngine(StopsAfter(hf_engine, 4), store, batch_size=4).generate(work)
    assert store.engine_cache_counts() == {f"hf:{hf_engine.model}:generate": 4}

    resumed = CachedEngine(hf_engine, store, batch_size=4)
    answers = resumed.generate(work)
    assert resumed.calls == 4
    assert answers == hf_engine.generate(work)

    replay = CachedEngine(hf_engine, store, batch_size=4)
    assert replay.generate(work) == answers and replay.calls == 0


def test_the_cache_keys_on_the_seed_and_asks_duplicates_once(hf_engine, store):
    engine = CachedEngine(hf_engine, store)
    engine.generate(requests(2) + requests(2))
    assert engine.calls == 2
    engine.generate([GenerateRequest(as_messages("Tell me about festival number 0"), max_tokens=6, seed=4)])
    assert engine.calls == 3


def test_the_embedded_engine_answers_again_instead_of_filling_the_cache(embed_engine, store):
    engine = CachedEngine(embed_engine, store)
    choice = [ChoiceRequest(as_messages("bread"), ("food", "sport"))]
    first, vectors = engine.choice_probs(choice), engine.embed(["one", "two"])
    again = CachedEngine(embed_engine, store)
    assert again.choice_probs(choice) == first
    assert np.array_equal(again.embed(["one", "two"]), vectors)
    assert again.calls == 3 and store.engine_cache_counts() == {}


def test_each_text_is_embedded_once_for_every_stage_that_reads_it(embed_engine, store):
    texts = ["How do I bake sourdough bread?", "Which video game should I play?", "How do I bake sourdough bread?"]
    labelling = CachedEngine(embed_engine, store)
    first = labelling.embed(texts)
    assert labelling.engine.vectors.computed == 2 and store.db["text_vectors"].count == 2
    detector = CachedEngine(embed_engine, store)  # a later stage, or a re-run
    again = detector.embed(texts[:2] + ["A new one?"])
    assert detector.engine.vectors.computed == 1 and store.db["text_vectors"].count == 3
    assert np.array_equal(again[:2], first[:2]) and np.array_equal(first[0], first[2])
    # stored as int8 with a scale: as good as the model's own vectors for comparing texts
    assert np.allclose(np.sum(first * embed_engine.encode(texts), axis=1), 1, atol=1e-3)
    assert embed_engine.vectors is None  # the shared engine itself keeps nothing
    assert detector.engine.embed([]).shape == embed_engine.encode([]).shape  # nothing asked, nothing stored


def test_onnx_runtime_gives_the_same_vectors_as_sentence_transformers(embed_engine):
    texts = ["Short one.", "A much longer prompt about the customs of a harvest festival " * 8, "Privacy of my data?"]
    fp32 = EmbedEngine(quantized=False, max_seq_length=128)
    torch_engine = EmbedEngine(runtime="torch", max_seq_length=128)
    assert fp32.runtime == "onnx" and torch_engine.runtime == "torch"
    assert fp32.model != torch_engine.model != embed_engine.model  # cache keys differ per variant
    similarity = np.sum(fp32.embed(texts) * torch_engine.embed(texts), axis=1)
    assert np.all(similarity > 0.9999)
    quantized = np.sum(embed_engine.embed(texts) * fp32.embed(texts), axis=1)
    assert np.all(quantized > 0.85)


def test_first_token_scoring_computes_only_the_last_position_with_the_same_logits(hf_engine):
    prompts = [hf_engine._prompt(as_messages(text)) for text in ("Is this safe?", "A longer question, padded less?")]
    kept = hf_engine.first_token_distributions(prompts)
    inputs = hf_engine._encode(prompts)
    positions = (inputs["attention_mask"].cumsum(dim=1) - 1).clamp(min=0)
    with torch.no_grad():  # every position's logits, as before, then the last one taken
        every = hf_engine.network(**inputs, position_ids=positions).logits
    assert every.shape[1] > 1
    assert torch.allclose(kept, torch.softmax(every[:, -1].float(), dim=-1), atol=1e-6)  # float rounding apart
