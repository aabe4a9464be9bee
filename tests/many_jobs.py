"""More jobs than a page can reach: written in bulk straight to the node, removed afterwards."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from elasticsearch import Elasticsearch

from app.clock import format_instant
from app.services.sync_jobs import pending_job
from app.storage import SYNC_JOBS_INDEX

BATCH = 5_000


@contextmanager
def many_pending_jobs(es: Elasticsearch, connector_id: str, count: int) -> Iterator[list[str]]:
    """`count` pending jobs of `connector_id`, one millisecond apart (oldest first); yields
    their ids, oldest first, and deletes exactly those jobs afterwards."""
    start = datetime.now(UTC) - timedelta(days=1)
    snapshot = {"id": connector_id, "index_name": "search-many", "service_type": "many",
                "configuration": {}}
    ids = [f"many-{connector_id}-{n:06d}" for n in range(count)]
    try:
        for first in range(0, count, BATCH):
            operations = []
            for n in range(first, min(first + BATCH, count)):
                created = format_instant(start + timedelta(milliseconds=n))
                operations += [{"create": {"_index": SYNC_JOBS_INDEX, "_id": ids[n]}},
                               pending_job(snapshot, "full", "on_demand", created)]
            assert not es.bulk(operations=operations)["errors"]
        es.indices.refresh(index=SYNC_JOBS_INDEX)
        yield ids
    finally:
        for first in range(0, count, BATCH):
            es.bulk(operations=[{"delete": {"_index": SYNC_JOBS_INDEX, "_id": job_id}}
                                for job_id in ids[first:first + BATCH]])
        es.indices.refresh(index=SYNC_JOBS_INDEX)
