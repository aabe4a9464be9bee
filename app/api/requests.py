"""Reading requests as Elasticsearch does: JSON bodies, media types and query parameters.

`@rest(body=..., query=...)` states a view's contract above it, as the reference's REST
handlers do: a body a route does not take, or a query parameter it does not know, is a 400.
"""

import functools
import json

from flask import current_app, request

from app.api import bodies
from app.exceptions import BadRequest, ParseFailed, RestError
from app.schemas import loading
from app.schemas.loading import StrictSchema
from app.storage import Storage

# Media types ES reads as JSON (the compatible-with parameter does not change the JSON). Any
# other, or none, is a 406 as in ES: a page on another origin can POST `text/plain` without
# asking first, never `application/json`.
JSON_MEDIA_TYPES = {"application/json", "application/vnd.elasticsearch+json",
                    "application/x-ndjson", "application/vnd.elasticsearch+x-ndjson"}
# Elasticsearch's JSON parser refuses deeper nesting (Jackson's StreamReadConstraints); what it
# accepts, the service parses, stores and answers (app.api.limits keeps the recursion room).
MAX_NESTING_DEPTH = 1000
# Parameters every ES route accepts; they shape the response (app.api.responses).
RESPONSE_PARAMETERS = frozenset({"pretty", "human", "error_trace", "filter_path", "format"})


class UnsupportedMediaType(RestError):
    status = 406
    error_type = "media_type_header_exception"


def store() -> Storage:
    return current_app.extensions["connector_storage"]


def rest(*, body: StrictSchema | None = None, body_required: bool = True,
         query: StrictSchema | None = None, params: frozenset[str] = frozenset()):
    """Loads and validates the request before the view runs.

    The view receives `body=` (a dict; `{}` when an optional body is absent) if a body schema
    is given, and `query=` if a query schema is given. `params` names plain parameters the
    view reads itself from `request.args`.
    """

    def decorate(view):
        allowed = set(params) | RESPONSE_PARAMETERS
        if query is not None:
            allowed |= {f.data_key or name for name, f in query.fields.items()}

        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            data = json_body()
            # A JSON `null` is a body (refused as ES's parsers refuse it), not an absent one.
            absent = data is None and not bodies.content().strip()
            if body is not None:
                if absent and body_required:
                    raise ParseFailed("request body is required", error_type="parse_exception")
                kwargs["body"] = loading.load_body(body, {} if absent else data)
            unknown = sorted(set(request.args) - allowed)
            if unknown:
                noun = "parameter" if len(unknown) == 1 else "parameters"
                raise BadRequest(f"request [{request.path}] contains unrecognized {noun}: "
                                 f"[{', '.join(unknown)}]")
            if body is None and not absent:
                raise BadRequest(f"request [{request.method} {request.path}] does not support "
                                 "having a body")
            if query is not None:
                kwargs["query"] = loading.load_query(query, query_args())
            return view(*args, **kwargs)

        wrapper.rest_contract = {"body": body, "query": query, "params": params,
                                 "body_required": body_required}
        return wrapper

    return decorate


def json_body():
    """The request's parsed JSON; None when the body is empty, whatever its Content-Type
    (workers send body-less PUTs as application/octet-stream)."""
    raw = bodies.content()
    if not raw.strip():
        return None
    if request.mimetype not in JSON_MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type header [{request.content_type or ''}] is not supported")
    return parse_json(raw)


def parse_json(raw: bytes):
    """A JSON body as Elasticsearch's parser reads it, within MAX_NESTING_DEPTH."""
    try:
        data = json.loads(raw)
    except RecursionError:
        raise too_deep(None) from None
    except (ValueError, UnicodeDecodeError) as err:
        raise ParseFailed(f"Failed to parse the request body as JSON: {err}") from None
    # Only a body with that many brackets can be nested that deep: most are never walked.
    if may_nest_too_deep(raw):
        depth = nesting_depth(data, MAX_NESTING_DEPTH)
        if depth > MAX_NESTING_DEPTH:
            raise too_deep(depth)
    return data


def may_nest_too_deep(raw: bytes) -> bool:
    return raw.count(b"[") + raw.count(b"{") > MAX_NESTING_DEPTH


def nesting_depth(value, limit: int) -> int:
    """How deep objects and arrays nest in `value` (1 for `{}`), counted up to `limit + 1`."""
    if not isinstance(value, (dict, list)):
        return 0
    deepest, pending = 0, [(value, 1)]
    while pending:
        node, depth = pending.pop()
        children = node.values() if isinstance(node, dict) else node
        deepest = max(deepest, depth)
        if deepest > limit:
            break
        pending.extend((child, depth + 1) for child in children
                       if isinstance(child, (dict, list)))
    return deepest


def too_deep(depth: int | None) -> ParseFailed:
    shown = f"({depth}) " if depth is not None else ""
    return ParseFailed(f"Document nesting depth {shown}exceeds the maximum allowed "
                       f"({MAX_NESTING_DEPTH}, from `StreamReadConstraints.getMaxNestingDepth()`)")


def query_args() -> dict:
    return {key: values if len(values) > 1 else values[0]
            for key, values in request.args.lists() if key not in RESPONSE_PARAMETERS}


def flag(name: str, default: bool = False) -> bool:
    """A boolean query parameter as ES reads it: `true`, `false`, or present without a value."""
    value = request.args.get(name)
    if value is None:
        return default
    if value in ("", "true"):
        return True
    if value == "false":
        return False
    raise BadRequest(f"Failed to parse value [{value}] as only [true] or [false] are allowed.")
