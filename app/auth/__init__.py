"""Who may call the service, which browser origins may write or read its answers, and which
host names it answers to.

The service's own routes are `/` and `/_connector*` (app.urls); anything else is forwarded to
Elasticsearch with the caller's own `Authorization` header. Forwarding never widens access:
whenever the service checks callers, a forwarded request passes the same check unless the
cluster itself authenticates it (`modes` decides the mode). docs/security.md explains the
choices.

- `callers`: authentication on each request, and the 401s Elasticsearch gives;
- `origins`: CORS, cross-origin writes and the Host check;
- `modes`: AUTH_MODE as configured or as the cluster decides it;
- `cluster`: the cluster's answer about a caller (AUTH_MODE=elasticsearch), remembered a while;
- `privileges`: what each route needs, in the reference's action and privilege names.
"""

from flask import Flask

from app.auth import cluster
from app.auth.callers import (
    AuthenticationRequired,
    authenticate,
    challenge_response,
    cluster_challenge_response,
)
from app.auth.modes import ConfigurationError, ResolvedMode, SecurityState, configured_mode
from app.auth.origins import allow_origin, answer_preflight, check_host, refuse_cross_origin_writes
from app.config import Config
from app.storage import CallerNotAuthenticated

__all__ = ["ConfigurationError", "install_checks", "register_security"]


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
    app.extensions["remembered_callers"] = cluster.RememberedCallers(
        app.config["AUTH_CACHE_SECONDS"], app.config["AUTH_CACHE_SIZE"])
