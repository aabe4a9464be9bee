"""Which cluster privilege each of the service's routes needs with AUTH_MODE=elasticsearch, and
the 403 Elasticsearch answers without it.

Each reference route keeps the action name of the reference's transport action (its
`*Action.NAME` in x-pack/plugin/ent-search) and the rule the reference applies since connector
APIs moved to their own privileges: `monitor_connector` grants the get and list actions,
`manage_connector` every `cluster:admin/xpack/connector/*` action (ClusterPrivilegeResolver).
The service's own routes reuse the reference action they are a variant of. docs/security.md
has the table.
"""

from dataclasses import dataclass

MONITOR_CONNECTOR, MANAGE_CONNECTOR, MONITOR = "monitor_connector", "manage_connector", "monitor"
# What the service asks the cluster about each caller, in one _has_privileges call.
ASKED_PRIVILEGES = [MONITOR_CONNECTOR, MANAGE_CONNECTOR, MONITOR]
CONNECTOR = "cluster:admin/xpack/connector/"
SYNC_JOB = CONNECTOR + "sync_job/"


@dataclass(frozen=True)
class Requirement:
    """A route's transport action and the cluster privileges that grant it, least first."""

    action: str
    granted_by: tuple[str, ...]

    def met_by(self, held: dict[str, bool]) -> bool:
        return any(held.get(name) for name in self.granted_by)


# The cluster privileges that grant each kind of action, as Elasticsearch lists them in a 403
# (sorted from the least to the most access; `manage` and `all` need no asking: both hold
# every cluster privilege a caller could ask about here).
READ = (MONITOR_CONNECTOR, MANAGE_CONNECTOR, "manage", "all")
WRITE = (MANAGE_CONNECTOR, "manage", "all")
CLUSTER_MONITOR = (MONITOR, "manage", "all")


def _read(action: str) -> Requirement:
    return Requirement(action, READ)


def _write(action: str) -> Requirement:
    return Requirement(action, WRITE)


# (method, Flask endpoint) -> what the route needs. Endpoints are `<blueprint>.<view>`.
ROUTE_REQUIREMENTS: dict[tuple[str, str], Requirement] = {
    # Sync jobs (the reference APIs)
    ("POST", "sync_jobs.post_sync_job"): _write(SYNC_JOB + "post"),
    ("GET", "sync_jobs.list_sync_jobs"): _read(SYNC_JOB + "list"),
    ("GET", "sync_jobs.get_sync_job"): _read(SYNC_JOB + "get"),
    ("DELETE", "sync_jobs.delete_sync_job"): _write(SYNC_JOB + "delete"),
    ("PUT", "sync_jobs.check_in_sync_job"): _write(SYNC_JOB + "check_in"),
    ("PUT", "sync_jobs.claim_sync_job"): _write(SYNC_JOB + "claim"),
    ("PUT", "sync_jobs.cancel_sync_job"): _write(SYNC_JOB + "cancel"),
    ("PUT", "sync_jobs.set_sync_job_error"): _write(SYNC_JOB + "update_error"),
    ("PUT", "sync_jobs.set_sync_job_stats"): _write(SYNC_JOB + "update_stats"),
    # Connectors
    ("PUT", "connectors.put_connector"): _write(CONNECTOR + "put"),
    ("PUT", "connectors.post_connector"): _write(CONNECTOR + "put"),
    ("POST", "connectors.post_connector"): _write(CONNECTOR + "post"),
    ("GET", "connectors.get_connector"): _read(CONNECTOR + "get"),
    ("GET", "connectors.list_connectors"): _read(CONNECTOR + "list"),
    ("DELETE", "connectors.delete_connector"): _write(CONNECTOR + "delete"),
    ("PUT", "connectors.check_in_connector"): _write(CONNECTOR + "update_last_seen"),
    ("PUT", "connectors.update_last_sync"): _write(CONNECTOR + "update_last_sync_stats"),
    ("PUT", "connectors.update_connector_error"): _write(CONNECTOR + "update_error"),
    ("PUT", "connectors.update_connector_status"): _write(CONNECTOR + "update_status"),
    ("PUT", "connectors.update_connector_configuration"): _write(CONNECTOR + "update_configuration"),
    ("PUT", "connectors.update_connector_filtering"): _write(CONNECTOR + "update_filtering"),
    ("PUT", "connectors.update_connector_filtering_validation"):
        _write(CONNECTOR + "update_filtering/draft_validation"),
    ("PUT", "connectors.activate_connector_filtering"): _write(CONNECTOR + "update_filtering/activate"),
    ("PUT", "connectors.update_connector_index_name"): _write(CONNECTOR + "update_index_name"),
    ("PUT", "connectors.update_connector_service_type"): _write(CONNECTOR + "update_service_type"),
    ("PUT", "connectors.update_connector_native"): _write(CONNECTOR + "update_native"),
    ("PUT", "connectors.update_connector_name"): _write(CONNECTOR + "update_name"),
    ("PUT", "connectors.update_connector_api_key_id"): _write(CONNECTOR + "update_api_key_id"),
    ("PUT", "connectors.update_connector_pipeline"): _write(CONNECTOR + "update_pipeline"),
    ("PUT", "connectors.update_connector_scheduling"): _write(CONNECTOR + "update_scheduling"),
    ("PUT", "connectors.update_connector_features"): _write(CONNECTOR + "update_features"),
    # The service's own routes: each a variant of a reference action.
    ("GET", "extensions.list_stale_sync_jobs"): _read(SYNC_JOB + "list"),
    ("POST", "extensions.fail_stale_sync_jobs"): _write(SYNC_JOB + "update_error"),
    ("PUT", "extensions.cancel_connector_sync_jobs"): _write(SYNC_JOB + "cancel"),
    # Retention: the dry run lists ids the list shows anyway; the delete is many deletes.
    ("GET", "extensions.sync_job_retention_dry_run"): _read(SYNC_JOB + "list"),
    ("POST", "extensions.sync_job_retention_delete"): _write(SYNC_JOB + "delete"),
    ("GET", "dashboard.get_sync_job_summary"): _read(SYNC_JOB + "list"),
    # The cluster's own root endpoint needs `monitor` (cluster:monitor/main) in Elasticsearch.
    ("GET", "service.root"): Requirement("cluster:monitor/main", CLUSTER_MONITOR),
    # Counts of jobs by status and the service's own figures: for whoever may read the jobs,
    # and for a monitoring user of the cluster (what a Metricbeat or Prometheus user holds).
    ("GET", "operations.prometheus_metrics"): Requirement(
        "cluster:monitor/connector_service/metrics",
        (MONITOR_CONNECTOR, MANAGE_CONNECTOR, MONITOR, "manage", "all")),
}
# Routes any authenticated caller may use: the health, liveness and readiness reports (booleans
# about the service and the cluster, no connector data), the description of the API, and the
# dashboard's page and assets (no data; served without credentials too, but a browser sends the
# ones it holds).
AUTHENTICATED_ONLY = frozenset({"service.health", "operations.live", "operations.ready",
                                "service.openapi_document", "dashboard.dashboard_page",
                                "dashboard.static"})


def requirement_for(method: str, endpoint: str | None) -> Requirement | None:
    """What a route needs; None when authentication alone suffices.

    A route missing from the table (added without a decision) is treated by its method: reads
    need `monitor_connector`, anything else `manage_connector`.
    """
    if endpoint in AUTHENTICATED_ONLY or method == "OPTIONS":
        return None  # OPTIONS tells the allowed methods, nothing stored
    method = "GET" if method == "HEAD" else method
    found = ROUTE_REQUIREMENTS.get((method, endpoint or ""))
    if found is not None:
        return found
    name = (endpoint or "unknown").rpartition(".")[2]
    if method == "GET":
        return Requirement(f"cluster:monitor/connector_service/{name}", READ)
    return Requirement(f"cluster:admin/connector_service/{name}", WRITE)


def denial_reason(action: str, who: str, requirement: Requirement) -> str:
    """Elasticsearch's wording (AuthorizationDenialMessages.actionDenied) for a cluster action."""
    return (f"action [{action}] is unauthorized for {who}, this action is granted by the cluster "
            f"privileges [{','.join(requirement.granted_by)}]")
