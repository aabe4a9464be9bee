"""Field types shared by the schemas: instants, counts, enums and comma-separated lists."""

from marshmallow import ValidationError, fields

from app.domain.clock import format_instant, parse_instant

# Counters are mapped as `integer`: a larger value would fail to index.
MAX_INTEGER = 2**31 - 1
# Lucene's largest term: a longer value in a `keyword` field fails the whole document's write.
MAX_KEYWORD_BYTES = 32_766


class Instant(fields.Field):
    """An instant as ES parses it (`strict_date_optional_time||epoch_millis`), stored in ES's
    own printed form: UTC, `Z`, three to nine fraction digits (`.000Z` stays `.000Z`)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("Not a valid instant.")
        try:
            return format_instant(parse_instant(value))
        except (ValueError, OverflowError, OSError):  # OverflowError: epoch millis too large
            raise ValidationError(
                f"failed to parse date field [{value}] with format "
                "[strict_date_optional_time||epoch_millis]") from None


class Keyword(fields.String):
    """A string stored in a `keyword` field: at most `max_bytes` of UTF-8, the term limit unless
    the field's meaning sets a tighter one. A longer one is a 400 naming the field, before
    anything is written, instead of Elasticsearch's refusal of the whole document."""

    def __init__(self, *, max_bytes: int = MAX_KEYWORD_BYTES, **kwargs):
        super().__init__(**kwargs)
        self.max_bytes = max_bytes

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > self.max_bytes:
            raise ValidationError(f"[{self.name}] is {size} bytes long, more than the "
                                  f"{self.max_bytes} bytes it may hold.")
        return text


class Count(fields.Integer):
    """A document count or volume: a JSON integer, not negative, that fits the `integer` mapping."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _validated(self, value):
        number = super()._validated(value)
        if number < 0:
            raise ValidationError(f"[{self.name}] cannot be negative.")
        if number > MAX_INTEGER:
            raise ValidationError(f"[{self.name}] must be at most {MAX_INTEGER}.")
        return number


class Enum(fields.String):
    """One of an enum's wire values, matched case-insensitively as ES does, stored lower-case."""

    def __init__(self, enum, *, type_name: str, **kwargs):
        super().__init__(**kwargs)
        self.values = [member.value for member in enum]
        self.type_name = type_name

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if text.lower() not in self.values:
            raise ValidationError(f"Unknown {self.type_name} [{text}].")
        return text.lower()


class CommaList(fields.Field):
    """A query-string list, `a,b` (or the parameter repeated), each value an enum's wire value.
    Empty items are dropped; `allow_empty=False` refuses a parameter with no value at all, as
    ES refuses an empty enum value."""

    def __init__(self, enum, *, type_name: str, allow_empty: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.values = [member.value for member in enum]
        self.type_name = type_name
        self.allow_empty = allow_empty

    def _deserialize(self, value, attr, data, **kwargs):
        texts = value if isinstance(value, list) else [value]
        items = [item for text in texts for item in str(text).split(",") if item != ""]
        if not items and not self.allow_empty:
            raise ValidationError(f"Unknown {self.type_name} [].")
        for item in items:
            if item.lower() not in self.values:
                raise ValidationError(f"Unknown {self.type_name} [{item}].")
        return [item.lower() for item in items]


class QueryInt(fields.Integer):
    """An integer query parameter, with ES's messages for text and negative values."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValidationError(
                f"Failed to parse int parameter [{attr}] with value [{value}]") from None
        if number < 0:
            raise ValidationError(f"Parameter [{attr}] cannot be < 0")
        return number


_TIME_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


class Duration(fields.Field):
    """A time value as ES writes them (`300s`, `5m`, `2h`, `1d`, `500ms`), loaded as seconds;
    at least `minimum` and at most `maximum` seconds (a cutoff that far back must still be a
    date)."""

    def __init__(self, *args, minimum: float = 0, maximum: int = 100 * 365 * 86400, **kwargs):
        super().__init__(*args, **kwargs)
        self.minimum = minimum
        self.maximum = maximum

    def _deserialize(self, value, attr, data, **kwargs):
        text = str(value).strip()
        for unit in sorted(_TIME_UNITS, key=len, reverse=True):
            number = text[: -len(unit)]
            # ASCII digits only: `²`.isdigit() is true, and int() refuses it.
            if text.endswith(unit) and number.isascii() and number.isdigit():
                seconds = int(number) * _TIME_UNITS[unit]
                if seconds < self.minimum:
                    raise ValidationError(
                        f"[{value}] is shorter than the {self.minimum:g}s this parameter takes "
                        "at least.")
                if seconds > self.maximum:
                    raise ValidationError(
                        f"failed to parse setting [{attr}] with value [{value}]: must be at most "
                        f"[{self.maximum // 86400}d]")
                return seconds
        raise ValidationError(
            f"failed to parse setting [{attr}] with value [{value}] as a time value: "
            "unit is missing or unrecognized (use d, h, m, s or ms)")
