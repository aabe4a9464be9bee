"""More jobs, or connectors, than a page can reach: written in bulk straight to the node, removed
afterwards."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from elasticsearch import Elasticsearch

from app.domain.clock import format_instant
from app.services.sync_jobs import pending_job
from app.storage import CONNECTORS_INDEX, SYNC_JOBS_INDEX

BATCH = 5_000


@contextmanager
def many_connectors(es: Elasticsearch, count: int) -> Iterator[list[str]]:
    """`count` connectors whose index names sort as their ids do; yields the ids in that order
    and deletes exactly those connectors afterwards."""
    ids = [f"many-connector-{n:06d}" for n in range(count)]
    yield from _written(es, CONNECTORS_INDEX, ids, lambda n: {
        "index_name": f"search-many-{n:06d}", "name": ids[n], "service_type": "many",
        "status": "created", "is_native": False, "deleted": False, "configuration": {}})


@contextmanager
def many_pending_jobs(es: Elasticsearch, connector_id: str, count: int) -> Iterator[list[str]]:
    """`count` pending jobs of `connector_id`, one millisecond apart (oldest first); yields
    their ids, oldest first, and deletes exactly those jobs afterwards."""
    start = datetime.now(UTC) - timedelta(days=1)
    snapshot = {"id": connector_id, "index_name": "search-many", "service_type": "many",
                "configuration": {}}
    ids = [f"many-{connector_id}-{n:06d}" for n in range(count)]
    yield from _written(es, SYNC_JOBS_INDEX, ids, lambda n: pending_job(
        snapshot, "full", "on_demand", format_instant(start + timedelta(milliseconds=n))))


def _written(es: Elasticsearch, index: str, ids: list[str], document) -> Iterator[list[str]]:
    """Creates `document(n)` as `ids[n]` in `index`, yields the ids, then deletes exactly the
    documents it created (an id already taken is left as it was, and fails the test)."""
    created = []
    try:
        for first in range(0, len(ids), BATCH):
            operations = []
            for n in range(first, min(first + BATCH, len(ids))):
                operations += [{"create": {"_index": index, "_id": ids[n]}}, document(n)]
            items = es.bulk(operations=operations)["items"]
            created += [item["create"]["_id"] for item in items if item["create"]["status"] == 201]
            assert len(created) == min(first + BATCH, len(ids)), "ids already taken"
        es.indices.refresh(index=index)
        yield ids
    finally:
        for first in range(0, len(created), BATCH):
            es.bulk(operations=[{"delete": {"_index": index, "_id": doc_id}}
                                for doc_id in created[first:first + BATCH]])
        es.indices.refresh(index=index)
