"""The settings of the prompt stages (ingest, label, dedup, expand): plain dataclasses, light to import,
so the CLI can show their defaults without loading what the stages compute with.

>>> DedupOptions(tau=12).params()["spec"]
'words,word_ngrams:2;stopwords=dropped;min_features=4;bits=64'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import UsageError, check_range
from pipeline.text.features import FeatureSpec
from pipeline.defaults import DELTA

MODES = ("softmax", "independent")
TRAINED = "trained"  # the label engine that learns from labelled prompts (pipeline.stages.label_trained)
FEATURE_KINDS = ("embeddings", "tfidf", "both")
SCOPES = ("global", "domain")


@dataclass
class IngestOptions:
    path: str | Path | None = None  # the file of prompts (csv, jsonl, parquet)
    text_column: str = "prompt"
    label_columns: dict[str, str] = field(default_factory=dict)  # dimension -> column
    semantic_type_column: str | None = None  # object, attribute or relation, imported with the labels
    source: str | None = None  # default: the file's name
    origin: str = "seed"
    skip_bad: bool = False
    max_chars: int = 32_000
    encoding: str = "utf-8"
    format: str | None = None
    # what an empty label cell says: nothing ("unlabelled") or that no domain of that dimension applies ("none")
    empty_label: str = "unlabelled"

    def check(self) -> None:
        if self.path is None:
            raise UsageError("ingest: no file of prompts given")
        if self.empty_label not in EMPTY_LABELS:
            raise UsageError(f"'{self.empty_label}' is not one of {', '.join(EMPTY_LABELS)}", field="empty-label")


EMPTY_LABELS = ("unlabelled", "none")


@dataclass(frozen=True)
class PromptSubset:
    """Which prompts a command covers; every one given must hold.

    ``source``: prompts read from that source (a file's name, or the name ``ingest --source`` gave).
    ``domain``: prompts a labeler put in that domain (an id, name or alias); with ``--evaluate-against``,
    the reference labeler. ``since``: prompts added at or after that time (ISO 8601; UTC unless it
    says; a date means its midnight).

    >>> PromptSubset(since="2026-12-01").where(None, None, None)
    {'source': None, 'domain': None, 'since': '2026-12-01T00:00:00+00:00', 'domain_by': None}
    """

    source: str | None = None
    domain: str | None = None
    since: str | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.source, self.domain, self.since))

    def where(self, sources: list[str] | None, taxonomy, domain_by: str | None) -> dict | None:
        """The subset as the store takes it, each part checked: ``sources``, the store's (None: unchecked)."""
        from datetime import datetime, timezone

        from taxonomy import Domain

        if not self:
            return None
        if self.source is not None and sources is not None and self.source not in sources:
            raise UsageError(f"no prompts were read from '{self.source}' (sources: "
                             f"{', '.join(sources) or 'none yet'})", field="source")
        domain = None
        if self.domain is not None:
            found = [d for dim in taxonomy.dimension_names
                     if isinstance(d := taxonomy.resolve(dim, self.domain), Domain)]  # an id, name or alias
            if not found:
                raise UsageError(f"'{self.domain}' is not a domain of taxonomy {taxonomy.version} "
                                 "(see 'misalign taxonomy')", field="domain")
            domain = found[0].id
        since = None
        if self.since is not None:
            try:
                when = datetime.fromisoformat(self.since)
            except ValueError:
                raise UsageError(f"'{self.since}' is not a date or time (e.g. 2026-12-01 or "
                                 "2026-12-01T14:00)", field="since") from None
            since = (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).astimezone(timezone.utc).isoformat(
                timespec="seconds")
        return {"source": self.source, "domain": domain, "since": since, "domain_by": domain_by}


@dataclass
class LabelOptions:
    engine: str | None = None  # default: [stages] label, else the embedded engine
    mode: str = "softmax"
    delta: float = DELTA
    shortlist: int | None = None
    labeler: str | None = None  # default: backend:model:mode
    semantic_types: bool = field(default=True, metadata={"flag": "types"})
    batch_prompts: int = 256
    # the learned labelling model (engine "trained"): fitted on these labelers' labels, in order of preference
    train_on: tuple[str, ...] = ()
    features: str = "both"  # embeddings, tfidf or both (both: best measured, benchmarks/label_quality.py)
    regularisation: float = 1.0  # the regression's C
    cross_validate: int | None = None  # K: print K-fold figures grouped by dedup cluster before labelling
    seed: int = 0
    subset: PromptSubset = field(default_factory=PromptSubset)  # only these prompts are labelled

    def check(self) -> None:
        if self.engine == TRAINED:
            if not self.train_on:
                raise UsageError("name the labelers to learn from, e.g. imported:prompts.csv", field="train-on")
            if self.features not in FEATURE_KINDS:
                raise UsageError(f"must be one of {', '.join(FEATURE_KINDS)}, not '{self.features}'", field="features")
            if self.mode != "softmax":
                raise UsageError("the trained labelling model chooses one domain per dimension (softmax)", field="mode")
            check_range("cross-validate", self.cross_validate, 2)
            check_range("regularisation", self.regularisation, 0, above=True)
        elif self.train_on or self.cross_validate:
            raise UsageError("--train-on and --cross-validate are for --engine trained")
        if self.mode not in MODES:
            raise UsageError(f"must be one of {', '.join(MODES)}, not '{self.mode}'", field="mode")
        check_range("delta", self.delta, 0, 1, above=True)
        check_range("shortlist", self.shortlist, 1)
        check_range("batch-prompts", self.batch_prompts, 1)


@dataclass
class DedupOptions:
    tau: int = 10
    scope: str = "global"
    features: str = "words,word_ngrams:2"
    keep_stopwords: bool = False
    min_features: int = 4
    bits: int = 64

    def spec(self) -> FeatureSpec:
        return FeatureSpec.parse(self.features, stopwords=self.keep_stopwords,
                                 min_features=self.min_features, bits=self.bits)

    def check(self) -> None:
        if self.scope not in SCOPES:
            raise UsageError(f"must be one of {', '.join(SCOPES)}, not '{self.scope}'", field="scope")
        if not 0 <= self.tau < self.bits:
            raise UsageError(f"must be between 0 and {self.bits - 1}, not {self.tau}", field="tau")
        check_range("min-features", self.min_features, 0)

    def params(self) -> dict:
        """The settings a dedup run is recorded with; a change of any of them rebuilds."""
        return {"tau": self.tau, "scope": self.scope, "features": self.features, "keep_stopwords": self.keep_stopwords,
                "min_features": self.min_features, "bits": self.bits, "spec": str(self.spec())}


@dataclass
class ExpandOptions:
    engine: str | None = None  # the generator (default: [stages] expand)
    labelling: LabelOptions = field(default_factory=LabelOptions)
    target: int = 100
    rounds: int = 3
    per_request: int = 8
    examples: int = 3
    # None: the generator's [engines.X.sampling], else the stage's default (its declaration in pipeline.registry)
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    domains: tuple[str, ...] = field(default=(), metadata={"flag": "domain"})  # only these ids (default: every domain)

    def check(self) -> None:
        self.labelling.check()
        for option, value, low in (("target", self.target, 0), ("rounds", self.rounds, 0),
                                   ("per-request", self.per_request, 1), ("max-tokens", self.max_tokens, 1),
                                   ("temperature", self.temperature, 0), ("examples", self.examples, 0)):
            check_range(option, value, low)
        check_range("top-p", self.top_p, 0, 1, above=True)
