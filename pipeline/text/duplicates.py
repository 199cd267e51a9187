"""Rows of an imported file that say the same thing twice: one rule for every import.

``--on-duplicate refuse`` (the default) stops the import naming both rows; ``first`` keeps the first
row and leaves the later ones out, each named; ``vote`` keeps them all, for the import to count as
votes.

>>> rows = [("a", "row 2"), ("b", "row 3"), ("a", "row 4")]
>>> kept_rows(rows, "first", "the same response")
([0, 1], ['row 4 (the same response as row 2)'])
>>> kept_rows(rows, "refuse", "the same response", path="labels.csv")
Traceback (most recent call last):
...
pipeline.text.readers.InputError: labels.csv: row 2 and row 4: the same response twice; keep one, or --on-duplicate first|vote
"""

from __future__ import annotations

from collections.abc import Hashable

from pipeline.text.readers import InputError

ON_DUPLICATE = ("refuse", "first", "vote")


def kept_rows(rows: list[tuple[Hashable, str]], on_duplicate: str, what: str,
              path: object = "") -> tuple[list[int], list[str]]:
    """Which of ``rows`` (each a key and where it is in ``path``, in file order) an import keeps, and the
    rows it leaves out, each named with the row it repeats; ``what`` says in words what a repeated key is."""
    if on_duplicate not in ON_DUPLICATE:
        raise InputError(f"--on-duplicate: '{on_duplicate}' is not one of {', '.join(ON_DUPLICATE)}")
    first: dict[Hashable, str] = {}
    kept, left_out = [], []
    for index, (key, where) in enumerate(rows):
        if key not in first or on_duplicate == "vote":
            first.setdefault(key, where)
            kept.append(index)
        elif on_duplicate == "first":
            left_out.append(f"{where} ({what} as {first[key]})")
        else:
            raise InputError(f"{f'{path}: ' if path else ''}{first[key]} and {where}: {what} twice; keep one, or "
                             "--on-duplicate first|vote")
    return kept, left_out
