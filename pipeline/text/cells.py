"""Data text made safe where it lands: cells a spreadsheet would run as formulas, Markdown a page would render.

>>> spreadsheet_safe("=1+2"), spreadsheet_safe("@SUM(A1)"), spreadsheet_safe("fine")
("'=1+2", "'@SUM(A1)", 'fine')
>>> spreadsheet_safe(3)
3
"""

from __future__ import annotations

import re


def spreadsheet_safe(value: object) -> object:
    """Text a spreadsheet would run as a formula (= + - @, tab or carriage return first) is prefixed with a quote."""
    return f"'{value}" if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def markdown_literal(value: object) -> str:
    r"""Text for a place that renders Markdown (a title, caption, label, message), shown exactly as written.

    A code span: inside one, Markdown gives nothing meaning (links, bare URLs, images, emphasis,
    ``:colour[...]`` directives, ``$...$`` maths); its fence is one backtick longer than any run of
    backticks in the text. Line breaks show as spaces, as a one-line place shows them anyway.

    >>> markdown_literal("[login](https://x.example) $x$")
    '`[login](https://x.example) $x$`'
    >>> markdown_literal("a `b` c"), markdown_literal("`edge")
    ('``a `b` c``', '`` `edge ``')
    >>> ":material/" in markdown_literal(":material/warning: read this")
    False
    """
    # Streamlit rewrites every ":material/" in Markdown, code spans too, into its icon syntax before it
    # parses: an invisible word joiner after the colon keeps the text as typed
    text = str(value).replace(":material/", ":\u2060material/")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[:1] == "`" or text[-1:] == "`" else ""
    return f"{fence}{pad}{text}{pad}{fence}"
