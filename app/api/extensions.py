"""Routes beyond the reference: stale jobs, retention and cancel-all. Paths that no reference
route (and no generated job id, always 20 characters) can take."""

from flask import Blueprint, current_app, jsonify

from app.api.requests import rest, store
from app.api.sync_jobs import present
from app.schemas.sync_jobs import (
    CancelAllQuery,
    FailStaleQuery,
    RetentionBody,
    RetentionQuery,
    StaleJobsQuery,
)
from app.services import retention, stale_jobs, sync_jobs
from app.services.retention import RetentionRule

bp = Blueprint("extensions", __name__, url_prefix="/_connector")


def _older_than(query: dict) -> float:
    return query.get("older_than") or current_app.config["STALE_JOB_SECONDS"]


@bp.get("/_sync_job/_stale")
@rest(query=StaleJobsQuery())
def list_stale_sync_jobs(query):
    """List running jobs that sent no check-in or stats for `older_than` (default 300s)."""
    count, results = stale_jobs.list_stale(
        store(), _older_than(query), connector_id=query.get("connector_id"),
        from_=query["from_"], size=query["size"])
    return jsonify(count=count, results=[present(job) for job in results])


@bp.post("/_sync_job/_stale/_error")
@rest(query=FailStaleQuery())
def fail_stale_sync_jobs(query):
    """Move every job silent for `older_than` (required) to `error` and record it on its
    connector, each under the guard; reports each outcome."""
    return jsonify(stale_jobs.fail_stale(store(), query["older_than"],
                                         connector_id=query.get("connector_id"),
                                         max_jobs=query["max_jobs"]))


@bp.get("/_sync_job/_retention")
@rest(query=RetentionQuery())
def sync_job_retention_dry_run(query):
    """List what the retention rule would delete: `count` and up to 1000 `ids` (a dry run)."""
    return jsonify(retention.dry_run(store(), RetentionRule.from_request(query)))


@bp.post("/_sync_job/_retention/_delete")
@rest(body=RetentionBody())
def sync_job_retention_delete(body):
    """Delete the finished jobs the retention rule lets go, in bounded batches, each delete
    guarded by the version found; jobs written since are skipped."""
    config = current_app.config
    return jsonify(retention.delete(store(), RetentionRule.from_request(body),
                                    batch_size=config["RETENTION_BATCH_SIZE"],
                                    pause=config["RETENTION_BATCH_PAUSE_SECONDS"]))


@bp.put("/<connector_id>/_sync_job/_cancel")
@rest(query=CancelAllQuery())
def cancel_connector_sync_jobs(connector_id: str, query):
    """Cancel every pending, in-progress and suspended job of a connector."""
    return jsonify(sync_jobs.cancel_all(store(), connector_id, max_jobs=query["max_jobs"]))
