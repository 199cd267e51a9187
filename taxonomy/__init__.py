"""The domain taxonomy as data: 111 domains over three dimensions, non-domain labels, semantic types,
misalignment kinds.

>>> from taxonomy import load_taxonomy
>>> tax = load_taxonomy()
>>> tax.resolve("safety", "Self-harm").id
'safety.self_harm'
"""

from taxonomy.loader import (
    DEFAULT_TAXONOMY_PATH,
    DIMENSIONS,
    Domain,
    MisalignmentKind,
    NonDomainLabel,
    SemanticType,
    Taxonomy,
    TaxonomyError,
    load_taxonomy,
)

__all__ = [
    "DEFAULT_TAXONOMY_PATH",
    "DIMENSIONS",
    "Domain",
    "MisalignmentKind",
    "NonDomainLabel",
    "SemanticType",
    "Taxonomy",
    "TaxonomyError",
    "load_taxonomy",
]
