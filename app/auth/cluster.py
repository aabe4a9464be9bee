"""AUTH_MODE=elasticsearch: the cluster decides who may call.

The caller's own headers (`Authorization`: Basic, ApiKey or Bearer, and a run-as header) go to
the cluster's `_security/_authenticate` and `_has_privileges`; the answers are remembered
briefly, keyed by a keyed hash of those headers (never the headers themselves), so a worker's
heartbeats cost no extra round trip. Failed authentications are never remembered.
"""

import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cachetools import TTLCache

from app.auth.privileges import ASKED_PRIVILEGES, Requirement, denial_reason
from app.exceptions import RestError
from app.storage import ClusterSecurity
from app.storage.security import IDENTITY_HEADERS


class ActionUnauthorized(RestError):
    status = 403
    error_type = "security_exception"


@dataclass(frozen=True)
class Caller:
    """Who the cluster says a caller is, and which of the asked cluster privileges they hold."""

    username: str
    roles: tuple[str, ...]
    kind: str  # "user", "api_key" or "service_account"
    api_key_id: str | None
    privileges: Mapping[str, bool]

    @classmethod
    def from_cluster(cls, authenticated: dict, privileges: Mapping[str, bool]) -> "Caller":
        api_key = authenticated.get("api_key") or {}
        realm = (authenticated.get("authentication_realm") or {}).get("type", "")
        if authenticated.get("authentication_type") == "api_key":
            kind = "api_key"
        elif realm == "_service_account":
            kind = "service_account"
        else:
            kind = "user"
        return cls(username=str(authenticated.get("username", "")),
                   roles=tuple(sorted(authenticated.get("roles") or ())), kind=kind,
                   api_key_id=api_key.get("id"), privileges=dict(privileges))

    def description(self) -> str:
        """How Elasticsearch names the caller in a 403 (AuthorizationDenialMessages): API keys
        and service accounts have privileges, not roles, so only users list their roles."""
        if self.kind == "service_account":
            return f"service account [{self.username}]"
        if self.kind == "api_key":
            return f"API key id [{self.api_key_id}] of user [{self.username}]"
        return f"user [{self.username}] with effective roles [{','.join(self.roles)}]"

    def require(self, requirement: Requirement) -> None:
        if not requirement.met_by(self.privileges):
            raise ActionUnauthorized(denial_reason(requirement.action, self.description(),
                                                   requirement))


class RememberedCallers:
    """Callers the cluster authenticated recently: at most `maxsize`, each for `ttl` seconds,
    the least recently asked for dropped first; nothing when either is 0.

    Keys are HMAC-SHA256 digests of the identity headers under a key made at start-up, so
    neither a credential nor an offline-guessable hash of one is ever held. Request threads
    share it, and cachetools' caches are not thread-safe: every access holds the lock.
    """

    def __init__(self, ttl: float, maxsize: int, clock: Callable[[], float] = time.monotonic):
        self._secret = os.urandom(32)
        self._callers: TTLCache[bytes, Caller] | None = (
            TTLCache(maxsize=maxsize, ttl=ttl, timer=clock) if ttl > 0 and maxsize > 0 else None)
        self._lock = threading.Lock()

    def key(self, identity: Mapping[str, str]) -> bytes:
        material = "\0".join(identity.get(name, "") for name in IDENTITY_HEADERS)
        return hmac.new(self._secret, material.encode("utf-8", "surrogatepass"),
                        hashlib.sha256).digest()

    def get(self, key: bytes) -> Caller | None:
        if self._callers is None:
            return None
        with self._lock:
            return self._callers.get(key)

    def remember(self, key: bytes, caller: Caller) -> None:
        if self._callers is None:
            return
        with self._lock:
            self._callers[key] = caller

    def __len__(self) -> int:
        if self._callers is None:
            return 0
        with self._lock:
            self._callers.expire()
            return len(self._callers)


def identity_of(headers: Mapping[str, str]) -> dict[str, str]:
    """The request headers that speak for the caller, and only those."""
    return {name: headers[name] for name in IDENTITY_HEADERS if headers.get(name)}


def remembered_caller_meets(remembered: RememberedCallers, identity: Mapping[str, str],
                            requirement: Requirement | None) -> bool:
    """Whether a caller with this identity is remembered (so `authenticated_caller` would not
    ask the cluster) and holds what `requirement` asks; decided without Flask
    (app.api.loop_routes), anything else is left to the app to decide and answer."""
    caller = remembered.get(remembered.key(identity))
    return caller is not None and (requirement is None or requirement.met_by(caller.privileges))


def authenticated_caller(security: ClusterSecurity, remembered: RememberedCallers,
                         headers: Mapping[str, str]) -> Caller:
    """The caller the cluster recognises in `headers`; CallerNotAuthenticated (401) if none,
    StorageUnavailable (503) when the cluster cannot be asked."""
    identity = identity_of(headers)
    key = remembered.key(identity)
    caller = remembered.get(key)
    if caller is None:
        authenticated = security.authenticate(identity)
        caller = Caller.from_cluster(authenticated,
                                     security.cluster_privileges(identity, ASKED_PRIVILEGES))
        remembered.remember(key, caller)
    return caller
