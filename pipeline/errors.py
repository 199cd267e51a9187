"""The one error a user can fix: a bad option, file, setting or missing input.

The CLI prints a ``UsageError`` as one line and exits with status 1; any other exception is a bug
and shows its traceback. It is a ``ValueError``, so library callers may catch either. An error about
one option carries it as ``field`` (its flag's name) beside the ``reason``, so each caller names it in
its own words: the CLI as the flag, the config loader as the file's key, a page as its form field.

>>> error = UsageError("must be between 0 and 63, not 99", field="tau")
>>> str(error), error.field, error.reason
('--tau: must be between 0 and 63, not 99', 'tau', 'must be between 0 and 63, not 99')
"""

import re


class UsageError(ValueError):
    """A mistake the user can fix; the message says what and where (file, line, field or option)."""

    def __init__(self, reason: str, field: str | None = None):
        super().__init__(f"--{field}: {reason}" if field else reason)
        self.reason, self.field = reason, field

    def __reduce__(self):  # so it crosses processes (a worker's error) whole
        return type(self), (self.reason, self.field)


class ConfigError(UsageError):
    """A configuration that cannot be used; the message names the file and key."""


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


def check_range(field: str, value: float | None, low: float | None = None, high: float | None = None,
                above: bool = False) -> None:
    """A UsageError about ``field`` (an option's flag name) unless ``value`` is a finite number in [low, high]
    ((low, high] when ``above``); None (not given) passes.

    >>> check_range("top-p", 1.5, 0, 1, above=True)
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
        raise UsageError(f"must be {' and '.join(b for b in bounds if b)}, not {value}", field=field)
