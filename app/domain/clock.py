"""Timestamps as Elasticsearch writes them: UTC instants with three to nine fraction digits."""

import re
import threading
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


# Elasticsearch's `strict_date_optional_time`: a four-digit year, then optionally -MM, -dd,
# and after `T` the hour, :mm, :ss, a fraction of 1 to 9 digits (`.` or `,`) and a zone: `Z`,
# an offset (`+01`, `+0130`, `+01:30`), or a zone name (`UTC`, `Europe/Paris`, `GMT+01:00`).
_OFFSET = r"[+-]\d{2}(?::?\d{2})?"
_STRICT_DATE_OPTIONAL_TIME = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?:(?P<hour>\d{2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2})"
    r"(?:[.,](?P<fraction>\d{1,9}))?)?)?"
    rf"(?:(?P<offset>Z|{_OFFSET})|(?P<prefix>UTC|GMT|UT)(?P<prefixed>{_OFFSET})"
    r"|(?P<region>[A-Za-z][A-Za-z0-9_+/-]*))?)?)?)?)?", re.ASCII)


def parse_instant(text: str) -> datetime:
    """Parses what the date mappings accept (`strict_date_optional_time||epoch_millis`): an
    ISO-8601 date or date-time as ES's strict format reads it (UTC when it names no zone;
    `2026-11` is November 1st), else a string of epoch milliseconds (`2026` is a year: the
    formats are tried in that order). Anything else, such as a space between date and time,
    raises ValueError."""
    match = _STRICT_DATE_OPTIONAL_TIME.fullmatch(text)
    if match is None:
        if text.isascii() and text.isdigit():
            return datetime.fromtimestamp(int(text) / 1000, UTC)
        raise ValueError(f"not an instant: {text!r}")
    part = match.groupdict()
    fraction = (part["fraction"] or "").ljust(6, "0")[:6]
    moment = datetime(int(part["year"]), int(part["month"] or 1), int(part["day"] or 1),
                      int(part["hour"] or 0), int(part["minute"] or 0), int(part["second"] or 0),
                      int(fraction or 0), tzinfo=_zone(part))
    return moment.astimezone(UTC)


def parse_stored_instant(value) -> datetime:
    """A date as another writer may have stored it: also a JSON number of epoch milliseconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    return parse_instant(str(value))


def _zone(part: dict) -> tzinfo:
    offset = part["offset"] or part["prefixed"]
    if offset and offset != "Z":
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or 0)
        if minutes > 59 or timedelta(hours=hours, minutes=minutes) > timedelta(hours=18):
            raise ValueError(f"zone offset out of range: {offset!r}")
        delta = timedelta(hours=hours, minutes=minutes)
        return timezone(-delta if offset[0] == "-" else delta)
    if part["region"]:
        try:
            return ZoneInfo(part["region"])
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError(f"unknown time zone: {part['region']!r}") from None
    return UTC
