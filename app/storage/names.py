"""The connector indices' names: each alias and the concrete index behind it."""

CONNECTORS_INDEX = ".elastic-connectors"
CONCRETE_CONNECTORS_INDEX = ".elastic-connectors-v1"
SYNC_JOBS_INDEX = ".elastic-connectors-sync-jobs"
CONCRETE_SYNC_JOBS_INDEX = ".elastic-connectors-sync-jobs-v1"
# Each alias and the concrete index its template creates.
CONCRETE_INDICES = {
    CONNECTORS_INDEX: CONCRETE_CONNECTORS_INDEX,
    SYNC_JOBS_INDEX: CONCRETE_SYNC_JOBS_INDEX,
}
# The service's own shared state: one small document per periodic task (app.storage.leases).
# Not a connector index: nothing in it is a job or a connector, so no listing ever shows it.
LEASES_INDEX = ".connector-sync-jobs-leases"
