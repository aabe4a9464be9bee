"""Routing on the path as the caller wrote it, as Elasticsearch does (app.urls.routing_path).

A WSGI server hands the app a PATH_INFO that is already decoded, where `a%2Fb` and `a/b` look
the same. `route_on_raw_path` rebuilds PATH_INFO from the raw path with each segment decoded but
a `/` or `%` inside a segment kept escaped, and `SegmentConverter` undoes those two escapes in
the values the routes receive.
"""

from werkzeug.routing import UnicodeConverter

from app.urls import routing_path, segment_value


def route_on_raw_path(wsgi_app):
    def middleware(environ, start_response):
        environ["PATH_INFO"] = routing_path(environ)
        return wsgi_app(environ, start_response)

    return middleware


class SegmentConverter(UnicodeConverter):
    """One path segment, with the `/` and `%` escaped by `segment_path` restored."""

    def to_python(self, value: str) -> str:
        return segment_value(value)


def register(app) -> None:
    app.url_map.converters["default"] = SegmentConverter
    app.url_map.converters["string"] = SegmentConverter
    app.wsgi_app = route_on_raw_path(app.wsgi_app)
