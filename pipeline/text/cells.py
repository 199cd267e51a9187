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
    r"""Text for a place that renders Markdown (a title, caption, label, message), shown exactly as written,
    in the page's own type.

    Every ASCII punctuation mark is backslash-escaped, so Markdown gives nothing meaning (links, bare
    URLs, images, emphasis, HTML, ``$...$`` maths, headings and lists at the start). What reads the
    text Markdown leaves — Streamlit's ``:red[...]``, ``:material/...:`` and ``:emoji:``, GitHub's bare
    ``https://``, ``www.`` and e-mail links — is kept as typed by an invisible word joiner (U+2060) after
    a colon, after ``@`` and after ``www``: it is in what a person copies, and in nothing else. Line breaks
    show as spaces and leading spaces go, as a one-line place shows them anyway (four would start a code
    block). Where text must stay byte-exact (prompts, responses), pages show it with ``st.text``.

    >>> print(markdown_literal("[login](/x) *x* $y$ <b>"))
    \[login\]\(\/x\) \*x\* \$y\$ \<b\>
    >>> "\\:\u2060red" in markdown_literal(":red[alert]"), "www\u2060\\.x" in markdown_literal("www.x")
    (True, True)
    """
    text = " ".join(str(value).splitlines()).lstrip()
    text = _PUNCTUATION.sub(r"\\\1", text)
    return _JOINED.sub("\\g<0>\u2060", text)


_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # ASCII punctuation: what CommonMark lets a backslash escape
_JOINED = re.compile(r"\\[:@](?=\S)|(?i:www)(?=\\\.)")  # where a directive, emoji or bare link would begin
