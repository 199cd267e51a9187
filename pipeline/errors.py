"""The one error a user can fix: a bad option, file, setting or missing input.

The CLI prints a ``UsageError`` as one line and exits with status 1; any other exception is a bug
and shows its traceback. It is a ``ValueError``, so library callers may catch either.

>>> raise UsageError("--tau: must be between 0 and 63, not 99")
Traceback (most recent call last):
...
pipeline.errors.UsageError: --tau: must be between 0 and 63, not 99
"""

import re


class UsageError(ValueError):
    """A mistake the user can fix; the message says what and where (file, line, field or option)."""


class ServiceError(RuntimeError):
    """An outside service (a model server, Argilla, Redis) could not be reached or refused: not a bug,
    and not the user's input; the message says which service and why."""


def one_line(message: object) -> str:
    r"""A message fit for one terminal line: control characters (escapes, NULs, newlines) shown escaped.

    >>> one_line("bad header '\x1b]0;pwned\x07'\nnext")
    "bad header '\\x1b]0;pwned\\x07'\\nnext"
    """
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in str(message))


_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: object) -> str:
    r"""Text for a terminal, lines and tabs kept: control characters (terminal escapes that set the
    title, make links or write the clipboard) and bidirectional overrides shown escaped.

    >>> terminal_safe("panel \x1b]8;;https://x.example\x07P\x1b]8;;\x07\tok\n")
    'panel \\x1b]8;;https://x.example\\x07P\\x1b]8;;\\x07\tok\n'
    """
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def check_range(option: str, value: float | None, low: float | None = None, high: float | None = None,
                above: bool = False) -> None:
    """A UsageError naming ``option`` unless ``value`` is a finite number in [low, high] ((low, high] when
    ``above``); None (not given) passes.

    >>> check_range("--top-p", 1.5, 0, 1, above=True)
    Traceback (most recent call last):
    ...
    pipeline.errors.UsageError: --top-p: must be above 0 and at most 1, not 1.5
    """
    if value is None:
        return
    too_low = low is not None and (value <= low if above else value < low)
    too_high = high is not None and value > high
    if value != value or value in (float("inf"), float("-inf")) or too_low or too_high:
        bounds = [f"{'above' if above else 'at least'} {low:g}" if low is not None else "",
                  f"at most {high:g}" if high is not None else ""]
        raise UsageError(f"{option}: must be {' and '.join(b for b in bounds if b)}, not {value}")
