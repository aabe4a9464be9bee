"""Who may call the service's own routes, which browser origins may write or read its
answers, and which host names it answers to.

The service's own routes are `/` and `/_connector*` (which includes `/_connector_service/*`);
anything else is forwarded to Elasticsearch, which authorizes it itself with the caller's own
`Authorization` header. The host and cross-origin checks apply to every path, forwarded ones
included. docs/security.md explains the choices.
"""

import base64
import binascii
import hmac
import ipaddress
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request

from app.config import Config
from app.errors import error_response
from app.exceptions import RestError

log = logging.getLogger(__name__)

AUTH_MODES = ("none", "api_key", "basic")
SERVICE_PATH_PREFIXES = ("/_connector",)
# Answered without credentials, with their status only, for load balancers and orchestrators.
HEALTH_PATH = "/_connector_service/health"
PROBE_PATHS = (HEALTH_PATH, "/_connector_service/live", "/_connector_service/ready")
# Also open to `Authorization: Bearer <token>` with a token of METRICS_BEARER_TOKENS, in every
# mode: a scraper's credential that reaches nothing else.
METRICS_PATH = "/_connector_service/metrics"
# The dashboard's page and assets hold no data. A browser cannot add an ApiKey header to a page
# load, so with api_key they are served to anyone and the page asks for the key its API calls
# need; with basic they stay behind the browser's own login prompt.
DASHBOARD_PAGE = "/_connector_service/dashboard"
DASHBOARD_ASSETS = DASHBOARD_PAGE + "/static/"
# The challenges Elasticsearch itself sends with a 401.
CHALLENGES = {"api_key": "ApiKey", "basic": 'Basic realm="security", charset="UTF-8"'}
# Elasticsearch's own CORS defaults (http.cors.allow-methods, allow-headers, max-age).
CORS_ALLOW_METHODS = "OPTIONS, HEAD, GET, POST, PUT, DELETE"
CORS_ALLOW_HEADERS = ("X-Requested-With, Content-Type, Content-Length, Authorization, Accept, "
                      "User-Agent, X-Elastic-Client-Meta")
CORS_MAX_AGE = "1728000"


class ConfigurationError(RuntimeError):
    """A setting the service refuses to start with."""


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


def answers_without_credentials(path: str, mode: str) -> bool:
    """The service paths a caller without an Authorization header may call when auth is on."""
    return path in PROBE_PATHS or (
        mode == "api_key" and (path == DASHBOARD_PAGE or path.startswith(DASHBOARD_ASSETS)))


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_auth_mode(settings: Config) -> str:
    """The auth mode to run with, or ConfigurationError: never open by accident."""
    mode = settings.AUTH_MODE.strip().lower()
    if not mode:
        if settings.AUTH_API_KEYS and settings.AUTH_BASIC_USERS:
            raise ConfigurationError(
                "Both AUTH_API_KEYS and AUTH_BASIC_USERS are set: choose one with AUTH_MODE "
                "(api_key or basic).")
        if settings.AUTH_API_KEYS:
            mode = "api_key"
        elif settings.AUTH_BASIC_USERS:
            mode = "basic"
        elif is_loopback(settings.HOST):
            mode = "none"
        else:
            raise ConfigurationError(
                f"HOST is {settings.HOST!r}, which is not a loopback address, and AUTH_MODE is not "
                "set. Set AUTH_MODE=api_key with AUTH_API_KEYS, or AUTH_MODE=basic with "
                "AUTH_BASIC_USERS, or AUTH_MODE=none to serve without authentication "
                "(docs/security.md).")
    if mode not in AUTH_MODES:
        raise ConfigurationError(f"AUTH_MODE must be one of {', '.join(AUTH_MODES)}, not {mode!r}.")
    if mode == "none" and (settings.AUTH_API_KEYS or settings.AUTH_BASIC_USERS):
        # Credentials given but switched off: most likely a default left in place (compose's).
        given = "AUTH_API_KEYS" if settings.AUTH_API_KEYS else "AUTH_BASIC_USERS"
        raise ConfigurationError(
            f"AUTH_MODE is none but {given} is set, so it would be ignored. Set AUTH_MODE="
            f"{'api_key' if settings.AUTH_API_KEYS else 'basic'}, or unset {given}.")
    if mode == "api_key" and not settings.AUTH_API_KEYS:
        raise ConfigurationError("AUTH_MODE=api_key needs at least one key in AUTH_API_KEYS.")
    if mode == "basic":
        if not settings.AUTH_BASIC_USERS:
            raise ConfigurationError("AUTH_MODE=basic needs AUTH_BASIC_USERS (user:password,...).")
        for position, pair in enumerate(settings.AUTH_BASIC_USERS, start=1):
            user, _, password = pair.partition(":")
            if not user or not password:
                # The pair itself is a secret: name its position, not its text.
                raise ConfigurationError(
                    f"AUTH_BASIC_USERS entry {position} is not of the form user:password.")
    if mode == "none" and not is_loopback(settings.HOST):
        log.warning("AUTH_MODE=none on HOST %s: anyone who reaches it may call every route",
                    settings.HOST)
    return mode


def register_security(app: Flask, settings: Config) -> None:
    """Checks the settings (raising ConfigurationError), then installs the CORS and auth hooks.

    CORS comes first: a browser's preflight carries no credentials.
    """
    app.config["AUTH_MODE"] = resolve_auth_mode(settings)
    app.config["METRICS_BEARER_TOKENS"] = list(settings.METRICS_BEARER_TOKENS)
    app.config["CORS_ALLOWED_ORIGINS"] = list(settings.CORS_ALLOWED_ORIGINS)
    app.config["ALLOWED_HOSTS"] = [host.lower() for host in settings.ALLOWED_HOSTS]
    app.before_request(check_host)
    app.before_request(refuse_cross_origin_writes)
    app.before_request(answer_preflight)
    app.before_request(authenticate)
    app.after_request(allow_origin)
    app.register_error_handler(AuthenticationRequired, challenge_response)


def challenge_response(error: AuthenticationRequired) -> Response:
    response = error_response(error)
    response.headers["WWW-Authenticate"] = error.challenge
    return response


# Authentication


def authenticate() -> None:
    """Refuses a call to the service's own routes without valid credentials (when auth is on)."""
    mode = current_app.config["AUTH_MODE"]
    if mode == "none" or not is_service_path(request.path):
        return
    if request.path == METRICS_PATH and scraper_token_matches(request.headers.get("Authorization", "")):
        return
    if "Authorization" not in request.headers and answers_without_credentials(request.path, mode):
        g.anonymous = True  # health answers such a caller with its status alone
        return
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
