"""The root endpoint and the service's own health and description routes."""

from importlib.metadata import PackageNotFoundError, version

from flask import Blueprint, jsonify

from app.api.requests import store
from app.exceptions import StorageUnavailable

bp = Blueprint("service", __name__)

SERVICE_NAME = "connector-sync-jobs"


def service_version() -> str:
    try:
        return version(SERVICE_NAME)
    except PackageNotFoundError:
        return "0+unknown"


@bp.get("/")
def root():
    """What ES's root endpoint says, for the cluster behind the service, plus this service."""
    info = store().cluster_info()
    info.setdefault("tagline", "You Know, for Search")
    info["connector_sync_jobs"] = {"name": SERVICE_NAME, "version": service_version()}
    return jsonify(info)


@bp.get("/_connector_service/health")
def health():
    """Whether Elasticsearch answers and the index templates are installed; 503 if not."""
    storage = store()
    try:
        reachable = storage.ping()
        templates = reachable and storage.templates_installed()
    except StorageUnavailable:
        reachable = templates = False
    status = "green" if reachable and templates else "red"
    body = {"status": status, "elasticsearch": {"reachable": reachable},
            "index_templates": {"installed": templates},
            "service": {"name": SERVICE_NAME, "version": service_version()}}
    return jsonify(body), 200 if status == "green" else 503
