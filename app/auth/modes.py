"""Which authentication applies: AUTH_MODE as configured, checked before anything starts, or,
when it is left unset, the one the cluster calls for, found out on first use (start-up never
waits for Elasticsearch). docs/security.md has the rules."""

import ipaddress
import logging
import threading
import time
from collections.abc import Callable

from app.config import Config
from app.exceptions import RestError, StorageUnavailable
from app.storage import ClusterSecurity

log = logging.getLogger("app.security")

AUTH_MODES = ("none", "api_key", "basic", "elasticsearch")
STATIC_MODES = ("api_key", "basic")
# Unset AUTH_MODE without keys or users: decided with the cluster (ResolvedMode).
CLUSTER_DEFAULT = ""
# How long "the cluster has no security" is believed before it is asked again; "it has" is
# believed for good (security is never switched off under a running service by accident).
SECURITY_OFF_RECHECK_SECONDS = 60.0


class ConfigurationError(RuntimeError):
    """A setting the service refuses to start with."""


class AuthenticationNotConfigured(RestError):
    """Unset AUTH_MODE on a non-loopback HOST in front of a cluster without security."""

    status = 500
    error_type = "illegal_state_exception"


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def configured_mode(settings: Config) -> str:
    """AUTH_MODE as configured (CLUSTER_DEFAULT when the cluster is to decide), or
    ConfigurationError: the service never runs open, or lends its identity, by accident."""
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
    if mode and mode not in AUTH_MODES:
        raise ConfigurationError(f"AUTH_MODE must be one of {', '.join(AUTH_MODES)}, not {mode!r}.")
    static_given = "AUTH_API_KEYS" if settings.AUTH_API_KEYS else (
        "AUTH_BASIC_USERS" if settings.AUTH_BASIC_USERS else "")
    if mode in ("none", "elasticsearch") and static_given:
        # Credentials given but not used: most likely a default left in place (compose's).
        wanted = "api_key" if settings.AUTH_API_KEYS else "basic"
        raise ConfigurationError(
            f"AUTH_MODE is {mode} but {static_given} is set, so it would be ignored. Set "
            f"AUTH_MODE={wanted}, or unset {static_given}.")
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
    _refuse_lending(settings, mode)
    if not 0 <= settings.AUTH_CACHE_SECONDS <= 60:
        raise ConfigurationError(
            f"AUTH_CACHE_SECONDS must be between 0 and 60, not {settings.AUTH_CACHE_SECONDS}.")
    _say_what_is_reachable(settings, mode)
    return mode


def _refuse_lending(settings: Config, mode: str) -> None:
    """FORWARD_WITH_SERVICE_CREDENTIALS sends forwarded requests as the service: only a caller
    the service itself authenticates may do that, so it needs a static mode."""
    if not settings.FORWARD_WITH_SERVICE_CREDENTIALS or mode in STATIC_MODES:
        return
    named = f"AUTH_MODE={mode}" if mode else "AUTH_MODE unset (no AUTH_API_KEYS or AUTH_BASIC_USERS)"
    raise ConfigurationError(
        f"FORWARD_WITH_SERVICE_CREDENTIALS=true with {named} would send anyone's forwarded "
        "requests to Elasticsearch with the service's own credentials. It needs AUTH_MODE=api_key "
        "or basic, whose keys or users every forwarded request must then present; or leave it "
        "off and let each caller's own credentials reach Elasticsearch.")


def _say_what_is_reachable(settings: Config, mode: str) -> None:
    if is_loopback(settings.HOST):
        return
    if mode == "none":
        whole = (" Every request it does not answer itself is forwarded to Elasticsearch as it "
                 "came: the whole cluster is reachable through it, as far as the cluster's own "
                 "security lets anonymous requests through." if settings.FORWARD_OTHER_ROUTES
                 else "")
        log.warning("AUTH_MODE=none on HOST %s: anyone who reaches it may call every route, "
                    "acting with the service's own Elasticsearch credentials.%s", settings.HOST,
                    whole)
    elif mode == CLUSTER_DEFAULT:
        log.info("AUTH_MODE is not set and HOST %s is not a loopback address: callers will be "
                 "authenticated by the cluster if it has security enabled; otherwise every "
                 "request is refused until AUTH_MODE is set (docs/security.md)", settings.HOST)


class SecurityState:
    """Whether the cluster authenticates requests, asked without credentials and remembered."""

    def __init__(self, security: ClusterSecurity, clock: Callable[[], float] = time.monotonic):
        self.security = security
        self.clock = clock
        self._enabled: bool | None = None
        self._asked_at = 0.0
        self._lock = threading.Lock()

    def enabled(self) -> bool:
        """StorageUnavailable when the cluster cannot be asked."""
        known = self.known()
        if known is not None:
            return known
        enabled = self.security.security_enabled()
        with self._lock:
            self._enabled, self._asked_at = enabled, self.clock()
        return enabled

    def known(self) -> bool | None:
        """What `enabled()` would answer without asking the cluster; None when it would ask."""
        with self._lock:
            fresh = self.clock() - self._asked_at < SECURITY_OFF_RECHECK_SECONDS
            if self._enabled or (self._enabled is False and fresh):
                return self._enabled
        return None

    def enabled_or_unknown(self) -> bool | None:
        try:
            return self.enabled()
        except StorageUnavailable:
            return None


class ResolvedMode:
    """The mode each request is checked with: the configured one, or the cluster's default."""

    def __init__(self, configured: str, host: str, state: SecurityState):
        self.configured = configured
        self.loopback = is_loopback(host)
        self.host = host
        self.state = state
        self._said: str | None = None

    def current(self) -> str:
        """StorageUnavailable (503) while an unset mode cannot be decided; a 500 when it
        decides that nothing may be served."""
        if self.configured != CLUSTER_DEFAULT:
            return self.configured
        if self.state.enabled():
            mode = "elasticsearch"
        elif self.loopback:
            mode = "none"
        else:
            self._say_once("refused", logging.ERROR)
            raise AuthenticationNotConfigured(
                f"AUTH_MODE is not set, HOST [{self.host}] is not a loopback address and the "
                "cluster has security disabled, so nothing would check callers. Set "
                "AUTH_MODE=api_key with AUTH_API_KEYS, AUTH_MODE=basic with AUTH_BASIC_USERS, or "
                "AUTH_MODE=none to serve without authentication on purpose; or turn security on "
                "in the cluster (docs/security.md).")
        self._say_once(mode, logging.INFO)
        return mode

    def decided(self) -> str | None:
        """The mode `current()` would give, when it can be known without asking the cluster
        or saying anything; else None."""
        if self.configured != CLUSTER_DEFAULT:
            return self.configured
        enabled = self.state.known()
        if enabled is None:
            return None
        if enabled:
            return "elasticsearch" if self._said == "elasticsearch" else None
        return "none" if self.loopback and self._said == "none" else None

    def _say_once(self, outcome: str, level: int) -> None:
        if self._said == outcome:
            return
        self._said = outcome
        if outcome == "refused":
            log.log(level, "AUTH_MODE is not set and the cluster has security disabled: every "
                    "request to HOST %s is refused until AUTH_MODE is set", self.host)
        else:
            log.log(level, "AUTH_MODE is not set: the cluster has security %s, so callers are "
                    "checked with AUTH_MODE=%s", "enabled" if outcome == "elasticsearch"
                    else "disabled", outcome)
