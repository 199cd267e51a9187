"""Load and validate a taxonomy YAML file.

A taxonomy file has a ``version``, ``dimensions`` (safety, value, culture, each with a name and a
source), ``non_domain_labels`` (None and Unknown), ``semantic_types`` and ``domains``. Every
problem is reported as one line naming the file and the entry, e.g.
``my_tax.yaml: domains[3] (value.ambitious): missing field 'description'``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

DIMENSIONS = ("safety", "value", "culture")
DEFAULT_TAXONOMY_PATH = Path(__file__).with_name("domains.yaml")
_DOMAIN_FIELDS = ("id", "name", "dimension", "group", "description")


class TaxonomyError(ValueError):
    """A taxonomy file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Domain:
    id: str
    name: str
    dimension: str
    group: str
    source: str
    description: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class NonDomainLabel:
    """A per-dimension label that is not a domain: ``none`` or ``unknown``."""

    id: str
    name: str
    description: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class SemanticType:
    id: str
    name: str
    description: str


@dataclass(frozen=True)
class MisalignmentKind:
    """How a response is misaligned (harmful compliance, over-refusal, ...): carried on labelled
    responses and in benchmark figures. A taxonomy file may add its own."""

    id: str
    name: str
    description: str


def label_key(text: str) -> str:
    """The form label strings are compared in: case-folded, '&' as 'and', punctuation as spaces.

    >>> label_key("Honoring parents & elders")
    'honoring parents and elders'
    """
    text = unicodedata.normalize("NFKC", text).casefold().replace("&", " and ")
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


@dataclass(frozen=True)
class Taxonomy:
    version: str
    path: str
    dimension_names: dict[str, str]
    domains: tuple[Domain, ...]
    non_domain_labels: tuple[NonDomainLabel, ...]
    semantic_types: tuple[SemanticType, ...]
    misalignment_kinds: tuple[MisalignmentKind, ...] = ()
    _lookup: dict[tuple[str, str], Domain | NonDomainLabel] = field(default_factory=dict, repr=False, compare=False)

    def domains_of(self, dimension: str) -> list[Domain]:
        """The domains of one dimension, in file order."""
        return [d for d in self.domains if d.dimension == dimension]

    def domain(self, domain_id: str) -> Domain:
        """The domain with this id; KeyError if there is none."""
        entry = self._lookup.get((domain_id.split(".", 1)[0], label_key(domain_id)))
        if not isinstance(entry, Domain):
            raise KeyError(domain_id)
        return entry

    def resolve(self, dimension: str, label: str) -> Domain | NonDomainLabel | None:
        """The domain or non-domain label a label string names in ``dimension``, or None.

        Matches ids, names and aliases, ignoring case, punctuation and '&' versus 'and'.
        """
        return self._lookup.get((dimension, label_key(label)))


def _fail(path: Path, where: str, message: str) -> TaxonomyError:
    return TaxonomyError(f"{path}: {where}: {message}")


def _required_str(path: Path, where: str, entry: dict, key: str) -> str:
    value = entry.get(key)
    if value is None:
        raise _fail(path, where, f"missing field '{key}'")
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, where, f"field '{key}' must be a non-empty string")
    return value.strip()


def _aliases(path: Path, where: str, entry: dict) -> tuple[str, ...]:
    aliases = entry.get("aliases", []) or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        raise _fail(path, where, "field 'aliases' must be a list of non-empty strings")
    return tuple(aliases)


def _register(lookup: dict, path: Path, where: str, dimension: str, entry, names) -> None:
    for name in names:
        key = (dimension, label_key(name))
        if lookup.get(key, entry) != entry:
            raise _fail(path, where, f"label '{name}' already names {lookup[key].id} in dimension {dimension}")
        lookup[key] = entry


def parse_taxonomy(data: object, path: Path) -> Taxonomy:
    """Validate parsed YAML and build a :class:`Taxonomy`; raises :class:`TaxonomyError`."""
    if not isinstance(data, dict):
        raise _fail(path, "top level", "expected a mapping with version, dimensions, domains")
    version = data.get("version")
    if not isinstance(version, (str, int, float)) or not str(version).strip():
        raise _fail(path, "version", "missing or empty version string")

    dims = data.get("dimensions")
    if not isinstance(dims, dict) or set(dims) != set(DIMENSIONS):
        raise _fail(path, "dimensions", f"must define exactly {', '.join(DIMENSIONS)}")
    dimension_names, dimension_sources = {}, {}
    for dim in DIMENSIONS:
        entry = dims[dim] if isinstance(dims[dim], dict) else {}
        dimension_names[dim] = _required_str(path, f"dimensions.{dim}", entry, "name")
        dimension_sources[dim] = _required_str(path, f"dimensions.{dim}", entry, "source")

    lookup: dict[tuple[str, str], str] = {}
    non_domain = []
    for i, entry in enumerate(data.get("non_domain_labels") or []):
        where = f"non_domain_labels[{i}]"
        if not isinstance(entry, dict):
            raise _fail(path, where, "expected a mapping")
        label = NonDomainLabel(
            id=_required_str(path, where, entry, "id"),
            name=_required_str(path, where, entry, "name"),
            description=_required_str(path, where, entry, "description"),
            aliases=_aliases(path, where, entry),
        )
        non_domain.append(label)
        for dim in DIMENSIONS:
            _register(lookup, path, where, dim, label, (label.id, label.name, *label.aliases))
    if {label.id for label in non_domain} != {"none", "unknown"}:
        raise _fail(path, "non_domain_labels", "must define exactly the ids 'none' and 'unknown'")

    types = []
    for i, entry in enumerate(data.get("semantic_types") or []):
        where = f"semantic_types[{i}]"
        if not isinstance(entry, dict):
            raise _fail(path, where, "expected a mapping")
        types.append(SemanticType(*(_required_str(path, where, entry, k) for k in ("id", "name", "description"))))
    if {t.id for t in types} != {"object", "attribute", "relation"}:
        raise _fail(path, "semantic_types", "must define exactly object, attribute and relation")

    kinds, raw_kinds = [], data.get("misalignment_kinds")
    for i, entry in enumerate(raw_kinds or []):
        where = f"misalignment_kinds[{i}]"
        if not isinstance(entry, dict):
            raise _fail(path, where, "expected a mapping")
        kinds.append(MisalignmentKind(*(_required_str(path, where, entry, k) for k in ("id", "name", "description"))))
    if raw_kinds is None and Path(path).resolve() != DEFAULT_TAXONOMY_PATH.resolve():
        kinds = list(load_taxonomy().misalignment_kinds)  # a file without kinds gets the shipped ones

    raw_domains = data.get("domains")
    if not isinstance(raw_domains, list) or not raw_domains:
        raise _fail(path, "domains", "missing or empty list of domains")
    domains, seen_ids = [], set()
    for i, entry in enumerate(raw_domains):
        label = entry.get("id", "?") if isinstance(entry, dict) else "?"
        where = f"domains[{i}] ({label})"
        if not isinstance(entry, dict):
            raise _fail(path, where, "expected a mapping")
        values = {k: _required_str(path, where, entry, k) for k in _DOMAIN_FIELDS}
        if values["dimension"] not in DIMENSIONS:
            raise _fail(path, where, f"dimension '{values['dimension']}' is not one of {', '.join(DIMENSIONS)}")
        if values["id"] in seen_ids:
            raise _fail(path, where, f"duplicate id '{values['id']}'")
        seen_ids.add(values["id"])
        source = entry.get("source") or dimension_sources[values["dimension"]]
        domain = Domain(**values, source=str(source), aliases=_aliases(path, where, entry))
        _register(lookup, path, where, domain.dimension, domain, (domain.id, domain.name, *domain.aliases))
        domains.append(domain)

    return Taxonomy(
        version=str(version).strip(),
        path=str(path),
        dimension_names=dimension_names,
        domains=tuple(domains),
        non_domain_labels=tuple(non_domain),
        semantic_types=tuple(types),
        misalignment_kinds=tuple(kinds),
        _lookup=lookup,
    )


@lru_cache(maxsize=8)
def _load_cached(path: Path, mtime_ns: int) -> Taxonomy:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    except UnicodeDecodeError as exc:
        raise TaxonomyError(f"{path}: not UTF-8 text ({exc.reason})") from None
    return parse_taxonomy(data, path)


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load a taxonomy file (default: the shipped ``domains.yaml``), validated.

    >>> len(load_taxonomy().domains)
    111
    """
    path = Path(path) if path else DEFAULT_TAXONOMY_PATH
    if not path.is_file():
        raise TaxonomyError(f"{path}: taxonomy file not found")
    return _load_cached(path.resolve(), path.stat().st_mtime_ns)
