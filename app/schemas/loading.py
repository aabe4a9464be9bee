"""Loading a request through a schema, and turning marshmallow's messages into the errors
Elasticsearch's strict request parsers give (same types, same wording where it can be known)."""

from marshmallow import RAISE, Schema, ValidationError, validates_schema

from app.exceptions import BadRequest, ParseFailed, ValidationFailed
from app.schemas.fields import QueryInt

# ES's index.max_result_window: the deepest page a search may reach (from + size).
MAX_RESULT_WINDOW = 10_000

MISSING = "Missing data for required field."
UNKNOWN = "Unknown field."
TYPE_MESSAGES = ("Not a valid", "Invalid input type", "Field may not be null.")


class StrictSchema(Schema):
    """Unknown fields are refused, as by the reference's parsers. `parser` names the
    reference parser in error messages."""

    parser = "request"

    class Meta:
        unknown = RAISE


class PagedQuery(StrictSchema):
    """`from` and `size` as the reference's PageParams read them: not negative, and their sum
    within the result window, so that no page is offered that the search would then refuse."""

    from_ = QueryInt(data_key="from", load_default=0)
    size = QueryInt(load_default=100)

    @validates_schema
    def window_fits(self, data, **kwargs):
        if data.get("from_", 0) + data.get("size", 0) > MAX_RESULT_WINDOW:
            raise ValidationError(
                f"The sum of parameters [from] and [size] cannot be higher than {MAX_RESULT_WINDOW}.")


def load_body(schema: StrictSchema, data) -> dict:
    """Validates a JSON body; failures are 400s in the reference's shapes."""
    if not isinstance(data, dict):
        raise ParseFailed(f"[{schema.parser}] Expected START_OBJECT but was: {token_type(data)}")
    try:
        return schema.load(data)
    except ValidationError as error:
        raise rest_error(error, data, parser=schema.parser) from None


def load_query(schema: StrictSchema, args: dict) -> dict:
    """Validates query parameters; like ES, the first bad value is an illegal_argument_exception."""
    try:
        return schema.load(args)
    except ValidationError as error:
        field_name, message = next(_flatten(error.messages))
        raise BadRequest(message if message.startswith(("Unknown", "Failed", "Parameter", "The "))
                         else f"[{field_name}] {message}") from None


def rest_error(error: ValidationError, data: dict, *, parser: str) -> BadRequest:
    """One 400 in the order ES reports problems: the first unknown or mistyped field, then the
    missing required fields, then an unknown enum value, then every validation failure."""
    parse_problems, required, enums, problems = [], [], [], []
    for field_name, message in _flatten(error.messages):
        if message == UNKNOWN:
            parse_problems.append(f"[{parser}] unknown field [{field_name}]")
        elif message.startswith(TYPE_MESSAGES):
            value = _lookup(data, field_name)
            parse_problems.append(
                f"[{parser}] {field_name} doesn't support values of type: {token_type(value)}")
        elif message == MISSING:
            required.append(field_name)
        elif message.startswith("Unknown "):
            enums.append(message)
        else:
            problems.append(message)
    if parse_problems:
        return ParseFailed(parse_problems[0])
    if required:
        return BadRequest(f"Required [{', '.join(required)}]")
    if enums:
        return ParseFailed(f"[{parser}] failed to parse request", caused_by={
            "type": "illegal_argument_exception", "reason": enums[0]})
    return ValidationFailed(problems)


def token_type(value) -> str:
    """The JSON token ES's parser names in its type errors."""
    if value is None:
        return "VALUE_NULL"
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    if isinstance(value, int | float):
        return "VALUE_NUMBER"
    if isinstance(value, str):
        return "VALUE_STRING"
    if isinstance(value, list):
        return "START_ARRAY"
    return "START_OBJECT"


def _lookup(data, dotted: str):
    for part in dotted.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _flatten(messages, prefix=""):
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key == "_schema":
                yield from _flatten(value, prefix)
            else:
                yield from _flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(messages, list):
        for message in messages:
            if isinstance(message, str):
                yield prefix, message
            else:
                yield from _flatten(message, prefix)
