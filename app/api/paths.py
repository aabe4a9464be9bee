"""Routing on the path as the caller wrote it, as Elasticsearch does: it splits the raw path on
`/` and then decodes each segment, so `a%2Fb` is one id, `a/b`.

A WSGI server hands the app a PATH_INFO that is already decoded, where `a%2Fb` and `a/b` look
the same. The raw path is in `RAW_URI`/`REQUEST_URI` (app/front/ sets both, as werkzeug's
servers and test client do); `route_on_raw_path` rebuilds PATH_INFO from it with each segment
decoded but a `/` or `%` inside a segment kept escaped, and `SegmentConverter` undoes those two
escapes in the values the routes receive.
"""

import re
from urllib.parse import unquote_to_bytes

from werkzeug.routing import UnicodeConverter

_ESCAPED = re.compile(r"%(2F|25)", re.IGNORECASE)


def raw_path(environ) -> str | None:
    """The path as the caller sent it (still percent-encoded), or None when the server gave none."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        return None
    path = raw.split("?", 1)[0]
    return path if path.startswith("/") else None


def segment_path(raw: str) -> str:
    """PATH_INFO (latin-1 text of bytes) with each segment decoded, `/` and `%` inside kept escaped."""
    segments = []
    for segment in raw.split("/"):
        decoded = unquote_to_bytes(segment).replace(b"%", b"%25").replace(b"/", b"%2F")
        segments.append(decoded.decode("latin-1"))
    return "/".join(segments)


def routing_path(environ) -> str:
    """The PATH_INFO the routes are matched against."""
    raw = raw_path(environ)
    if raw is not None and "%" in raw:
        return segment_path(raw)
    return environ.get("PATH_INFO", "")


def route_on_raw_path(wsgi_app):
    def middleware(environ, start_response):
        environ["PATH_INFO"] = routing_path(environ)
        return wsgi_app(environ, start_response)

    return middleware


class SegmentConverter(UnicodeConverter):
    """One path segment, with the `/` and `%` escaped by `segment_path` restored."""

    def to_python(self, value: str) -> str:
        return _ESCAPED.sub(lambda match: "/" if match.group(1).upper() == "2F" else "%", value)


def register(app) -> None:
    app.url_map.converters["default"] = SegmentConverter
    app.url_map.converters["string"] = SegmentConverter
    app.wsgi_app = route_on_raw_path(app.wsgi_app)
