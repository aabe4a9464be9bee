"""Timestamps as Elasticsearch writes them: UTC instants with three to nine fraction digits."""

import threading
from datetime import UTC, datetime, timedelta

_lock = threading.Lock()
_last = datetime.min.replace(tzinfo=UTC)


def now() -> str:
    """The current instant, at least a millisecond later than the last one this process gave.

    `created_at` is indexed with millisecond precision and jobs are listed newest first, so
    two jobs created back to back must not tie; a check-in right after creation must move
    `last_seen` strictly forward.
    """
    global _last
    with _lock:
        current = max(datetime.now(UTC), _last + timedelta(milliseconds=1))
        _last = current
    return format_instant(current)


def format_instant(moment: datetime) -> str:
    """ES's printed form: `2023-05-25T12:30:00.000Z`, `2023-12-04T08:45:50.567149Z`."""
    moment = moment.astimezone(UTC)
    fraction = f"{moment.microsecond:06d}".rstrip("0").ljust(3, "0")
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{fraction}Z"


def parse_instant(text: str) -> datetime:
    """Parses what ES's `strict_date_optional_time||epoch_millis` accepts: an ISO-8601 date or
    date-time (UTC when it names no zone) or a string of epoch milliseconds."""
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    if len(text) < 4 or not text[:4].isdigit():
        raise ValueError(f"not an instant: {text!r}")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
