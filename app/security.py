"""Who may call the service, which browser origins may write or read its answers, and which
host names it answers to.

The service's own routes are `/` and `/_connector*` (which includes `/_connector_service/*`);
anything else is forwarded to Elasticsearch with the caller's own `Authorization` header.
Forwarding never widens access: whenever the service checks callers, a forwarded request passes
the same check unless the cluster itself authenticates it (app.auth_modes decides the mode). The
host and cross-origin checks apply to every path, forwarded ones included. docs/security.md
explains the choices.
"""

import base64
import binascii
import hmac
import ipaddress
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request

from app import cluster_auth
from app.auth_modes import (  # ConfigurationError: what register_security raises
    STATIC_MODES,
    ConfigurationError,  # noqa: F401
    ResolvedMode,
    SecurityState,
    configured_mode,
)
from app.config import Config
from app.errors import error_response
from app.exceptions import RestError, StorageUnavailable
from app.privileges import requirement_for
from app.storage import CallerNotAuthenticated

log = logging.getLogger(__name__)

SERVICE_PATH_PREFIXES = ("/_connector",)
# Answered without credentials, with their status only, for load balancers and orchestrators.
HEALTH_PATH = "/_connector_service/health"
PROBE_PATHS = (HEALTH_PATH, "/_connector_service/live", "/_connector_service/ready")
# Also open to `Authorization: Bearer <token>` with a token of METRICS_BEARER_TOKENS, in every
# mode: a scraper's credential that reaches nothing else.
METRICS_PATH = "/_connector_service/metrics"
# The dashboard's page and assets hold no data. A browser cannot add an ApiKey header to a page
# load, so with api_key (and with the cluster's credentials, which may be API keys) they are
# served to anyone and the page's API calls ask for credentials; with basic they stay behind
# the browser's own login prompt.
DASHBOARD_PAGE = "/_connector_service/dashboard"
DASHBOARD_ASSETS = DASHBOARD_PAGE + "/static/"
# The challenges Elasticsearch itself sends with a 401.
CHALLENGES = {"api_key": "ApiKey", "basic": 'Basic realm="security", charset="UTF-8"'}
# Elasticsearch's own CORS defaults (http.cors.allow-methods, allow-headers, max-age).
CORS_ALLOW_METHODS = "OPTIONS, HEAD, GET, POST, PUT, DELETE"
CORS_ALLOW_HEADERS = ("X-Requested-With, Content-Type, Content-Length, Authorization, Accept, "
                      "User-Agent, X-Elastic-Client-Meta")
CORS_MAX_AGE = "1728000"


class AuthenticationRequired(RestError):
    """A 401 as Elasticsearch answers it: `security_exception`, the challenge in the body too."""

    status = 401
    error_type = "security_exception"

    def __init__(self, reason: str, challenge: str):
        super().__init__(reason)
        self.challenge = challenge

    def to_envelope(self) -> dict:
        envelope = super().to_envelope()
        header = {"WWW-Authenticate": [self.challenge]}
        envelope["error"]["header"] = header
        envelope["error"]["root_cause"][0]["header"] = header
        return envelope


class OriginForbidden(RestError):
    status = 403
    error_type = "security_exception"


class HostNotAllowed(RestError):
    status = 400
    error_type = "illegal_argument_exception"


# Methods a page on another origin may not use to change anything.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_service_path(path: str) -> bool:
    """Whether this service answers `path` itself (and so checks its callers)."""
    return path == "/" or path.startswith(SERVICE_PATH_PREFIXES)


def answers_without_credentials(path: str, configured: str) -> bool:
    """The service paths a caller without an Authorization header may call when auth is on
    (`configured` is the mode as configured: the dashboard stays behind basic's prompt)."""
    return path in PROBE_PATHS or (
        configured != "basic" and (path == DASHBOARD_PAGE or path.startswith(DASHBOARD_ASSETS)))


def register_security(app: Flask, settings: Config) -> None:
    """Checks the settings (raising ConfigurationError), then installs the CORS and auth hooks.

    CORS comes first: a browser's preflight carries no credentials. The mode left to the
    cluster, and the cluster's answers about callers, need the storage: `install_checks`
    completes the set-up once it exists.
    """
    app.config["AUTH_MODE"] = configured_mode(settings)
    app.config["METRICS_BEARER_TOKENS"] = list(settings.METRICS_BEARER_TOKENS)
    app.config["CORS_ALLOWED_ORIGINS"] = list(settings.CORS_ALLOWED_ORIGINS)
    app.config["ALLOWED_HOSTS"] = [host.lower() for host in settings.ALLOWED_HOSTS]
    app.before_request(check_host)
    app.before_request(refuse_cross_origin_writes)
    app.before_request(answer_preflight)
    app.before_request(authenticate)
    app.after_request(allow_origin)
    app.register_error_handler(AuthenticationRequired, challenge_response)
    app.register_error_handler(CallerNotAuthenticated, cluster_challenge_response)


def install_checks(app: Flask, storage) -> None:
    """What `authenticate` asks the cluster with: its security state and remembered callers."""
    state = SecurityState(storage.security)
    app.extensions["auth_mode"] = ResolvedMode(app.config["AUTH_MODE"], app.config["HOST"], state)
    app.extensions["cluster_security_state"] = state
    app.extensions["remembered_callers"] = cluster_auth.RememberedCallers(
        app.config["AUTH_CACHE_SECONDS"], app.config["AUTH_CACHE_SIZE"])


def challenge_response(error: AuthenticationRequired) -> Response:
    response = error_response(error)
    response.headers["WWW-Authenticate"] = error.challenge
    return response


def cluster_challenge_response(error: CallerNotAuthenticated) -> Response:
    """The cluster's 401 as the cluster wrote it, naming this request instead of its own."""
    cause = dict(error.error)
    if isinstance(cause.get("reason"), str):
        cause["reason"] = cause["reason"].replace(
            "REST request [/_security/_authenticate]", f"REST request [{request_uri()}]")
    response = current_app.response_class(status=401, mimetype="application/json")
    response.set_data(current_app.json.dumps(
        {"error": {"root_cause": [cause], **cause}, "status": 401}))
    for challenge in error.challenges:
        response.headers.add("WWW-Authenticate", challenge)
    return response


def request_uri() -> str:
    """The path and query as the caller sent them, as Elasticsearch names a REST request."""
    from app.api.forwarding import raw_path

    query = request.environ.get("QUERY_STRING", "")
    return raw_path() + (f"?{query}" if query else "")


# Authentication


def authenticate() -> None:
    """Refuses a request without valid credentials, on the service's own routes and, whenever
    forwarding would otherwise widen access, on forwarded ones."""
    service_path = is_service_path(request.path)
    if not service_path and not current_app.config["FORWARD_OTHER_ROUTES"]:
        return  # a 404 of the service's own
    resolved = current_app.extensions["auth_mode"]
    if (service_path and "Authorization" not in request.headers
            and answers_without_credentials(request.path, resolved.configured)):
        try:
            open_service = resolved.current() == "none"
        except StorageUnavailable:
            # Undecided while the cluster is down. On a loopback HOST the default is open unless
            # the cluster has security, and the report holds no connector data: say it all.
            open_service = resolved.loopback
        g.anonymous = not open_service  # health answers such a caller with its status alone
        return
    authorization = request.headers.get("Authorization", "")
    if request.path == METRICS_PATH and scraper_token_matches(authorization):
        return
    mode = resolved.current()
    if mode == "none":
        return
    if mode == "elasticsearch":
        caller = cluster_auth.authenticated_caller(
            current_app.extensions["connector_storage"].security,
            current_app.extensions["remembered_callers"], request.headers)
        requirement = requirement_for(request.method, request.endpoint) if service_path else None
        if requirement is not None and request.routing_exception is None:
            caller.require(requirement)
        return
    if service_path or forwarded_needs_service_credentials(mode):
        check_static_credentials(mode)


def forwarded_needs_service_credentials(mode: str) -> bool:
    """With api_key or basic, a forwarded request is left to the cluster only when the cluster
    authenticates it with the caller's own header: never when the service lends its own
    credentials, nor while the cluster's security is off or unknown."""
    if mode not in STATIC_MODES or current_app.config["FORWARD_WITH_SERVICE_CREDENTIALS"]:
        return True
    return not current_app.extensions["cluster_security_state"].enabled_or_unknown()


def check_static_credentials(mode: str) -> None:
    """AUTH_MODE=api_key or basic: the Authorization header must carry a configured credential."""
    challenge = CHALLENGES[mode]
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    expected = "apikey" if mode == "api_key" else "basic"
    if scheme.lower() != expected or not credentials.strip():
        raise AuthenticationRequired(
            f"missing authentication credentials for REST request [{request.path}]", challenge)
    credentials = credentials.strip()
    if mode == "api_key":
        if not any_matches(credentials, current_app.config["AUTH_API_KEYS"]):
            raise AuthenticationRequired(
                "unable to authenticate with provided credentials and anonymous access is not "
                "allowed for this request", challenge)
        return
    user, password = decode_basic(credentials, challenge)
    if not basic_user_matches(user, password, current_app.config["AUTH_BASIC_USERS"]):
        raise AuthenticationRequired(
            f"unable to authenticate user [{user}] for REST request [{request.path}]", challenge)


def scraper_token_matches(header: str) -> bool:
    scheme, _, token = header.partition(" ")
    tokens = current_app.config["METRICS_BEARER_TOKENS"]
    return scheme.lower() == "bearer" and bool(tokens) and any_matches(token.strip(), tokens)


def decode_basic(credentials: str, challenge: str) -> tuple[str, str]:
    try:
        text = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise AuthenticationRequired("invalid basic authentication header encoding",
                                     challenge) from None
    user, sep, password = text.partition(":")
    if not sep:
        raise AuthenticationRequired("invalid basic authentication header value", challenge)
    return user, password


def _same(given: str, expected: str) -> bool:
    # Bytes: compare_digest refuses non-ASCII text.
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def any_matches(given: str, accepted: Iterable[str]) -> bool:
    """Compares against every accepted value, in constant time for each, without stopping early."""
    matched = False
    for value in accepted:
        matched |= _same(given, value)
    return matched


def basic_user_matches(user: str, password: str, pairs: Iterable[str]) -> bool:
    matched = False
    for pair in pairs:
        known_user, _, known_password = pair.partition(":")
        matched |= _same(user, known_user) & _same(password, known_password)
    return matched


# CORS


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
    return (host_allowed(parts.hostname)
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


# Host names (DNS rebinding)


def host_allowed(hostname: str) -> bool:
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
    for allowed in current_app.config["ALLOWED_HOSTS"]:
        if allowed == "*" or hostname == allowed or (
                allowed.startswith(".") and (hostname.endswith(allowed) or hostname == allowed[1:])):
            return True
    return False


def check_host() -> None:
    """400 for a request whose `Host` names a host this service does not answer to."""
    host = request.headers.get("Host")
    if host is None:
        return  # not a browser: browsers always send one
    try:
        hostname = urlsplit(f"//{host}").hostname
    except ValueError:
        hostname = None
    if not hostname or not host_allowed(hostname):
        raise HostNotAllowed(f"host [{host}] is not allowed: list its name in ALLOWED_HOSTS "
                             "(docs/security.md)")
