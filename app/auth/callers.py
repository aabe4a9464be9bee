"""Who may call the service: the caller's credentials checked in the mode app.auth.modes decides
(the service's own keys or users, or the cluster's answer about the caller, app.auth.cluster),
on the service's own routes and, whenever forwarding would otherwise widen access, on forwarded
ones; and the 401 answers Elasticsearch itself gives. docs/security.md explains the choices.
"""

import base64
import binascii
import hmac
from collections.abc import Iterable

from flask import Response, current_app, g, request

from app.auth import cluster
from app.auth.modes import STATIC_MODES
from app.auth.privileges import requirement_for
from app.error_handlers import error_response
from app.exceptions import RestError, StorageUnavailable
from app.storage import CallerNotAuthenticated
from app.urls import (
    DASHBOARD_ASSETS,
    DASHBOARD_PAGE,
    LIVE_PATH,
    METRICS_PATH,
    PROBE_PATHS,
    encoded_path,
    is_service_path,
)

# The challenges Elasticsearch itself sends with a 401.
CHALLENGES = {"api_key": "ApiKey", "basic": 'Basic realm="security", charset="UTF-8"'}


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


def answers_without_credentials(path: str, configured: str) -> bool:
    """The service paths a caller without an Authorization header may call when auth is on
    (`configured` is the mode as configured): the probes, answered with their status only, for
    load balancers and orchestrators; and the dashboard's page and assets, which hold no data (a
    browser cannot add an ApiKey header to a page load, so with api_key, and with the cluster's
    credentials, which may be API keys, they are served to anyone and the page's API calls ask
    for credentials; with basic they stay behind the browser's own login prompt). The metrics
    also take a scraper's `Bearer` token (METRICS_BEARER_TOKENS) in every mode."""
    return path in PROBE_PATHS or (
        configured != "basic" and (path == DASHBOARD_PAGE or path.startswith(DASHBOARD_ASSETS)))


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
    query = request.environ.get("QUERY_STRING", "")
    return encoded_path(request.environ) + (f"?{query}" if query else "")


def authenticate() -> None:
    """Refuses a request without valid credentials, on the service's own routes and, whenever
    forwarding would otherwise widen access, on forwarded ones."""
    service_path = is_service_path(request.path)
    if not service_path and not current_app.config["FORWARD_OTHER_ROUTES"]:
        return  # a 404 of the service's own
    resolved = current_app.extensions["auth_mode"]
    if (service_path and "Authorization" not in request.headers
            and answers_without_credentials(request.path, resolved.configured)):
        if request.path == LIVE_PATH:
            return  # `{"live": true}` for anyone: nothing to decide, so the cluster is not asked
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
        caller = cluster.authenticated_caller(
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
    require_static_credentials(mode, request.headers.get("Authorization", ""), request.path,
                               current_app.config["AUTH_API_KEYS"],
                               current_app.config["AUTH_BASIC_USERS"])


def static_credentials_accepted(mode: str, header: str, api_keys, basic_users) -> bool:
    """Whether `check_static_credentials` lets the Authorization `header` through, decided
    without Flask (app.api.loop_routes); any refusal is left to it to answer."""
    try:
        require_static_credentials(mode, header, "", api_keys, basic_users)
    except AuthenticationRequired:
        return False
    return True


def require_static_credentials(mode: str, header: str, path: str, api_keys,
                               basic_users) -> None:
    """AuthenticationRequired, as Elasticsearch words it for `path`, unless `header` carries one
    of `api_keys` (AUTH_MODE=api_key) or of `basic_users` (basic)."""
    challenge = CHALLENGES[mode]
    scheme, _, credentials = header.partition(" ")
    expected = "apikey" if mode == "api_key" else "basic"
    if scheme.lower() != expected or not credentials.strip():
        raise AuthenticationRequired(
            f"missing authentication credentials for REST request [{path}]", challenge)
    credentials = credentials.strip()
    if mode == "api_key":
        if not any_matches(credentials, api_keys):
            raise AuthenticationRequired(
                "unable to authenticate with provided credentials and anonymous access is not "
                "allowed for this request", challenge)
        return
    user, password = decode_basic(credentials, challenge)
    if not basic_user_matches(user, password, basic_users):
        raise AuthenticationRequired(
            f"unable to authenticate user [{user}] for REST request [{path}]", challenge)


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
