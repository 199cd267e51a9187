"""Cells for spreadsheets: data text that a spreadsheet would run as a formula is neutralised.

>>> spreadsheet_safe("=1+2"), spreadsheet_safe("@SUM(A1)"), spreadsheet_safe("fine")
("'=1+2", "'@SUM(A1)", 'fine')
>>> spreadsheet_safe(3)
3
"""

from __future__ import annotations


def spreadsheet_safe(value: object) -> object:
    """Text a spreadsheet would run as a formula (= + - @ first) is prefixed with a quote."""
    return f"'{value}" if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") else value
