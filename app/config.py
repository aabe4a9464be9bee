"""Service configuration: every environment variable, its default and its type."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


def as_bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    return value.strip().lower() in {"1", "true", "yes", "on"}


def as_list(value: str | list[str]) -> list[str]:
    if isinstance(value, list):
        return value
    return [item.strip() for item in value.split(",") if item.strip()]


def _env(name: str, default: Any, convert=str):
    return field(default=default, metadata={"env": name, "convert": convert})


@dataclass
class Config:
    """Read once from the environment by `Config.from_env()`; a mapping may override any field."""

    # Elasticsearch
    # One node, or several comma-separated: calls are spread over them and move on from a
    # node that does not answer (app.storage.nodes says which failures may).
    ELASTICSEARCH_URL: str = _env("ELASTICSEARCH_URL", "http://127.0.0.1:9200")
    # Ask the cluster for its nodes (at start-up, after a node failed, at most once a minute)
    # and use those instead of the listed ones. Only where the nodes' published addresses are
    # reachable from the service (not behind a proxy, a load balancer or Docker's port mapping).
    ELASTICSEARCH_SNIFF: bool = _env("ELASTICSEARCH_SNIFF", False, as_bool)
    ELASTICSEARCH_API_KEY: str = _env("ELASTICSEARCH_API_KEY", "")
    ELASTICSEARCH_USERNAME: str = _env("ELASTICSEARCH_USERNAME", "")
    ELASTICSEARCH_PASSWORD: str = _env("ELASTICSEARCH_PASSWORD", "")
    ELASTICSEARCH_CA_CERTS: str = _env("ELASTICSEARCH_CA_CERTS", "")
    ELASTICSEARCH_VERIFY_CERTS: bool = _env("ELASTICSEARCH_VERIFY_CERTS", True, as_bool)
    # Seconds before a call to Elasticsearch gives up and the caller gets a 503.
    ELASTICSEARCH_REQUEST_TIMEOUT: float = _env("ELASTICSEARCH_REQUEST_TIMEOUT", 10.0, float)
    ELASTICSEARCH_MAX_CONNECTIONS: int = _env("ELASTICSEARCH_MAX_CONNECTIONS", 64, int)

    # The indices (their names are fixed: app/storage/names.py)
    # Install index templates and create the indices when the service starts.
    INSTALL_TEMPLATES_ON_START: bool = _env("INSTALL_TEMPLATES_ON_START", True, as_bool)

    # Behaviour
    # A guarded read-modify-write re-reads and re-checks at most this many times on conflicts:
    # more than the concurrent writers one document sees, so only a pile-up ends in a 429.
    CONFLICT_RETRIES: int = _env("CONFLICT_RETRIES", 32, int)
    # Jobs whose last_seen is older than this many seconds count as stale (the connectors
    # framework's own idle threshold is 300 s).
    STALE_JOB_SECONDS: int = _env("STALE_JOB_SECONDS", 300, int)
    REDACT_SECRETS: bool = _env("REDACT_SECRETS", True, as_bool)
    # Largest a connector or job document may grow to through the service's routes (bytes of
    # JSON): 6x the largest incremental sync_cursor seen from a real worker (1.26 MB), and a
    # bound on what one GET of a document costs in memory.
    MAX_DOCUMENT_BYTES: int = _env("MAX_DOCUMENT_BYTES", 8 * 1_048_576, int)
    # Largest request body accepted on _connector routes, in bytes, after decompression:
    # Elasticsearch's own http.max_content_length (100mb), so nothing the cluster takes is refused.
    MAX_BODY_BYTES: int = _env("MAX_BODY_BYTES", 104_857_600, int)
    # Forward requests that are not _connector* to Elasticsearch.
    FORWARD_OTHER_ROUTES: bool = _env("FORWARD_OTHER_ROUTES", True, as_bool)
    # Forwarded requests carry the caller's own Authorization. True sends the service's
    # ELASTICSEARCH_API_KEY / USERNAME instead (a warning is logged at start-up); only with
    # AUTH_MODE=api_key or basic, whose credentials every forwarded request must then present.
    FORWARD_WITH_SERVICE_CREDENTIALS: bool = _env("FORWARD_WITH_SERVICE_CREDENTIALS", False, as_bool)
    # Seconds a forwarded request may wait for Elasticsearch's answer (connecting is bounded by
    # ELASTICSEARCH_REQUEST_TIMEOUT): a worker's _bulk or _refresh can take far longer than the
    # service's own calls; the connectors framework itself waits 240 s.
    FORWARD_REQUEST_TIMEOUT: float = _env("FORWARD_REQUEST_TIMEOUT", 120.0, float)

    # Callers' authentication (app.auth, docs/security.md).
    # none | api_key | basic | elasticsearch. Unset: api_key if AUTH_API_KEYS is set, basic if
    # AUTH_BASIC_USERS is; otherwise elasticsearch when the cluster has security enabled, none
    # on a loopback HOST when it has not, and on any other HOST every request is refused.
    AUTH_MODE: str = _env("AUTH_MODE", "")
    # AUTH_MODE=elasticsearch: seconds the cluster's answer about one credential is reused
    # (0 to 60), and how many credentials are remembered at most.
    AUTH_CACHE_SECONDS: float = _env("AUTH_CACHE_SECONDS", 30.0, float)
    AUTH_CACHE_SIZE: int = _env("AUTH_CACHE_SIZE", 10_000, int)
    # Accepted `Authorization: ApiKey <key>` values, comma-separated.
    AUTH_API_KEYS: list = _env("AUTH_API_KEYS", (), as_list)
    # Accepted `user:password` pairs for `Authorization: Basic`, comma-separated.
    AUTH_BASIC_USERS: list = _env("AUTH_BASIC_USERS", (), as_list)
    # Browser origins (`https://host:port`, or `*`) allowed to call the service; empty: CORS off.
    CORS_ALLOWED_ORIGINS: list = _env("CORS_ALLOWED_ORIGINS", (), as_list)
    # Host names the service answers to besides IP addresses and localhost (`name`, `.domain`
    # for it and its subdomains, `*` for any): a DNS-rebinding page uses a name of its own.
    ALLOWED_HOSTS: list = _env("ALLOWED_HOSTS", (), as_list)

    # Retention of finished sync jobs (app.services.retention_policy, README "Retention of
    # finished jobs"): off unless one of the two rules is set. Each connector's RETENTION_KEEP_LAST
    # newest finished jobs stay (at least 1); with RETENTION_OLDER_THAN (`30d`, `12h`) a job must
    # also be older than that to go. One process across every replica applies it every
    # RETENTION_INTERVAL_SECONDS, RETENTION_BATCH_SIZE deletes per bulk request and
    # RETENTION_BATCH_PAUSE_SECONDS between two (the delete route takes the same batches).
    RETENTION_KEEP_LAST: str = _env("RETENTION_KEEP_LAST", "")
    RETENTION_OLDER_THAN: str = _env("RETENTION_OLDER_THAN", "")
    RETENTION_INTERVAL_SECONDS: float = _env("RETENTION_INTERVAL_SECONDS", 300.0, float)
    RETENTION_BATCH_SIZE: int = _env("RETENTION_BATCH_SIZE", 500, int)
    RETENTION_BATCH_PAUSE_SECONDS: float = _env("RETENTION_BATCH_PAUSE_SECONDS", 0.2, float)

    # What operators watch (app.observability, README "Operating it")
    # ecs | console; unset: console on a terminal, ECS JSON otherwise.
    LOG_FORMAT: str = _env("LOG_FORMAT", "")
    LOG_LEVEL: str = _env("LOG_LEVEL", "INFO")
    # One log line per request (off: none; errors are still logged).
    ACCESS_LOG: bool = _env("ACCESS_LOG", True, as_bool)
    # Tokens a scraper may send as `Authorization: Bearer <token>` for the metrics route alone,
    # whatever AUTH_MODE is.
    METRICS_BEARER_TOKENS: list = _env("METRICS_BEARER_TOKENS", (), as_list)
    # Seconds the metrics' jobs-by-status figures may be old (one aggregation shared by every
    # worker and scrape; recomputed ahead of time past half of it).
    JOB_FIGURES_MAX_AGE: float = _env("JOB_FIGURES_MAX_AGE", 15.0, float)

    # HTTP server (scripts/serve) and its front (app/front/, docs/security.md)
    HOST: str = _env("HOST", "127.0.0.1")
    PORT: int = _env("PORT", 8080, int)
    # Threads per worker process that run requests (bodies arrive without one).
    WEB_THREADS: int = _env("WEB_THREADS", 32, int)
    # A request body must start arriving within BODY_TIMEOUT seconds of the headers and keep
    # up BODY_MIN_RATE bytes a second on average after that (each BODY_MIN_RATE bytes received
    # add a second), else 408 before anything is forwarded or parsed.
    BODY_TIMEOUT: float = _env("BODY_TIMEOUT", 10.0, float)
    BODY_MIN_RATE: int = _env("BODY_MIN_RATE", 16_384, int)
    # Bodies up to this size are received whole before a thread runs the request; larger ones
    # (a worker's _bulk) are streamed through as they arrive.
    BODY_BUFFER_BYTES: int = _env("BODY_BUFFER_BYTES", 1_048_576, int)
    # Requests one client address may have whose bodies are still arriving, per worker
    # process; more get a 429 at once. 0: no bound (behind a proxy every caller shares its address).
    BODIES_PER_CLIENT: int = _env("BODIES_PER_CLIENT", 16, int)

    TESTING: bool = _env("TESTING", False, as_bool)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Config":
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            name = f.metadata["env"]
            if name in environ:
                values[f.name] = f.metadata["convert"](environ[name])
        return cls(**values)

    @classmethod
    def environment_names(cls) -> list[str]:
        """Every environment variable the service reads."""
        return [f.metadata["env"] for f in fields(cls)]

    def override(self, mapping: Mapping[str, Any]) -> "Config":
        known = {f.name: f for f in fields(self)}
        for key, value in mapping.items():
            if key in known:
                convert = known[key].metadata["convert"]
                setattr(self, key, convert(value) if isinstance(value, str) else value)
        return self

    def as_flask_config(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
