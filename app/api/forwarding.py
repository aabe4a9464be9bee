"""The catch-all route: every request the service does not answer itself goes to Elasticsearch.

The service's own paths are `/` and `/_connector*` (with `/_connector_service/*`); for them
an unknown path or method stays the service's own 404 or 405. Anything
else (document reads and updates, `_search`, `_bulk`, index checks) is forwarded unchanged, so
one URL serves a connectors worker completely. Elasticsearch authorizes it with the caller's
own `Authorization` header (docs/worker.md).
"""

import logging
import re

from flask import Blueprint, Response, request
from werkzeug.routing import PathConverter
from werkzeug.wsgi import ClosingIterator, get_input_stream

from app.api.requests import store
from app.storage import CONNECTORS_INDEX
from app.urls import SERVICE_PATH_PREFIXES, WATCH_DISCONNECT, encoded_path

log = logging.getLogger(__name__)

bp = Blueprint("forwarding", __name__)

FORWARDED_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


class ForwardedPathConverter(PathConverter):
    """A path that is not the service's own: the router never sends `/_connector*` here, so
    its unknown paths and methods stay the service's 404 and 405."""

    regex = ("(?!" + "|".join(re.escape(prefix.lstrip("/")) for prefix in SERVICE_PATH_PREFIXES)
             + ")" + PathConverter.regex)


@bp.record_once
def install(state) -> None:
    # Before the route below is added: the rule needs its converter.
    state.app.url_map.converters["forwarded"] = ForwardedPathConverter
    if state.app.config.get("FORWARD_WITH_SERVICE_CREDENTIALS"):
        log.warning("FORWARD_WITH_SERVICE_CREDENTIALS is on: forwarded requests use the "
                    "service's own Elasticsearch credentials, whoever sends them")


@bp.route("/<forwarded:path>", methods=FORWARDED_METHODS, provide_automatic_options=False)
def forward(path: str):
    """Sends the request to Elasticsearch and streams its answer back, status and body as is."""
    storage = store()
    if CONNECTORS_INDEX in path:
        # A worker's preflight checks these indices: they must exist, with their aliases.
        storage.ensure_ready()
    body, content_length = request_body()
    watch = request.environ.get(WATCH_DISCONNECT)
    answer = storage.forwarder.forward(
        request.method, encoded_path(request.environ), request.environ.get("QUERY_STRING", ""),
        request.headers.items(), body, content_length,
        abort_when=watch().on if watch is not None else None)
    # The server closes what it is given when the answer is sent or its caller leaves: with
    # direct_passthrough that is this iterator itself (the response's own call_on_close never
    # runs), which returns the connection to the pool, or drops it if the body was left unread.
    response = Response(ClosingIterator(answer.chunks(), answer.close), status=answer.status,
                        headers=answer.headers, direct_passthrough=True)
    if not any(name.lower() == "content-type" for name, _ in answer.headers):
        del response.headers["Content-Type"]  # not the default text/html Flask would add
    return response


def request_body():
    """The body as a stream and its length (None when it arrives chunked); (None, None) when
    there is none, such as an empty `application/octet-stream` PUT.

    Not `request.stream`, which applies MAX_BODY_BYTES: that limit is for the service's own
    routes; Elasticsearch applies its own (http.max_content_length), and _bulk bodies are large.
    """
    if request.content_length:
        return get_input_stream(request.environ), request.content_length
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if chunked and request.environ.get("wsgi.input_terminated"):
        return get_input_stream(request.environ), None
    return None, None

