"""Quartz-style cron expressions, checked as the reference's `Cron` class checks them.

`sec min hour day-of-month month day-of-week [year]`, separated by spaces or tabs. The reference
upper-cases the expression and stores that form (`0 0 0 ? * mon` becomes `0 0 0 ? * MON`).
Exactly one of day-of-month and day-of-week must be `?`.
"""

import re
from dataclasses import dataclass

MONTH_NAMES = {name: number for number, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
DAY_NAMES = {name: number for number, name in enumerate(
    ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}


@dataclass(frozen=True)
class Field:
    name: str
    low: int
    high: int
    names: dict[str, int] | None = None


SECOND, MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK, YEAR = range(7)
FIELDS = (
    Field("Second", 0, 59),
    Field("Minute", 0, 59),
    Field("Hour", 0, 23),
    Field("Day-of-Month", 1, 31),
    Field("Month", 1, 12, MONTH_NAMES),
    Field("Day-of-Week", 1, 7, DAY_NAMES),
    Field("Year", 1970, 2199),
)

_ITEM = re.compile(r"^(?P<base>\*|[0-9A-Z]+(?:-[0-9A-Z]+)?)?(?:/(?P<step>[0-9]+))?$")


class InvalidCron(ValueError):
    pass


def normalize(expression: str) -> str:
    """The expression as the reference stores it; raises InvalidCron with the reason if invalid."""
    text = expression.upper()
    parts = [part for part in re.split(r"[ \t]+", text) if part]
    if len(parts) < 6:
        raise InvalidCron(f"unexpected end of expression at pos [{len(text)}].")
    if len(parts) > 7:
        raise InvalidCron("too many fields: expected 6 or 7")
    for position, part in enumerate(parts):
        _check_field(position, part)
    day_of_month, day_of_week = parts[DAY_OF_MONTH] == "?", parts[DAY_OF_WEEK] == "?"
    if day_of_month and day_of_week:
        raise InvalidCron("'?' can only be specified for Day-of-Month -OR- Day-of-Week.")
    if not day_of_month and not day_of_week:
        raise InvalidCron(
            "support for specifying both a day-of-week AND a day-of-month parameter is not implemented.")
    return text


def is_valid(expression: str) -> bool:
    try:
        normalize(expression)
    except InvalidCron:
        return False
    return True


def _check_field(position: int, part: str) -> None:
    field = FIELDS[position]
    items = part.split(",")
    if "?" in part:
        if position not in (DAY_OF_MONTH, DAY_OF_WEEK):
            raise InvalidCron("'?' can only be specified for Day-of-Month or Day-of-Week.")
        if part != "?":
            raise InvalidCron(f"illegal use of '?' in [{part}]")
        return
    if "L" in part and len(items) > 1 and position in (DAY_OF_MONTH, DAY_OF_WEEK):
        raise InvalidCron(f"support for specifying 'L' with other days of the {field.name} "
                          "is not implemented")
    if "#" in part and len(items) > 1:
        raise InvalidCron("support for specifying multiple \"nth\" days is not implemented.")
    for item in items:
        if position == DAY_OF_MONTH and _is_last_or_weekday(item):
            continue
        if position == DAY_OF_WEEK and _is_last_or_nth_weekday(item):
            continue
        _check_item(field, item)


def _is_last_or_weekday(item: str) -> bool:
    """`L`, `L-3`, `LW`, `L-3W` (last day, with an offset, or its nearest weekday), or `15W`."""
    last = re.fullmatch(r"L(?:-([0-9]+))?W?", item)
    if last:
        if last.group(1) is not None and int(last.group(1)) > 30:
            raise InvalidCron("offset from last day must be <= 30")
        return True
    weekday = re.fullmatch(r"([0-9]+)W", item)
    if weekday:
        if not 1 <= int(weekday.group(1)) <= 31:
            raise InvalidCron("the 'W' option needs a day of month between 1 and 31")
        return True
    return False


def _is_last_or_nth_weekday(item: str) -> bool:
    """`L` (Saturday), `6L` / `FRIL` (the month's last Friday), `6#3` / `FRI#3` (its third)."""
    if item == "L":
        return True
    special = re.fullmatch(r"([0-9]+|[A-Z]{3})(L|#([0-9]+))", item)
    if not special:
        return False
    _value(FIELDS[DAY_OF_WEEK], special.group(1))
    nth = special.group(3)
    if nth is not None and not 1 <= int(nth) <= 5:
        raise InvalidCron("a numeric value between 1 and 5 must follow the '#' option")
    return True


def _check_item(field: Field, item: str) -> None:
    match = _ITEM.match(item)
    if not match or (match.group("base") is None and match.group("step") is None):
        raise InvalidCron(f"illegal characters [{item}] in the {field.name} field")
    base, step = match.group("base"), match.group("step")
    if base not in (None, "*"):
        low, _, high = base.partition("-")
        start = _value(field, low)
        # Other ranges may wrap around (`22-2`, `NOV-FEB`); years may not.
        if high and _value(field, high) < start and field is FIELDS[YEAR]:
            raise InvalidCron("Start year must be less than stop year")
    if step is not None and not 1 <= int(step) <= field.high:
        raise InvalidCron(f"increment [{step}] must be between 1 and {field.high}")


def _value(field: Field, token: str) -> int:
    if re.fullmatch("[0-9]+", token):
        number = int(token)
    elif field.names and token in field.names:
        number = field.names[token]
    else:
        raise InvalidCron(f"invalid {field.name} value [{token}]")
    if not field.low <= number <= field.high:
        raise InvalidCron(f"{field.name} values must be between {field.low} and {field.high}")
    return number
