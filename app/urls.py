"""The URL namespace, in one place: which paths the service answers itself (every other one is
forwarded to Elasticsearch), the paths of its own that other parts single out (probes, metrics,
the dashboard), the WSGI environ keys the front sets, and the path as the caller wrote it.

Imports nothing of the app: the front, auth, forwarding, the input limits and the routes all
take their paths from here.
"""

import re
from urllib.parse import quote, unquote_to_bytes

# `/` and every path under these prefixes are the service's own; anything else is forwarded.
SERVICE_PATH_PREFIXES = ("/_connector",)
# The service's routes beyond the reference's.
SERVICE_PREFIX = "/_connector_service"
# Answered without credentials, with their status only, for load balancers and orchestrators.
HEALTH_PATH = SERVICE_PREFIX + "/health"
LIVE_PATH = SERVICE_PREFIX + "/live"
READY_PATH = SERVICE_PREFIX + "/ready"
PROBE_PATHS = (HEALTH_PATH, LIVE_PATH, READY_PATH)
METRICS_PATH = SERVICE_PREFIX + "/metrics"
OPENAPI_PATH = SERVICE_PREFIX + "/openapi.json"
DASHBOARD_PAGE = SERVICE_PREFIX + "/dashboard"
DASHBOARD_ASSETS = DASHBOARD_PAGE + "/static/"
SUMMARY_PATH = SERVICE_PREFIX + "/sync_job_summary"

# What the front puts in the WSGI environ: the path and query as the caller wrote them (as
# werkzeug's servers and test client do), and a function a view calls to learn when its caller
# leaves (app.api.forwarding).
RAW_URI = "RAW_URI"
REQUEST_URI = "REQUEST_URI"
WATCH_DISCONNECT = "connector_service.watch_disconnect"

# What `quote` leaves as it is in a path: RFC 3986 pchar and `/`.
PATH_SAFE = "/:@!$&'()*+,;=-._~"
_ESCAPED = re.compile(r"%(2F|25)", re.IGNORECASE)


def is_service_path(path: str) -> bool:
    """Whether this service answers `path` itself (and so checks its callers)."""
    return path == "/" or path.startswith(SERVICE_PATH_PREFIXES)


def caller_path(environ) -> str | None:
    """The path as the caller sent it (still percent-encoded), or None when the server gave none."""
    raw = environ.get(RAW_URI) or environ.get(REQUEST_URI)
    if not raw:
        return None
    path = raw.split("?", 1)[0]
    return path if path.startswith("/") else None


def encoded_path(environ) -> str:
    """The path as the caller encoded it: an id with `%2F` must reach Elasticsearch as `%2F`,
    not as a `/`. The caller's own where the server gives it (app/front/ does); else PATH_INFO,
    which a WSGI server has already decoded, encoded again."""
    raw = caller_path(environ)
    if raw is not None:
        return raw
    return quote(environ.get("PATH_INFO", ""), safe=PATH_SAFE, encoding="latin-1")


def segment_path(raw: str) -> str:
    """PATH_INFO (latin-1 text of bytes) with each segment decoded, `/` and `%` inside kept escaped."""
    segments = []
    for segment in raw.split("/"):
        decoded = unquote_to_bytes(segment).replace(b"%", b"%25").replace(b"/", b"%2F")
        segments.append(decoded.decode("latin-1"))
    return "/".join(segments)


def segment_value(value: str) -> str:
    """A segment's value with the `/` and `%` escaped by `segment_path` restored."""
    return _ESCAPED.sub(lambda match: "/" if match.group(1).upper() == "2F" else "%", value)


def routing_path(environ) -> str:
    """The PATH_INFO the routes are matched against: Elasticsearch splits the raw path on `/`
    and then decodes each segment, so `a%2Fb` is one id, `a/b`."""
    raw = caller_path(environ)
    if raw is not None and "%" in raw:
        return segment_path(raw)
    return environ.get("PATH_INFO", "")
