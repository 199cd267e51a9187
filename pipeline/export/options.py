"""The settings of an export: a plain dataclass, light to import, checked against the taxonomy.

>>> ExportOptions(out=Path("curated"), formats=("xlsx",), licence="cc-by-4.0").check(taxonomy)
Traceback (most recent call last):
...
pipeline.errors.UsageError: --format: 'xlsx' is not one of jsonl, csv, parquet, hf, hf-disk, dpo, lm-eval
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import UsageError, check_range
from pipeline.registry import option
from review_store import Notes
from review_store.bench import PAIR_SETS
from taxonomy import DIMENSIONS, Taxonomy

FORMATS = ("jsonl", "csv", "parquet", "hf", "hf-disk", "dpo", "lm-eval")
DPO_FORMATS = ("standard", "conversational")  # TRL's names for plain strings and chat-message lists
SPLITS = ("train", "validation", "test")
UNKNOWN_LICENCE = "unknown"


@dataclass
class ExportOptions:
    out: Path = option(help="Folder to write the splits and the dataset card to.")
    formats: tuple[str, ...] = option(("jsonl", "parquet"), "Comma-separated: jsonl, csv, parquet, hf (hub/: a Hub "
                                      "dataset repo), hf-disk (datasets.save_to_disk), dpo (prompt/chosen/rejected for "
                                      "TRL), lm-eval (a task reporting Coverage, FFR, Alignment Score).", flag="format")
    seed: int = option(0, "Seed of the split assignment.")
    ratios: tuple[float, ...] = option((0.8, 0.1, 0.1), "train,validation,test shares.")
    pairs: str = option("curated", "curated (human-accepted, then pipeline-accepted without a human rejection), "
                                   "human, pipeline or all.", flag="status")
    dimensions: tuple[str, ...] = option((), "Only pairs labelled in this dimension (repeatable).", flag="dimension",
                                         repeatable=True)
    domains: tuple[str, ...] = option((), "Only pairs with this domain id (repeatable).", flag="domain", repeatable=True)
    semantic_types: tuple[str, ...] = option((), "object, attribute or relation (repeatable).", flag="semantic-type",
                                             repeatable=True)
    # share of a pair's "valid" answers agreeing with their majority
    min_agreement: float | None = option(None, "Only pairs whose reviewers agree at least this much.")
    sources: tuple[str, ...] = option((), "Only prompts from this ingested source (repeatable).", flag="source",
                                      repeatable=True)
    licence: str | None = option(None, "The dataset's licence, for its card: a Hub id (cc-by-4.0, apache-2.0, ...), "
                                       "another licence's name, or 'unknown'. Required.")
    dpo_format: str = option("standard", "dpo rows as TRL takes them: standard (strings) or conversational (lists of "
                                         "role/content messages).")
    split_names: tuple[str, ...] = option(SPLITS, cli=False)
    overwrite: bool = option(False, "Replace --out whole even if it holds no earlier export of this store.")
    chunk_pairs: int = option(20_000, cli=False)  # pairs whose texts are in memory at once (the files do not depend on it)

    def check(self, taxonomy: Taxonomy) -> None:
        check_range("seed", self.seed, 0)
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown:
            raise UsageError(f"'{unknown[0]}' is not one of {', '.join(FORMATS)}", field="format")
        if len(self.ratios) != len(self.split_names) or not all(math.isfinite(r) and r >= 0 for r in self.ratios) or \
                abs(sum(self.ratios) - 1) > 1e-6:
            raise UsageError(f"give {len(self.split_names)} non-negative shares summing to 1, "
                             f"not {','.join(map(str, self.ratios))}", field="ratios")
        check_licence(self.licence)
        if self.dpo_format not in DPO_FORMATS:
            raise UsageError(f"'{self.dpo_format}' is not one of {', '.join(DPO_FORMATS)}", field="dpo-format")
        if self.chunk_pairs < 1:
            raise UsageError(f"chunk_pairs: give at least 1 pair a chunk, not {self.chunk_pairs}")
        if self.pairs not in PAIR_SETS:
            raise UsageError(f"'{self.pairs}' is not one of {', '.join(PAIR_SETS)}", field="status")
        check_filters(taxonomy, self.dimensions, self.domains)


def check_licence(licence: str | None) -> None:
    """A licence is named, or said to be unknown: one line otherwise.

    >>> check_licence("  ")
    Traceback (most recent call last):
    ...
    pipeline.errors.UsageError: --licence: name this dataset's licence (a Hub id such as cc-by-4.0, or its name), or 'unknown' to say that it is not known
    """
    if not (licence or "").strip():
        raise UsageError(f"name this dataset's licence (a Hub id such as cc-by-4.0, or its name), or "
                         f"'{UNKNOWN_LICENCE}' to say that it is not known", field="licence")


def check_filters(taxonomy: Taxonomy, dimensions: tuple[str, ...] = (), domains: tuple[str, ...] = ()) -> None:
    """``--dimension`` and ``--domain`` values, checked: one line naming the option and the first bad value.

    >>> check_filters(taxonomy, domains=("culture.festivals", "culture.nowhere"))
    Traceback (most recent call last):
    ...
    pipeline.errors.UsageError: --domain: 'culture.nowhere' is not a domain id of taxonomy 1.0.0
    """
    bad = [d for d in dimensions if d not in DIMENSIONS]
    if bad:
        raise UsageError(f"'{bad[0]}' is not one of {', '.join(DIMENSIONS)}", field="dimension")
    known = {d.id for d in taxonomy.domains}
    bad = [d for d in domains if d not in known]
    if bad:
        raise UsageError(f"'{bad[0]}' is not a domain id of taxonomy {taxonomy.version}", field="domain")


@dataclass
class ExportNotes(Notes):
    export_id: str = ""
    files: str = ""
    splits: dict[str, int] = field(default_factory=dict)  # pairs per split (pairs only)
    groups: int | None = None  # dedup clusters the splits were drawn by (pairs only)
    empty_splits: list[str] = field(default_factory=list)  # a split asked for and left empty, in a sentence
    aligned: int | None = None  # labelled responses by verdict (responses only)
    misaligned: int | None = None
    models: int | None = None
