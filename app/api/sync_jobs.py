"""Routes under /_connector/_sync_job: the connector sync job APIs.

Updates answer `{"result": ...}` with Elasticsearch's own verdict on the write, "updated" or
"noop", as the reference passes it through.
"""

from flask import Blueprint, current_app, jsonify

from app.api.loop_routes import on_event_loop
from app.api.requests import rest, store
from app.schemas.sync_jobs import (
    ClaimSyncJobSchema,
    CreateSyncJobSchema,
    ListSyncJobsQuery,
    SyncJobErrorSchema,
    SyncJobStatsSchema,
)
from app.services import sync_jobs
from app.services.redaction import redact_job

bp = Blueprint("sync_jobs", __name__, url_prefix="/_connector/_sync_job")


def present(job: dict) -> dict:
    """A job as answered: secrets redacted unless the operator turned that off."""
    return redact_job(job) if current_app.config["REDACT_SECRETS"] else job


@bp.post("")
@rest(body=CreateSyncJobSchema())
def post_sync_job(body):
    """Create connector sync job."""
    job_id = sync_jobs.create(store(), body["id"], body["job_type"], body["trigger_method"])
    return jsonify(id=job_id), 201


@bp.get("")
@rest(query=ListSyncJobsQuery())
def list_sync_jobs(query):
    """List connector sync jobs."""
    count, results = sync_jobs.list_jobs(
        store(), from_=query["from_"], size=query["size"],
        connector_id=query.get("connector_id"), status=query.get("status"),
        job_type=query.get("job_type"))
    return jsonify(count=count, results=[present(job) for job in results])


@bp.get("/<job_id>")
@rest()
def get_sync_job(job_id: str):
    """Get connector sync job."""
    return jsonify(present(sync_jobs.get(store(), job_id)))


@bp.delete("/<job_id>")
@rest()
def delete_sync_job(job_id: str):
    """Delete connector sync job."""
    sync_jobs.delete(store(), job_id)
    return jsonify(acknowledged=True)


@on_event_loop(sync_jobs.check_in_on_loop)
@bp.put("/<job_id>/_check_in")
@rest()
def check_in_sync_job(job_id: str):
    """Check in connector sync job."""
    return jsonify(result=sync_jobs.check_in(store(), job_id))


@bp.put("/<job_id>/_claim")
@rest(body=ClaimSyncJobSchema())
def claim_sync_job(job_id: str, body):
    """Claim connector sync job."""
    return jsonify(result=sync_jobs.claim(store(), job_id, body["worker_hostname"],
                                          body.get("sync_cursor")))


@bp.put("/<job_id>/_cancel")
@rest()
def cancel_sync_job(job_id: str):
    """Cancel connector sync job."""
    return jsonify(result=sync_jobs.cancel(store(), job_id))


@bp.put("/<job_id>/_error")
@rest(body=SyncJobErrorSchema())
def set_sync_job_error(job_id: str, body):
    """Set a connector sync job error."""
    return jsonify(result=sync_jobs.set_error(store(), job_id, body["error"]))


@on_event_loop(sync_jobs.set_stats_on_loop)
@bp.put("/<job_id>/_stats")
@rest(body=SyncJobStatsSchema())
def set_sync_job_stats(job_id: str, body):
    """Set the connector sync job stats."""
    return jsonify(result=sync_jobs.set_stats(store(), job_id, body))
