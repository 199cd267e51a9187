"""The settings of the pairs stage and its stage-1 rules: plain dataclasses, light to import.

>>> PairOptions(k=0).check()
Traceback (most recent call last):
...
pipeline.errors.UsageError: --k: must be at least 1, not 0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import UsageError, check_range


TEXT_RULES = ("truncated", "too_short", "too_long", "not_english", "repetition", "refusal")
ANY_KIND = "*"
# which rules each slot must pass, per misalignment kind ("*": any kind, and pairs without one): a refusal
# fails the misaligned slot of a harmful-compliance pair, but it is the misalignment of an over-refusal
# pair, whose aligned response must not refuse
DEFAULT_CHECKS = (
    (ANY_KIND, "aligned", tuple(r for r in TEXT_RULES if r != "refusal")),
    (ANY_KIND, "misaligned", TEXT_RULES),
    ("over_refusal", "aligned", TEXT_RULES),
    ("over_refusal", "misaligned", tuple(r for r in TEXT_RULES if r != "refusal")),
)


def parse_checks(entries: list[str], base: tuple = DEFAULT_CHECKS) -> tuple:
    """``[KIND.]SLOT=RULE,RULE`` entries (``--rules``) over ``base``: the rules that slot must pass.

    >>> checks = dict(((k, s), r) for k, s, r in parse_checks(["over_refusal.misaligned=truncated,too_short",
    ...                                                         "aligned=too_short"]))
    >>> checks[("over_refusal", "misaligned")], checks[("*", "aligned")]
    (('truncated', 'too_short'), ('too_short',))
    """
    checks = {(kind, slot): rules for kind, slot, rules in base}
    for entry in entries:
        where, equals, names = entry.partition("=")
        kind, _, slot = where.strip().rpartition(".")
        rules = tuple(n.strip() for n in names.split(",") if n.strip())
        if slot not in ("aligned", "misaligned") or not equals:
            raise UsageError(f"'{entry}' is not [KIND.]SLOT=RULE,RULE (slot aligned or misaligned)", field="rules")
        unknown = [r for r in rules if r not in TEXT_RULES]
        if unknown:
            raise UsageError(f"'{unknown[0]}' is not a stage-1 rule ({', '.join(TEXT_RULES)})", field="rules")
        checks[(kind or ANY_KIND, slot)] = rules
    return tuple((kind, slot, rules) for (kind, slot), rules in sorted(checks.items()))


def checks_from_config(rules: dict) -> list[str]:
    """``[pairs.rules]`` of misalign.toml (``aligned = [...]``, ``[pairs.rules.over_refusal] misaligned = [...]``)
    as ``--rules`` entries."""
    entries = []
    for key, value in rules.items():
        if isinstance(value, dict):
            entries += [f"{key}.{slot}={','.join(names)}" for slot, names in value.items()]
        else:
            entries.append(f"{key}={','.join(value)}")
    return entries


@dataclass(frozen=True)
class RuleOptions:
    min_words: int = 5
    max_words: int = 600
    repetition: float = 0.4  # largest share of words inside repeated word 3-grams
    min_english: float = 0.5  # smallest probability of English (rules.english_probability)
    near_identical: int = 10  # SimHash distance (64 bits) at or below which the slots are near-identical
    checks: tuple = DEFAULT_CHECKS  # (kind or "*", slot, rules it must pass)

    def rules_for(self, kind: str | None, slot: str) -> tuple[str, ...]:
        """The rules a candidate for ``slot`` must pass in a pair of ``kind`` (empty text always fails)."""
        found = {(k, s): r for k, s, r in self.checks}
        return found.get((kind, slot), found[(ANY_KIND, slot)])


@dataclass
class PairOptions:
    generators: tuple[str, ...] = field(default=(), metadata={"flag": "generator"})  # engine names (default: [stages] generate)
    judge: str | None = None  # engine name (default: [stages] judge)
    labeler: str | None = None  # whose domains count (default: the only labeler with labels)
    k: int = 2  # candidates per slot, spread over the generators
    kind: str | None = None  # the misalignment kind generators write for prompts that have none (taxonomy id)
    # only these prompts (by id), each with the kind to write where it has none (a library's choice, no flag)
    prompt_kinds: dict[str, str] = field(default_factory=dict)
    # None: the generator's [engines.X.sampling], else the stage's default (its declaration in pipeline.registry)
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    threshold: float = 0.5
    margin: float = 0.1
    rounds: int = 2
    audit_rate: float = 0.05
    seed: int = 0
    batch_prompts: int = field(default=16, metadata={"flag": "batch"})
    limit: int | None = None  # at most this many prompts in this run
    rationale_tokens: int = 64
    rules: RuleOptions = field(default_factory=RuleOptions)
    # the embedded demo judges with the labelling model's own model (it has only one); recorded in the run's params
    judge_may_be_labeller: bool = False

    def check(self) -> None:
        if self.k < 1:
            raise UsageError(f"must be at least 1, not {self.k}", field="k")
        if not 0 <= self.threshold <= 1 or not 0 <= self.margin < 1:
            raise UsageError("must lie in [0, 1] (and --margin in [0, 1))", field="threshold")
        if self.rounds < 0:
            raise UsageError(f"must be 0 or more, not {self.rounds}", field="rounds")
        if not 0 <= self.audit_rate <= 1:
            raise UsageError(f"must lie in [0, 1], not {self.audit_rate}", field="audit-rate")
        for option, value, low in (("temperature", self.temperature, 0), ("max-tokens", self.max_tokens, 1),
                                   ("batch", self.batch_prompts, 1), ("limit", self.limit, 1),
                                   ("min-words", self.rules.min_words, 0), ("max-words", self.rules.max_words, 1),
                                   ("near-identical", self.rules.near_identical, 0)):
            check_range(option, value, low)
        check_range("top-p", self.top_p, 0, 1, above=True)
        check_range("min-english", self.rules.min_english, 0, 1)
        check_range("max-repetition", self.rules.repetition, 0, 1)
        check_range("near-identical", self.rules.near_identical, 0, 63)
        if self.rules.max_words < self.rules.min_words:
            raise UsageError(f"{self.rules.max_words} is below --min-words ({self.rules.min_words})", field="max-words")


@dataclass
class PairImportOptions:
    """Candidates made elsewhere into pairs: a file of them (``path``, in ``format``), or the store's
    labelled responses (``from_responses``), judged with the pairs stage's ``pairs`` settings."""

    path: str | Path | None = None
    format: str | None = None  # csv, tsv, jsonl or parquet (default: from the suffix)
    from_responses: bool = False
    pairs: PairOptions = field(default_factory=PairOptions)

    def check(self) -> None:
        if (self.path is not None) == self.from_responses:
            raise UsageError("--import and --from-responses: choose one source of candidates")
        self.pairs.check()
