"""The one error a user can fix: a bad option, file, setting or missing input.

The CLI prints a ``UsageError`` as one line and exits with status 1; any other exception is a bug
and shows its traceback. It is a ``ValueError``, so library callers may catch either.

>>> raise UsageError("--tau: must be between 0 and 63, not 99")
Traceback (most recent call last):
...
pipeline.errors.UsageError: --tau: must be between 0 and 63, not 99
"""


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
