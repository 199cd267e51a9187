"""The settings of the prompt stages (ingest, label, dedup, expand): plain dataclasses, light to import,
so the CLI can show their defaults without loading what the stages compute with.

>>> DedupOptions(tau=12).params()["spec"]
'words,word_ngrams:2;stopwords=dropped;min_features=4;bits=64'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.defaults import DELTA
from pipeline.errors import UsageError, check_range
from pipeline.registry import SAMPLING_HELP, option
from pipeline.text.features import FeatureSpec
from taxonomy import DIMENSIONS

MODES = ("softmax", "independent")
TRAINED = "trained"  # the label engine that learns from labelled prompts (pipeline.stages.label_trained)
FEATURE_KINDS = ("embeddings", "tfidf", "both")
SCOPES = ("global", "domain")


def parse_label_columns(spec: str | None) -> dict[str, str]:
    """``"safety=safety_name,value=values_name"`` as ``{"safety": "safety_name", ...}``.

    >>> parse_label_columns("safety=safety_name, value=values_name")
    {'safety': 'safety_name', 'value': 'values_name'}
    """
    if not spec:
        return {}
    mapping = {}
    for part in spec.split(","):
        dimension, sep, column = (s.strip() for s in part.partition("="))
        if not sep or not column:
            raise UsageError(f"'{part}' is not DIMENSION=COLUMN", field="labels")
        if dimension not in DIMENSIONS:
            raise UsageError(f"unknown dimension '{dimension}' (use {', '.join(DIMENSIONS)})", field="labels")
        mapping[dimension] = column
    return mapping


@dataclass
class IngestOptions:
    path: str | Path | None = option(None, "CSV, TSV, JSONL or Parquet file of prompts.", flag="file", argument=True)
    text_column: str = option("prompt", "Column holding the prompt text.", flag="text-col")
    label_columns: dict[str, str] = option(
        help="Import existing labels: DIMENSION=COLUMN,... e.g. safety=safety_name,value=values_name,culture=cultural_name",
        flag="labels", parse=parse_label_columns, factory=dict)
    semantic_type_column: str | None = option(
        None, "Import each prompt's semantic type (object, attribute, relation) from this column.", flag="semantic-type")
    source: str | None = option(None, "Source name recorded for these prompts (default: file name).")
    origin: str = option("seed", cli=False)  # expand adds prompts of its own origin
    skip_bad: bool = option(False, "Skip and count bad rows instead of stopping at the first.")
    max_chars: int = option(32_000, "Longest prompt accepted, in characters.")
    encoding: str = option("utf-8", "Text encoding of CSV/JSONL files.")
    format: str | None = option(None, "csv, tsv, jsonl or parquet (default: from the suffix).")
    empty_label: str = option("unlabelled", "What an empty label cell means: unlabelled (nothing known) or none (no "
                                            "domain of that dimension applies).")

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

    source: str | None = option(None, "Only prompts read from this source (a file's name, or ingest's --source).")
    domain: str | None = option(None, "Only prompts a labeler put in this domain (id or name); with "
                                      "--evaluate-against, the reference.")
    since: str | None = option(None, "Only prompts added at or after this UTC date or time, e.g. 2026-12-01.")

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
    engine: str | None = option(None, "Engine from misalign.toml (default: \\[stages] label, else embedded), or "
                                      "'trained': learn from labelled prompts (--train-on).")
    mode: str = option("softmax", "softmax (one domain per dimension, or None) or independent (yes/no per domain).")
    delta: float = option(DELTA, "Probability a domain needs to be assigned.")
    shortlist: int | None = option(None, "Ask an LLM only about the top-K domains per dimension by embedding similarity.")
    labeler: str | None = option(None, "Name for these labels (default: backend:model:mode, or trained:MODEL).")
    semantic_types: bool = option(True, "Also give each prompt a semantic type (object, attribute, relation).",
                                  flag="types")
    batch_prompts: int = option(256, cli=False)
    # the learned labelling model (engine "trained"): fitted on these labelers' labels, in order of preference
    train_on: tuple[str, ...] = option((), "--engine trained: labelers to learn from, comma-separated, preferred "
                                           "first, e.g. human:South Asia,imported:dev.csv")
    # both: best measured, benchmarks/label_quality.py
    features: str = option("both", "--engine trained: embeddings (MiniLM), tfidf or both.")
    regularisation: float = option(1.0, "--engine trained: the regression's C.")
    cross_validate: int | None = option(None, "--engine trained: print K-fold figures, folds grouped by dedup "
                                              "cluster, before labelling.")
    seed: int = option(0, "--engine trained: seed of the calibration split.")
    subset: PromptSubset = option(factory=PromptSubset)  # only these prompts are labelled

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
        check_range("seed", self.seed, 0)
        check_range("batch-prompts", self.batch_prompts, 1)


@dataclass
class DedupOptions:
    tau: int = option(10, "Largest Hamming distance that counts as a near-duplicate.")
    scope: str = option("global", "global, or domain: only prompts sharing a labelled domain merge.")
    features: str = option("words,word_ngrams:2", "Fingerprint features: words, word_ngrams:N, char_ngrams:N, each "
                                                  "optionally *WEIGHT, comma-separated.")
    keep_stopwords: bool = option(False, "Keep English stop words in word features.")
    min_features: int = option(4, "Texts with fewer distinct features match exactly only.")
    bits: int = option(64, "Fingerprint width: a multiple of 8 up to 64.")

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
    engine: str | None = option(None, "Generator engine (default: \\[stages] expand); must differ from the "
                                      "labelling model.")
    labelling: LabelOptions = option(factory=LabelOptions, nested={
        "engine": "label-engine", "labeler": "labeler", "mode": "mode", "delta": "delta"})
    target: int = option(100, "Kept prompts each domain should reach.")
    rounds: int = option(3, "Generation rounds before giving up on a domain.")
    per_request: int = option(8, "Prompts asked of the generator per domain and round.")
    examples: int = option(3, cli=False)  # the domain's kept prompts shown to the generator
    # None: the generator's [engines.X.sampling], else the stage's default (its declaration in pipeline.registry)
    temperature: float | None = option(None, SAMPLING_HELP)
    top_p: float | None = option(None, SAMPLING_HELP)
    max_tokens: int | None = option(None, SAMPLING_HELP)
    domains: tuple[str, ...] = option((), "Only this domain id (repeatable).", flag="domain", repeatable=True)

    def check(self) -> None:
        self.labelling.check()
        for name, value, low in (("target", self.target, 0), ("rounds", self.rounds, 0),
                                   ("per-request", self.per_request, 1), ("max-tokens", self.max_tokens, 1),
                                   ("temperature", self.temperature, 0), ("examples", self.examples, 0)):
            check_range(name, value, low)
        check_range("top-p", self.top_p, 0, 1, above=True)
