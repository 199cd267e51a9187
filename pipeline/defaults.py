"""The studio's shared defaults, each written once: every command, stage and page that needs one
imports it from here (a value in ``misalign.toml`` or a flag overrides it; see ``pipeline.cli.file_options``)."""

import os
from pathlib import Path

BOOTSTRAP_SAMPLES = 1000  # resamples behind every 95% bootstrap interval
DELTA = 0.5  # the labelling threshold: a domain at or above it is assigned
UNCERTAIN_BAND = 0.1  # a label this close to δ is queued for people as unsure


def cache_home() -> Path:
    """Where the studio keeps what it makes once per machine (exported ONNX models, a local Argilla's home
    with its owner key): ``$MISALIGN_CACHE``, else ``~/.cache/misalign``, never the checkout."""
    return Path(os.environ.get("MISALIGN_CACHE", Path.home() / ".cache" / "misalign"))
