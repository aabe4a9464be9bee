"""The cluster's security API, asked as the caller: who a caller is (`_security/_authenticate`)
and which cluster privileges they hold (`_security/user/_has_privileges`).

Every call carries the caller's own `Authorization` header and nothing else, over a client that
holds no credentials of its own, so the service's identity can never answer for a caller.
"""

from collections.abc import Mapping

import elasticsearch
from elasticsearch import Elasticsearch

from app.exceptions import RestError, StorageUnavailable
from app.storage.client_errors import error_reason, error_type

# Headers of the caller's request that speak for the caller's identity.
IDENTITY_HEADERS = ("Authorization", "es-security-runas-user")


class CallerNotAuthenticated(RestError):
    """The cluster's own 401: its `error` object (reason, challenges, ...) kept as it is."""

    status = 401
    error_type = "security_exception"

    def __init__(self, error: dict):
        super().__init__(str(error.get("reason", "unable to authenticate")))
        self.error = error

    @property
    def challenges(self) -> list[str]:
        header = self.error.get("header", {}).get("WWW-Authenticate", [])
        return [header] if isinstance(header, str) else list(header)


class SecurityDisabled(RestError):
    """The cluster has no security API: it cannot tell who a caller is."""

    status = 500
    error_type = "illegal_state_exception"


class ClusterSecurity:
    """Questions about a caller, asked with the caller's credentials only."""

    def __init__(self, client: Elasticsearch):
        self.client = client  # holds no credentials: each call adds the caller's

    def authenticate(self, identity: Mapping[str, str]) -> dict:
        """`GET _security/_authenticate` as the caller: username, roles, realm, api_key, ..."""
        return self._ask(identity, lambda client: client.security.authenticate())

    def cluster_privileges(self, identity: Mapping[str, str], names: list[str]) -> dict[str, bool]:
        """Which of the named cluster privileges the caller holds (`_has_privileges`)."""
        answer = self._ask(identity, lambda client: client.security.has_privileges(cluster=names))
        return {name: bool(answer.get("cluster", {}).get(name)) for name in names}

    def security_enabled(self) -> bool:
        """Whether the cluster authenticates requests, asked without any credentials: it answers
        401 (or 200 for its anonymous user) with security on; without security the API does not
        exist. StorageUnavailable when it cannot be told."""
        try:
            self._ask({}, lambda client: client.security.authenticate())
        except CallerNotAuthenticated:
            return True
        except SecurityDisabled:
            return False
        return True

    def _ask(self, identity: Mapping[str, str], call) -> dict:
        headers = {name: value for name, value in identity.items() if value}
        try:
            return dict(call(self.client.options(headers=headers)).body)
        except elasticsearch.AuthenticationException as err:
            raise CallerNotAuthenticated(_error(err)) from None
        except (elasticsearch.ConnectionError, elasticsearch.ConnectionTimeout) as err:
            raise StorageUnavailable(f"Elasticsearch is unavailable: {type(err).__name__}") from None
        except elasticsearch.ApiError as err:
            status = err.meta.status
            if status >= 500 or status == 429:
                raise StorageUnavailable(f"Elasticsearch answered {status}: {error_reason(err)}") \
                    from None
            if status != 403:
                # "no handler found for uri [/_security/_authenticate]": security is off.
                raise SecurityDisabled(
                    "the cluster cannot authenticate callers: its security API answered "
                    f"{status} ({error_reason(err)}). Turn security on "
                    "(xpack.security.enabled), or set AUTH_MODE to api_key or basic") from None
            raise RestError(error_reason(err), error_type=error_type(err), status=status) from None
        except ValueError:
            # A header value urllib3 refuses to send (control characters): no credential at all.
            raise CallerNotAuthenticated({
                "type": "security_exception",
                "reason": "unable to authenticate with provided credentials"}) from None


def _error(err: elasticsearch.ApiError) -> dict:
    body = err.body if isinstance(err.body, dict) else {}
    error = body.get("error")
    if isinstance(error, dict):
        error = dict(error)
        error.pop("root_cause", None)
        return error
    return {"type": "security_exception", "reason": str(err.message)}
