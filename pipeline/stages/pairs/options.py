"""The settings of the pairs stage and its stage-1 rules: plain dataclasses, light to import.

>>> PairOptions(k=0).check()
Traceback (most recent call last):
...
pipeline.errors.UsageError: --k: must be at least 1, not 0
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import UsageError, check_range
from pipeline.registry import SAMPLING_HELP, option


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
    min_words: int = option(5, "Stage 1: fewer words is too_short.")
    max_words: int = option(600, "Stage 1: more words is too_long.")
    repetition: float = option(0.4, "Stage 1: a larger share of words in repeated 3-grams is repetition.")
    # smallest probability of English (rules.english_probability)
    min_english: float = option(0.5, "Stage 1: a smaller probability of English is not_english.")
    near_identical: int = option(10, "Stage 1: SimHash distance at or below which the two slots are near_identical.")
    checks: tuple = option(DEFAULT_CHECKS, cli=False)  # (kind or "*", slot, rules it must pass): --rules

    def rules_for(self, kind: str | None, slot: str) -> tuple[str, ...]:
        """The rules a candidate for ``slot`` must pass in a pair of ``kind`` (empty text always fails)."""
        found = {(k, s): r for k, s, r in self.checks}
        return found.get((kind, slot), found[(ANY_KIND, slot)])


@dataclass
class PairOptions:
    generators: tuple[str, ...] = option((), "Generator engine from misalign.toml (repeatable: a pool; default: "
                                             "\\[stages] generate).", flag="generator", repeatable=True)
    judge: str | None = option(None, "Judge engine (default: \\[stages] judge); must differ from every generator "
                                     "and the labelling model.")
    labeler: str | None = option(None, "Whose domain labels count (default: the only labeler).")
    k: int = option(2, "Candidates per slot, spread over the generators.")
    kind: str | None = option(None, "The misalignment kind to write for prompts that have none: harmful_compliance, "
                                    "over_refusal, value_violation or cultural_insensitivity (see misalign taxonomy).")
    # only these prompts (by id), each with the kind to write where it has none (a library's choice)
    prompt_kinds: dict[str, str] = option(factory=dict, cli=False)
    # None: the generator's [engines.X.sampling], else the stage's default (its declaration in pipeline.registry)
    temperature: float | None = option(None, SAMPLING_HELP)
    top_p: float | None = option(None, SAMPLING_HELP)
    max_tokens: int | None = option(None, SAMPLING_HELP)
    threshold: float = option(0.5, "Judge probability a candidate needs to pass.")
    margin: float = option(0.1, "Within this of the threshold (either side) a verdict is borderline.")
    rounds: int = option(2, "Feedback-guided resampling rounds for a slot with no passing candidate.")
    audit_rate: float = option(0.05, "Share of accepted pairs sampled for human audit.")
    seed: int = option(0, "Sampling seed and audit-sample seed.")
    batch_prompts: int = option(16, "Prompts per committed batch.", flag="batch")
    limit: int | None = option(None, "Pair at most this many prompts in this run.")
    rationale_tokens: int = option(64, cli=False)
    rules: RuleOptions = option(factory=RuleOptions, nested={
        "min_words": "min-words", "max_words": "max-words", "min_english": "min-english",
        "repetition": "max-repetition", "near_identical": "near-identical"})
    # the embedded demo judges with the labelling model's own model (it has only one); recorded in the run's params
    judge_may_be_labeller: bool = option(False, cli=False)

    def check(self) -> None:
        if self.k < 1:
            raise UsageError(f"must be at least 1, not {self.k}", field="k")
        if not 0 <= self.threshold <= 1 or not 0 <= self.margin < 1:
            raise UsageError("must lie in [0, 1] (and --margin in [0, 1))", field="threshold")
        if self.rounds < 0:
            raise UsageError(f"must be 0 or more, not {self.rounds}", field="rounds")
        if not 0 <= self.audit_rate <= 1:
            raise UsageError(f"must lie in [0, 1], not {self.audit_rate}", field="audit-rate")
        for name, value, low in (("temperature", self.temperature, 0), ("max-tokens", self.max_tokens, 1),
                                   ("batch", self.batch_prompts, 1), ("limit", self.limit, 1),
                                   ("min-words", self.rules.min_words, 0), ("max-words", self.rules.max_words, 1),
                                   ("near-identical", self.rules.near_identical, 0)):
            check_range(name, value, low)
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

    path: str | Path | None = option(None, "Candidates made elsewhere: a CSV/JSONL/Parquet file with prompt, slot, "
                                           "text, generator.", flag="import")
    format: str | None = option(None, "Format of --import (default: from the suffix).")
    from_responses: bool = option(False, "Pair the labelled responses (misalign import responses): each in the slot "
                                         "of its verdict.")
    pairs: PairOptions = option(factory=PairOptions)

    def check(self) -> None:
        if (self.path is not None) == self.from_responses:
            raise UsageError("--import and --from-responses: choose one source of candidates")
        self.pairs.check()
