"""Timestamps as the store writes them: UTC, ISO 8601, to the second."""

from datetime import datetime, timezone


def utc_now() -> str:
    """Now, in UTC, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def utc_seconds(moment: str) -> str:
    """Another system's ISO 8601 time as the store writes times (a time without a zone is UTC), so the two
    compare as strings.

    >>> utc_seconds("2026-12-04T01:20:33.918273"), utc_seconds("2026-12-04T02:20:33+01:00")
    ('2026-12-04T01:20:33+00:00', '2026-12-04T01:20:33+00:00')
    """
    parsed = datetime.fromisoformat(moment)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).isoformat(timespec="seconds")
