"""Which features a SimHash fingerprint is made of: parsed from ``"words,word_ngrams:3*2"``, light to import.

>>> str(FeatureSpec.parse("words,char_ngrams:4*2"))
'words,char_ngrams:4*2;stopwords=dropped;min_features=4;bits=64'
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import UsageError

FEATURE_KINDS = ("words", "word_ngrams", "char_ngrams")
_DEFAULT_N = {"words": 1, "word_ngrams": 2, "char_ngrams": 4}


@dataclass(frozen=True)
class FeatureKind:
    kind: str
    n: int = 1
    weight: int = 1

    def __str__(self) -> str:
        text = self.kind if self.kind == "words" else f"{self.kind}:{self.n}"
        return text if self.weight == 1 else f"{text}*{self.weight}"


@dataclass(frozen=True)
class FeatureSpec:
    """Which features a fingerprint is made of, and how they are weighted.

    ``kinds``: word unigrams, word n-gram shingles and character n-grams, each with an integer
    weight per occurrence. ``stopwords=False`` drops English stop words (scikit-learn's list) from
    word features. A text with fewer than ``min_features`` distinct features gets no fingerprint:
    it can only match exactly, so very short prompts never collapse onto one fingerprint.
    """

    kinds: tuple[FeatureKind, ...] = (FeatureKind("words"), FeatureKind("word_ngrams", 2))
    stopwords: bool = False
    min_features: int = 4
    bits: int = 64

    @classmethod
    def parse(cls, text: str, **options) -> "FeatureSpec":
        """``"words,word_ngrams:3*2,char_ngrams:4"``: kind[:n][*weight], comma-separated."""
        kinds = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            body, _, weight = part.partition("*")
            kind, _, n = body.partition(":")
            if kind not in FEATURE_KINDS:
                raise UsageError(f"features: unknown kind '{kind}' (use {', '.join(FEATURE_KINDS)})")
            try:
                parsed = FeatureKind(kind, int(n) if n else _DEFAULT_N[kind], int(weight) if weight else 1)
            except ValueError:
                raise UsageError(f"features: '{part}' is not kind[:n][*weight] with whole numbers") from None
            if parsed.n < 1 or parsed.weight < 1:
                raise UsageError(f"features: '{part}': n and weight must be at least 1")
            kinds.append(parsed)
        if not kinds:
            raise UsageError("features: name at least one kind")
        spec = cls(tuple(kinds), **options)
        if spec.bits % 8 or not 8 <= spec.bits <= 64:
            raise UsageError(f"bits must be a multiple of 8 between 8 and 64, not {spec.bits}")
        return spec

    def __str__(self) -> str:
        return (f"{','.join(map(str, self.kinds))};stopwords={'kept' if self.stopwords else 'dropped'};"
                f"min_features={self.min_features};bits={self.bits}")
