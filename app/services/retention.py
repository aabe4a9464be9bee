"""Retention of finished sync jobs (an extension): which jobs a rule lets go, counted for a dry
run, and deleted in bounded batches, each delete guarded by the version the search found.

The rules (README, "Retention of finished jobs"):

- only finished jobs (`completed`, `error`, `canceled`) ever go;
- per connector, its `keep_last` newest finished jobs (by `created_at`) stay, and `keep_last`
  is at least 1: a connector's newest finished job, the sync its `last_sync_*` fields describe,
  always stays, as does its newest job of all (a running one never goes, a finished one is its
  newest finished);
- with `older_than`, a job must also have been created longer ago than that. `created_at` is
  the one instant every job has (`completed_at` is the worker's write, and a job failed through
  `_error` has none), and it is what `keep_last` counts by;
- jobs that name no connector, or have no `created_at`, never go.

A connector's `keep_last`-th newest finished job is found as one page of a search (`from`), so
`keep_last` is at most the result window. Every bound is taken in whole milliseconds, as the
`date` mapping stores instants: a job created in the same millisecond as the newest one allowed
to go stays.
"""

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from app.domain.job_states import TERMINAL_STATUSES
from app.observability import metrics
from app.schemas.loading import MAX_RESULT_WINDOW
from app.storage import SYNC_JOBS_INDEX, Storage

FINISHED_STATUSES = sorted(TERMINAL_STATUSES)
# How many ids a dry run lists (its count goes on up to the result window).
MAX_LISTED_IDS = 1000
# Connectors judged per query: two clauses each, well within any cluster's clause limit.
CONNECTORS_PER_QUERY = 100
CONNECTORS_PER_PAGE = 1000
OLDEST_FIRST = [{"created_at": {"order": "asc"}}, {"_seq_no": {"order": "asc"}}]


@dataclass(frozen=True)
class RetentionRule:
    """What may go: finished jobs past each connector's `keep_last` newest, created more than
    `older_than` seconds ago if given, of one connector if `connector_id` is given."""

    keep_last: int = 1
    older_than: float | None = None
    connector_id: str | None = None

    @classmethod
    def from_request(cls, loaded: dict) -> "RetentionRule":
        """From a loaded query or body (app.schemas.sync_jobs.RetentionQuery)."""
        return cls(keep_last=loaded.get("keep_last") or 1, older_than=loaded.get("older_than"),
                   connector_id=loaded.get("connector_id"))


def dry_run(store: Storage, rule: RetentionRule) -> dict:
    """What `delete` would delete now: `count` (exact up to 10,000, then 10,000, as the list
    counts) and the `ids` of up to MAX_LISTED_IDS of them, oldest first per group of
    connectors."""
    count, ids = 0, []
    for query in deletable_queries(store, rule, now_millis()):
        body = {"query": query, "sort": OLDEST_FIRST, "size": MAX_LISTED_IDS - len(ids),
                "_source": False}
        total, hits = store.search(SYNC_JOBS_INDEX, body, exact_total=False)
        count += total
        ids += [hit.id for hit in hits]
        if count >= MAX_RESULT_WINDOW and len(ids) >= MAX_LISTED_IDS:
            break
    return {"count": min(count, MAX_RESULT_WINDOW), "ids": ids}


def delete(store: Storage, rule: RetentionRule, *, batch_size: int = 500, pause: float = 0.0,
           trigger: str = "request", before_batch: Callable[[], None] | None = None,
           progress: dict | None = None) -> dict:
    """Deletes every job the rule lets go, oldest first, `batch_size` per bulk request with
    `pause` seconds between two, so that a first run over millions of jobs leaves Elasticsearch
    room for the workers' heartbeats. Returns `{"deleted", "skipped"}`.

    Each delete carries the `seq_no`/`primary_term` the search found: a job claimed, checked
    in or written in any way since is skipped, never deleted, and is judged again by the next
    run. `before_batch` runs before each batch (the policy renews its lease there, and stops
    by raising). The index is refreshed once at the end, so lists stop showing the jobs (a run
    stopped early leaves that to the index's own refresh, within a second).
    `progress`, if given, is the dict returned, kept current batch by batch (for a caller that
    stops the run with an exception).
    """
    progress = {"deleted": 0, "skipped": 0} if progress is None else progress
    counter = metrics.RETENTION_JOBS
    for query in deletable_queries(store, rule, now_millis()):
        after = None
        while True:
            if before_batch is not None:
                before_batch()
            body = {"query": query, "sort": OLDEST_FIRST, "size": batch_size, "_source": False}
            if after is not None:
                body["search_after"] = after
            hits, after = store.search_page(SYNC_JOBS_INDEX, body)
            if not hits:
                break
            gone, changed = store.delete_guarded(SYNC_JOBS_INDEX, hits)
            progress["deleted"] += gone
            progress["skipped"] += changed
            counter.labels("deleted", trigger).inc(gone)
            counter.labels("skipped", trigger).inc(changed)
            if len(hits) < batch_size:
                break
            if pause:
                time.sleep(pause)
    if progress["deleted"]:
        store.refresh(SYNC_JOBS_INDEX)
    return progress


def deletable_queries(store: Storage, rule: RetentionRule, now: int) -> Iterator[dict]:
    """The query of the jobs the rule lets go, one per group of connectors."""
    connector_ids = ([rule.connector_id] if rule.connector_id is not None
                     else connectors_with_finished_jobs(store))
    age_bound = None if rule.older_than is None else now - int(rule.older_than * 1000)
    for group in batched(connector_ids, CONNECTORS_PER_QUERY):
        bounds = kept_from(store, group, rule.keep_last)
        if bounds:
            yield deletable_query(bounds, age_bound)


def batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(items)
    while group := list(islice(iterator, size)):
        yield group


def connectors_with_finished_jobs(store: Storage) -> Iterator[str]:
    """Every connector id that finished jobs name, in order, a page of ids at a time."""
    after = None
    while True:
        composite = {"size": CONNECTORS_PER_PAGE,
                     "sources": [{"id": {"terms": {"field": "connector.id"}}}]}
        if after is not None:
            composite["after"] = after
        found = store.aggregate(SYNC_JOBS_INDEX, {
            "query": {"terms": {"status": FINISHED_STATUSES}},
            "aggs": {"connectors": {"composite": composite}}}).get("connectors", {})
        buckets = found.get("buckets", [])
        yield from (bucket["key"]["id"] for bucket in buckets)
        after = found.get("after_key")
        if len(buckets) < CONNECTORS_PER_PAGE or after is None:
            return


def kept_from(store: Storage, connector_ids: list[str], keep_last: int) -> dict[str, int]:
    """For each connector with at least `keep_last` finished jobs, the `created_at` (epoch
    milliseconds) of its `keep_last`-th newest: that one stays, and finished jobs created
    before it may go. Connectors with fewer are left out. One round trip for the group."""
    answers = store.search_many(SYNC_JOBS_INDEX, [
        {"query": {"bool": {"filter": [{"terms": {"status": FINISHED_STATUSES}},
                                       {"term": {"connector.id": connector_id}}]}},
         "sort": [{"created_at": {"order": "desc", "missing": "_last"}}],
         "from": keep_last - 1, "size": 1, "_source": False, "track_total_hits": False}
        for connector_id in connector_ids])
    bounds = {}
    for connector_id, answer in zip(connector_ids, answers, strict=True):
        hits = answer.get("hits", {}).get("hits", [])
        if hits and isinstance(hits[0].get("sort", [None])[0], int):
            bounds[connector_id] = hits[0]["sort"][0]
    return bounds


def deletable_query(bounds: dict[str, int], age_bound: int | None) -> dict:
    """Finished jobs of these connectors created before each one's bound (and before
    `age_bound`, when given), all bounds in epoch milliseconds."""
    filters: list[dict] = [{"terms": {"status": FINISHED_STATUSES}}]
    if age_bound is not None:
        filters.append(created_before(age_bound))
    per_connector = [{"bool": {"filter": [{"term": {"connector.id": connector_id}},
                                          created_before(bound)]}}
                     for connector_id, bound in bounds.items()]
    return {"bool": {"filter": filters, "should": per_connector, "minimum_should_match": 1}}


def created_before(millis: int) -> dict:
    return {"range": {"created_at": {"lt": millis, "format": "epoch_millis"}}}


def now_millis() -> int:
    return int(time.time() * 1000)
