"""Jobs by status and stale jobs for the metrics: one size-0 aggregation, cached and shared by
every worker and scrape, so scraping never costs Elasticsearch a query per scrape."""

from elasticsearch.dsl import Search
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from app.domain.job_states import JobStatus
from app.observability.metrics import NAMESPACE
from app.services.shared_cache import Entry, SharedCache
from app.services.stale_jobs import stale_search
from app.storage import SYNC_JOBS_INDEX, Storage

MAX_STATUSES = 20


def figures_search(stale_after: float) -> Search:
    search = Search()
    search.aggs.bucket("statuses", "terms", field="status", size=MAX_STATUSES)
    search.aggs.bucket("stale", "filter", filter=stale_search(stale_after).to_dict()["query"])
    return search


def compute(store: Storage, stale_after: float) -> dict:
    aggregations = store.aggregate(SYNC_JOBS_INDEX, figures_search(stale_after).to_dict())
    statuses = {status.value: 0 for status in JobStatus}
    for bucket in aggregations.get("statuses", {}).get("buckets", []):
        statuses[bucket["key"]] = bucket["doc_count"]
    return {"statuses": statuses, "stale": aggregations.get("stale", {}).get("doc_count", 0)}


def job_figures(store: Storage, cache: SharedCache, *, stale_after: float, max_age: float) -> Entry:
    """The figures, at most `max_age` seconds old (older ones are recomputed ahead of time)."""
    return cache.get("job_figures", max_age, lambda: compute(store, stale_after),
                     refresh_ahead=True)


def as_metrics(entry: Entry) -> list[Metric]:
    """The figures as Prometheus gauges, with how old they are."""
    jobs = GaugeMetricFamily(f"{NAMESPACE}_sync_jobs", "Stored sync jobs by status (cached "
                             "aggregation; see _sync_job_figures_age_seconds).", labels=["status"])
    for status, count in entry.value["statuses"].items():
        jobs.add_metric([status], count)
    stale = GaugeMetricFamily(f"{NAMESPACE}_stale_sync_jobs", "Running jobs (in_progress, "
                              "canceling) whose worker sent nothing for STALE_JOB_SECONDS.",
                              value=entry.value["stale"])
    age = GaugeMetricFamily(f"{NAMESPACE}_sync_job_figures_age_seconds",
                            "Age of the aggregation the job gauges come from.", value=entry.age())
    return [jobs, stale, age]
