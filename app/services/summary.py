"""Sync-job figures per connector for dashboards, from two searches in one round trip, cached
and shared by every tab and worker for as long as the caller allows.

The list API pages through jobs; counting them by connector and status that way costs one
request per page, so the dashboard's summary asks Elasticsearch to count instead. At a million
jobs, while jobs are being created, the obvious aggregation (terms on `connector.id` ordered by
the latest `created_at`, with `terms` on `status` and `top_hits` below it) needs global ordinals
that every refresh invalidates, and took ~0.3-0.7 s of Elasticsearch's CPU per call. These
searches need none: the latest job of each connector comes from a search collapsed on
`connector.id`, the counts from a `composite` aggregation over (connector, status).
docs/benchmark.md has the figures.
"""

from collections import defaultdict

from elasticsearch.dsl import Q, Search

from app.domain import clock
from app.domain.job_states import JobStatus
from app.services.shared_cache import SharedCache
from app.storage import SYNC_JOBS_INDEX, Storage

# The most connectors one summary lists, most recently active first; `connector_count` still
# counts them all.
MAX_CONNECTORS = 1000
# Cardinality counts exactly up to this many distinct connectors (ES's largest threshold).
EXACT_CONNECTOR_COUNT = 40_000
# Room for statuses other writers may have stored besides ours.
MAX_STATUSES = 20
# (connector, status) pairs in one composite page: every connector listed, all its statuses.
COUNTS_PAGE = 10_000
# The oldest figures a caller may ask for (`max_age`).
MAX_AGE_LIMIT = 300
# What a summary tells of a connector's latest job: no connector snapshot, so no
# configuration values (which may hold secrets) and no filtering rules.
LAST_SYNC_JOB_FIELDS = [
    "status", "job_type", "trigger_method", "worker_hostname", "error", "created_at",
    "started_at", "last_seen", "cancelation_requested_at", "canceled_at", "completed_at",
    "indexed_document_count", "deleted_document_count", "indexed_document_volume",
]


def latest_jobs_search() -> Search:
    """Each connector's latest job, the most recently active connectors first."""
    return (Search()
            .filter(Q("exists", field="connector.id"))
            .sort({"created_at": {"order": "desc"}}, {"connector.id": {"order": "asc"}})
            .source(includes=LAST_SYNC_JOB_FIELDS)
            .extra(collapse={"field": "connector.id"}, track_total_hits=False)
            [:MAX_CONNECTORS])


def counts_search(connector_ids: list[str] | None = None) -> Search:
    """Jobs by status overall, how many connectors, and jobs by (connector, status); with
    `connector_ids`, only the pairs of those connectors."""
    search = Search().extra(track_total_hits=False)[:0]
    if connector_ids is None:
        search.aggs.bucket("statuses", "terms", field="status", size=MAX_STATUSES)
        search.aggs.metric("connector_count", "cardinality", field="connector.id",
                           precision_threshold=EXACT_CONNECTOR_COUNT)
    else:
        search = search.filter(Q("terms", **{"connector.id": connector_ids}))
    search.aggs.bucket("pairs", "composite", size=COUNTS_PAGE, sources=[
        {"connector": {"terms": {"field": "connector.id"}}},
        {"status": {"terms": {"field": "status"}}}])
    return search


def compute(store: Storage) -> dict:
    """How many jobs there are, by status, overall and for each connector with its latest job,
    and `as_of`, the instant they were counted (taken before the searches)."""
    as_of = clock.now()
    latest, counts = store.search_many(SYNC_JOBS_INDEX, [latest_jobs_search().to_dict(),
                                                         counts_search().to_dict()])
    hits = latest.get("hits", {}).get("hits", [])
    aggregations = counts.get("aggregations", {})
    pairs = aggregations.get("pairs", {}).get("buckets", [])
    listed = [hit["fields"]["connector.id"][0] for hit in hits]
    if len(pairs) >= COUNTS_PAGE:
        # More pairs than one page: count those of the listed connectors only.
        (filtered,) = store.search_many(SYNC_JOBS_INDEX, [counts_search(listed).to_dict()])
        pairs = filtered.get("aggregations", {}).get("pairs", {}).get("buckets", [])
    by_connector: dict[str, dict[str, int]] = defaultdict(dict)
    for bucket in pairs:
        by_connector[bucket["key"]["connector"]][bucket["key"]["status"]] = bucket["doc_count"]
    statuses = status_counts(
        {b["key"]: b["doc_count"] for b in aggregations.get("statuses", {}).get("buckets", [])})
    return {
        "as_of": as_of,
        "count": sum(statuses.values()),
        "statuses": statuses,
        "connector_count": aggregations.get("connector_count", {}).get("value", 0),
        "connectors": [connector_summary(connector_id, hit, by_connector[connector_id])
                       for connector_id, hit in zip(listed, hits, strict=True)],
    }


def sync_job_summary(store: Storage, cache: SharedCache, *, max_age: float = 0) -> bytes:
    """The figures as JSON, at most `max_age` seconds old (0: computed for this call, or by a
    call that started after it arrived), sent as the cache holds them."""
    return cache.get("sync_job_summary", min(max_age, MAX_AGE_LIMIT), lambda: compute(store),
                     refresh_ahead=max_age > 0).raw


def connector_summary(connector_id: str, hit: dict, counts: dict[str, int]) -> dict:
    statuses = status_counts(counts)
    return {
        "id": connector_id,
        "count": sum(statuses.values()),
        "statuses": statuses,
        "last_sync_job": {"id": hit["_id"], **hit["_source"]},
    }


def status_counts(counts: dict[str, int]) -> dict[str, int]:
    """Every known status, zero when no job has it, then any other stored status."""
    return {**{status.value: 0 for status in JobStatus}, **counts}
