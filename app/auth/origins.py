"""Which browser origins may write to the service or read its answers (CORS, as Elasticsearch's
own http.cors settings), and which host names it answers to (DNS rebinding). Both apply to every
path, forwarded ones included. docs/security.md explains the choices.
"""

import ipaddress
from urllib.parse import urlsplit

from flask import Response, current_app, request

from app.exceptions import RestError
from app.urls import is_service_path

# Elasticsearch's own CORS defaults (http.cors.allow-methods, allow-headers, max-age).
CORS_ALLOW_METHODS = "OPTIONS, HEAD, GET, POST, PUT, DELETE"
CORS_ALLOW_HEADERS = ("X-Requested-With, Content-Type, Content-Length, Authorization, Accept, "
                      "User-Agent, X-Elastic-Client-Meta")
CORS_MAX_AGE = "1728000"


class OriginForbidden(RestError):
    status = 403
    error_type = "security_exception"


class HostNotAllowed(RestError):
    status = 400
    error_type = "illegal_argument_exception"


# Methods a page on another origin may not use to change anything.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def allowed_origin(origin: str) -> str | None:
    """The Access-Control-Allow-Origin value for `origin`, or None when it is not allowed."""
    allowed = current_app.config["CORS_ALLOWED_ORIGINS"]
    if origin in allowed:
        return origin
    if "*" in allowed:
        return "*"
    return None


def is_same_origin(origin: str) -> bool:
    """A page served by this service itself (the dashboard) sends its own origin: the host and
    port the request was sent to, a host `check_host` allows. The scheme may differ (https in
    the browser, http behind a TLS-terminating proxy); a rebinding name never gets this far."""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    return (host_allowed(parts.hostname, current_app.config["ALLOWED_HOSTS"])
            and parts.netloc.lower() == request.headers.get("Host", "").lower())


def cors_applies() -> str | None:
    """The caller's Origin when CORS is on and the route is the service's own; else None."""
    origin = request.headers.get("Origin")
    if not origin or not current_app.config["CORS_ALLOWED_ORIGINS"]:
        return None
    if not is_service_path(request.path):
        return None
    return origin


def is_foreign_origin(origin: str) -> bool:
    return allowed_origin(origin) is None and not is_same_origin(origin)


def refuse_cross_origin_writes() -> None:
    """403 for a write sent by a page of another origin, whatever the auth mode and CORS
    setting: a browser sends simple POSTs (a `no-cors` fetch, a form) without asking first, so
    only the `Origin` it adds tells them apart. Clients that are not browsers send none."""
    origin = request.headers.get("Origin")
    if origin is None or request.method in SAFE_METHODS:
        return
    if is_foreign_origin(origin):
        raise OriginForbidden(f"origin [{origin}] may not write here: it is not this service's "
                              "own and not allowed by CORS_ALLOWED_ORIGINS")


def answer_preflight() -> Response | None:
    """Answers a CORS preflight, and refuses other origins as Elasticsearch does (403)."""
    origin = cors_applies()
    if origin is None:
        return None
    if is_foreign_origin(origin):
        raise OriginForbidden(f"origin [{origin}] is not allowed by CORS_ALLOWED_ORIGINS")
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    response = current_app.response_class(status=200)
    response.headers["Access-Control-Allow-Methods"] = CORS_ALLOW_METHODS
    response.headers["Access-Control-Allow-Headers"] = CORS_ALLOW_HEADERS
    response.headers["Access-Control-Max-Age"] = CORS_MAX_AGE
    return response


def allow_origin(response: Response) -> Response:
    """Lets an allowed origin read the answer (errors included, so a page can show a 401)."""
    origin = cors_applies()
    if origin is not None:
        value = allowed_origin(origin)
        if value is not None:
            response.headers["Access-Control-Allow-Origin"] = value
        response.vary.add("Origin")
    return response


def host_allowed(hostname: str, allowed_hosts: list[str]) -> bool:
    """Whether the service answers requests sent to `hostname`.

    A DNS-rebinding page reaches the service under the attacker's own name, which the browser
    sends as `Host`. An IP address cannot be rebound, and `localhost` resolves to this machine
    in browsers; any other name must be listed in ALLOWED_HOSTS (`name`, `.suffix` for a
    domain and its subdomains, or `*` for any name).
    """
    hostname = hostname.strip("[]").rstrip(".").lower()
    try:
        ipaddress.ip_address(hostname)
        return True
    except ValueError:
        pass
    if hostname == "localhost":
        return True
    for allowed in allowed_hosts:
        if allowed == "*" or hostname == allowed or (
                allowed.startswith(".") and (hostname.endswith(allowed) or hostname == allowed[1:])):
            return True
    return False


def check_host() -> None:
    """400 for a request whose `Host` names a host this service does not answer to."""
    host = request.headers.get("Host")
    if not host_header_allowed(host, current_app.config["ALLOWED_HOSTS"]):
        raise HostNotAllowed(f"host [{host}] is not allowed: list its name in ALLOWED_HOSTS "
                             "(docs/security.md)")


def host_header_allowed(host: str | None, allowed_hosts: list[str]) -> bool:
    """Whether a request with this `Host` header is answered (`check_host`): without one (not a
    browser: browsers always send one), or naming a host `host_allowed`."""
    if host is None:
        return True
    try:
        hostname = urlsplit(f"//{host}").hostname
    except ValueError:
        hostname = None
    return bool(hostname) and host_allowed(hostname, allowed_hosts)
