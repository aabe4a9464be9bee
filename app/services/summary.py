"""Sync-job figures per connector for dashboards, from one aggregation in one round trip.

The list API pages through jobs; counting them by connector and status that way costs one
request per page, so the dashboard's summary asks Elasticsearch to count instead.
"""

from elasticsearch.dsl import Search

from app.job_states import JobStatus
from app.storage import SYNC_JOBS_INDEX, Storage

# The most connectors one summary lists, most recently active first; `connector_count` still
# counts them all.
MAX_CONNECTORS = 1000
# Cardinality counts exactly up to this many distinct connectors (ES's largest threshold).
EXACT_CONNECTOR_COUNT = 40_000
# Room for statuses other writers may have stored besides ours.
MAX_STATUSES = 20
# What a summary tells of a connector's latest job: no connector snapshot, so no
# configuration values (which may hold secrets) and no filtering rules.
LAST_SYNC_JOB_FIELDS = [
    "status", "job_type", "trigger_method", "worker_hostname", "error", "created_at",
    "started_at", "last_seen", "cancelation_requested_at", "canceled_at", "completed_at",
    "indexed_document_count", "deleted_document_count", "indexed_document_volume",
]


def summary_search() -> Search:
    """Jobs by status overall, and per connector: by status, plus the latest job."""
    search = Search()
    search.aggs.bucket("statuses", "terms", field="status", size=MAX_STATUSES)
    search.aggs.metric("connector_count", "cardinality", field="connector.id",
                       precision_threshold=EXACT_CONNECTOR_COUNT)
    connectors = search.aggs.bucket(
        "connectors", "terms", field="connector.id", size=MAX_CONNECTORS,
        order=[{"last_created_at": "desc"}, {"_key": "asc"}])
    connectors.metric("last_created_at", "max", field="created_at")
    connectors.bucket("statuses", "terms", field="status", size=MAX_STATUSES)
    connectors.metric("last_sync_job", "top_hits", size=1, sort=[{"created_at": {"order": "desc"}}],
                      _source={"includes": LAST_SYNC_JOB_FIELDS})
    return search


def sync_job_summary(store: Storage) -> dict:
    """How many jobs there are, by status, overall and for each connector with its latest job."""
    aggregations = store.aggregate(SYNC_JOBS_INDEX, summary_search().to_dict())
    statuses = status_counts(aggregations.get("statuses"))
    connectors = [connector_summary(bucket)
                  for bucket in aggregations.get("connectors", {}).get("buckets", [])]
    return {
        "count": sum(statuses.values()),
        "statuses": statuses,
        "connector_count": aggregations.get("connector_count", {}).get("value", 0),
        "connectors": connectors,
    }


def connector_summary(bucket: dict) -> dict:
    hit = bucket["last_sync_job"]["hits"]["hits"][0]
    return {
        "id": bucket["key"],
        "count": bucket["doc_count"],
        "statuses": status_counts(bucket["statuses"]),
        "last_sync_job": {"id": hit["_id"], **hit["_source"]},
    }


def status_counts(terms: dict | None) -> dict[str, int]:
    """Every known status, zero when no job has it, then any other stored status."""
    counts = {status.value: 0 for status in JobStatus}
    for bucket in (terms or {}).get("buckets", []):
        counts[bucket["key"]] = bucket["doc_count"]
    return counts
