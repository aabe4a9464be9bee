"""The limits Elasticsearch puts on a request before any handler reads it: the body's size
and the document ids in the path. Checked here once, for every route of the service's own
(forwarded requests are Elasticsearch's to check), so no view forgets."""

import sys

from flask import Flask, current_app, request

from app.api.bodies import release_large_body_turn, take_large_body_turn
from app.exceptions import BodyTooLarge, ValidationFailed
from app.urls import is_service_path

# Elasticsearch refuses longer `_id`s (IndexRequest / UpdateRequest validation).
MAX_ID_BYTES = 512
# Parsing, merging, filtering and answering a document nested as deep as Elasticsearch allows
# (1000 levels, app.api.requests.MAX_NESTING_DEPTH) recurse once per level, on top of the
# frames of a request; Python's default of 1000 in all would end such a request in a 500.
RECURSION_LIMIT = 4000


def register(app: Flask) -> None:
    if sys.getrecursionlimit() < RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)
    app.before_request(body_within_limit)
    app.teardown_request(release_large_body_turn)
    app.before_request(ids_are_document_ids)


def body_within_limit() -> None:
    """413 for a body over MAX_CONTENT_LENGTH, declared or chunked.

    Werkzeug stops reading a chunked body at the limit without saying so, and the view would
    parse a truncated body; reading one byte past the limit here tells the two apart.
    """
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if not limit or not is_service_path(request.path):
        # Forwarded bodies (_bulk) stream to Elasticsearch, which applies its own limit.
        return
    if request.content_length is not None:
        if request.content_length > limit:
            raise BodyTooLarge(limit)
        return
    if "chunked" not in request.headers.get("Transfer-Encoding", "").lower():
        return  # no length and no chunking: there is no body (a GET, a body-less PUT)
    if "wsgi.input_terminated" not in request.environ:
        return  # a server that cannot tell where a chunked body ends: werkzeug reads none
    take_large_body_turn()  # its size is unknown until it is read
    request.max_content_length = limit + 1
    try:
        data = request.get_data(cache=True)
    finally:
        request.max_content_length = limit
    if len(data) > limit:
        raise BodyTooLarge(limit)


def ids_are_document_ids() -> None:
    """400 for an id Elasticsearch would refuse: empty (`//` in the path) or over 512 bytes."""
    if request.path.startswith("/_connector") and "//" in request.path:
        raise ValidationFailed(["id is missing"])
    for name, value in (request.view_args or {}).items():
        if not (name.endswith("_id") and isinstance(value, str)):
            continue
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > MAX_ID_BYTES:
            raise ValidationFailed([f"id [{value}] is too long, must be no longer than "
                                    f"{MAX_ID_BYTES} bytes but was: {size}"])
