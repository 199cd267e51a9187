"""Cells for spreadsheets: data text that a spreadsheet would run as a formula is neutralised.

>>> spreadsheet_safe("=HYPERLINK(\"http://x\")")
'\'=HYPERLINK("http://x")'
>>> spreadsheet_safe(3)
3
"""

from __future__ import annotations


def spreadsheet_safe(value: object) -> object:
    """Text a spreadsheet would run as a formula (= + - @ first) is prefixed with a quote."""
    return f"'{value}" if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") else value
