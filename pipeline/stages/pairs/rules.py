"""Stage 1 of rejection sampling: cheap rules every candidate response must pass before a judge.

Each failed rule is a reason code; :data:`FEEDBACK` is what the generator is told when it tries
again. Language is identified by ``py3langid`` where it is sure the text is English, else by
``langdetect`` (seeded, so verdicts are repeatable); the two slots are compared with the dedup
stage's SimHash.

>>> failed_rules("I'm sorry, but I can't help with that request at all.", "stop", "misaligned", RuleOptions())
['refusal']
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from pipeline.stages.pairs.options import RuleOptions
from pipeline.text.simhash import FeatureSpec, fingerprints
from review_store import content_id, normalise_text

_WORDS = re.compile(r"\w+", re.UNICODE)
REFUSAL = re.compile(
    r"\b(i can ?not|i can't|i won't|i will not|i'm not able to|i am not able to|i'm unable to|i am unable to|"
    r"i'm sorry|i am sorry|sorry, but|as an ai\b|i must (decline|refuse)|i'm not comfortable|i do not feel comfortable|"
    r"i don't feel comfortable|cannot (help|assist) with|can't (help|assist) with)")

FEEDBACK = {
    "empty": "The attempt was empty.",
    "truncated": "The attempt was cut off at the length limit; write a complete, shorter response.",
    "too_short": "The attempt was too short to be a response; write a complete answer.",
    "too_long": "The attempt was too long; write a shorter response.",
    "not_english": "The attempt was not in English; write in English.",
    "repetition": "The attempt repeated itself; write fluent text without repetition.",
    "refusal": "The attempt refused; this slot needs a response that answers the request.",
    "near_identical": "The attempt was nearly identical to the response for the other slot; the two must differ.",
}


def repeated_share(words: Sequence[str], n: int = 3) -> float:
    """Share of word positions covered by an n-gram that occurs more than once.

    >>> repeated_share("a b c a b c a b c".split())
    1.0
    >>> repeated_share("one two three four".split())
    0.0
    """
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    counts = Counter(grams)
    covered = np.zeros(len(words), dtype=bool)
    for i, gram in enumerate(grams):
        if counts[gram] > 1:
            covered[i:i + n] = True
    return float(covered.mean()) if len(words) else 0.0


# py3langid (a naive Bayes over byte n-grams, ~20x faster) settles the clear cases; it reads short
# English as something else more often than langdetect (9% vs 4% of 5-9 word prompts), so below this
# langdetect decides. On 10.4k texts of 5+ words, 82% are settled fast and 9 of those (0.09%) are
# texts langdetect would have called non-English.
SURELY_ENGLISH = 0.95


@lru_cache(maxsize=1)
def _language_detectors():
    from langdetect import DetectorFactory, detect_langs
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    DetectorFactory.seed = 0  # langdetect samples; a fixed seed gives the same verdict every time
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True), detect_langs


def english_probability(text: str) -> float:
    """The probability that ``text`` is English: py3langid's when it is at least
    :data:`SURELY_ENGLISH`, else langdetect's (seeded); 0 when no language is found.

    >>> english_probability("The museum opens at nine and the guided tours start every hour.") >= 0.95
    True
    >>> english_probability("Das Museum öffnet um neun und die Führungen beginnen jede Stunde.") < 0.5
    True
    """
    from langdetect.lang_detect_exception import LangDetectException

    fast, thorough = _language_detectors()
    text = text[:2000]
    probability = dict(fast.rank(text)).get("en", 0.0)
    if probability >= SURELY_ENGLISH:
        return probability
    try:
        found = thorough(text)
    except LangDetectException:  # no letters at all
        return 0.0
    return next((language.prob for language in found if language.lang == "en"), 0.0)


def is_refusal(text: str) -> bool:
    """Whether the response opens with a refusal ("I'm sorry, but I can't ...")."""
    return bool(REFUSAL.search(text[:300].lower().replace("\u2019", "'")))


def rules_name(options: RuleOptions) -> str:
    """The stage-1 judge's name in ``judgments``: other settings, or another refusal pattern, give other
    verdicts, so another name.

    >>> rules_name(RuleOptions()) == rules_name(RuleOptions()) != rules_name(RuleOptions(min_words=1))
    True
    """
    return f"rules:{content_id(sorted(asdict(options).items()), REFUSAL.pattern)[:12]}"


def failed_rules(text: str, finish_reason: str | None, slot: str, options: RuleOptions,
                 kind: str | None = None) -> list[str]:
    """The reason codes of the rules ``text`` fails as a ``slot`` candidate of a pair of ``kind`` ([] when
    it passes), near-identity aside."""
    if not text.strip():
        return ["empty"]
    wanted = options.rules_for(kind, slot)
    failed = []
    if finish_reason == "length":
        failed.append("truncated")
    words = _WORDS.findall(text.lower())
    if len(words) < options.min_words:
        failed.append("too_short")
    elif len(words) > options.max_words:
        failed.append("too_long")
    if len(words) >= options.min_words:
        if english_probability(text) < options.min_english:
            failed.append("not_english")
        if repeated_share(words) > options.repetition:
            failed.append("repetition")
    if is_refusal(text):
        failed.append("refusal")
    return [rule for rule in failed if rule in wanted]


def near_identical(texts: Sequence[str], others: Sequence[str], tau: int) -> list[bool]:
    """Whether each text is within SimHash distance ``tau`` of any of ``others`` (texts too short to
    fingerprint: the same normalised text)."""
    if not texts or not others:
        return [False] * len(texts)
    spec = FeatureSpec()  # the dedup stage's default features
    values, short = fingerprints(list(texts) + list(others), spec, workers=1)
    mine, theirs = values[:len(texts)], values[len(texts):]
    distances = np.bitwise_count(mine[:, None] ^ theirs[None, :])
    close = (distances <= tau) & ~short[:len(texts), None] & ~short[None, len(texts):]
    same = np.array([[normalise_text(a).lower() == normalise_text(b).lower() for b in others] for a in texts])
    return (close | same).any(axis=1).tolist()
