"""The vllm backend on a GPU: runs where a GPU and vllm are present (see benchmarks/vllm_check.sh), skips elsewhere.
On a CPU, vLLM's CPU build runs every stage in tests/test_cpu_engines.py."""

import importlib.util

import pytest
import torch

from pipeline.engines import ChoiceRequest, EngineError, GenerateRequest, as_messages, open_engine

HAS_VLLM = importlib.util.find_spec("vllm") is not None
needs_gpu_vllm = pytest.mark.skipif(not (HAS_VLLM and torch.cuda.is_available()),
                                    reason="needs vllm (the [vllm] extra) and a CUDA GPU; CI has neither")


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed here, so the missing-package error cannot happen")
def test_without_vllm_the_backend_says_how_to_install_it(tiny_model):
    with pytest.raises(EngineError, match=r"pip install -e '\.\[vllm\]'"):
        open_engine("vllm", str(tiny_model), {})


@needs_gpu_vllm
def test_vllm_generates_and_scores_options(tiny_model):
    engine = open_engine("vllm", str(tiny_model), {"gpu_memory_utilization": 0.3})
    [generation] = engine.generate([GenerateRequest(as_messages("hello"), n=2, max_tokens=5, seed=1)])
    assert len(generation.texts) == 2 and all(c <= 5 for c in generation.completion_tokens)
    [probs] = engine.choice_probs([ChoiceRequest(as_messages("Safe?"), ("yes", "no"))])
    assert sum(probs.values()) == pytest.approx(1.0)
    hf = open_engine("hf", str(tiny_model), {"device": "cuda"})
    [reference] = hf.choice_probs([ChoiceRequest(as_messages("Safe?"), ("yes", "no"))])
    assert probs["yes"] == pytest.approx(reference["yes"], abs=2e-2)
