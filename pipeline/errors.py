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
