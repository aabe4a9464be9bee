"""Reading what the service stored, straight from the node."""

from datetime import datetime

from app.storage import CONNECTORS_INDEX, SYNC_JOBS_INDEX


def stored_job(es, job_id: str) -> dict:
    return es.get(index=SYNC_JOBS_INDEX, id=job_id)["_source"]


def stored_connector(es, connector_id: str) -> dict:
    return es.get(index=CONNECTORS_INDEX, id=connector_id)["_source"]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)
