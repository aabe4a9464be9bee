"""The root endpoint and the service's own health and description routes."""

from flask import Blueprint, current_app, g, jsonify

from app.about import SERVICE_NAME, service_version
from app.api import openapi
from app.api.requests import store
from app.services import readiness
from app.urls import HEALTH_PATH, OPENAPI_PATH

bp = Blueprint("service", __name__)

@bp.get("/")
def root():
    """What ES's root endpoint says, for the cluster behind the service, plus this service."""
    info = store().cluster.info()
    info.setdefault("tagline", "You Know, for Search")
    info["connector_sync_jobs"] = {"name": SERVICE_NAME, "version": service_version()}
    return jsonify(info)


@bp.get(HEALTH_PATH)
def health():
    """Whether Elasticsearch answers, the templates are installed and the indices usable; 503 if not.

    Each node the service knows is asked too. One that does not answer makes the status
    `yellow`, still 200: the service serves as long as any node does, and a load balancer must
    not take every replica out because one Elasticsearch node is down."""
    storage = store()
    report = readiness.check(storage)
    checks = report["checks"]
    nodes = storage.cluster.nodes()
    serving = report["ready"]
    status = "red" if not serving else "green" if all(n["answers"] for n in nodes) else "yellow"
    code = 200 if serving else 503
    if g.get("anonymous"):
        # A probe without credentials (auth on) learns the status, nothing else.
        return jsonify(status=status), code
    problem = checks["indices"].get("reason") if checks["elasticsearch"]["ok"] else None
    body = {"status": status,
            "elasticsearch": {"reachable": checks["elasticsearch"]["ok"], "nodes": nodes},
            "index_templates": {"installed": checks["index_templates"]["ok"]},
            "indices": {"usable": checks["indices"]["ok"], "problem": problem},
            "service": {"name": SERVICE_NAME, "version": service_version()}}
    return jsonify(body), code


@bp.get(OPENAPI_PATH)
def openapi_document():
    """The OpenAPI 3 document of every route this service answers (docs/openapi.md)."""
    document = current_app.extensions.get("openapi_document")
    if document is None:
        # Built on first use: by then every blueprint is registered.
        document = current_app.extensions["openapi_document"] = openapi.build(current_app)
    return jsonify(document)
