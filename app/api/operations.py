"""What a supervisor, an orchestrator and a scraper ask: liveness, readiness and metrics."""

import logging

from flask import Blueprint, Response, current_app, g, jsonify, request

from app.api.requests import rest, store
from app.exceptions import RestError, StorageUnavailable
from app.observability import metrics
from app.services import job_figures, readiness
from app.urls import LIVE_PATH, METRICS_PATH, READY_PATH

log = logging.getLogger(__name__)

bp = Blueprint("operations", __name__)


@bp.get(LIVE_PATH)
@rest()
def live():
    """The process answers: nothing else is checked, so a restart cannot fix what this reports."""
    return jsonify(live=True)


@bp.get(READY_PATH)
@rest()
def ready():
    """Whether requests can be served now (Elasticsearch, templates, indices); 503 if not."""
    report = readiness.check(store())
    code = 200 if report["ready"] else 503
    if g.get("anonymous"):
        return jsonify(ready=report["ready"]), code  # a probe without credentials: no details
    return jsonify(report), code


@bp.get(METRICS_PATH)
@rest()
def prometheus_metrics():
    """Every worker's metrics in Prometheus' text format (OpenMetrics when asked for)."""
    body, content_type = metrics.exposition(request.headers.get("Accept"), [JobFigures()])
    return Response(body, content_type=content_type)


class JobFigures:
    """The job gauges from the shared, cached aggregation; none when Elasticsearch fails."""

    def collect(self):
        config = current_app.config
        try:
            entry = job_figures.job_figures(
                store(), current_app.extensions["shared_cache"],
                stale_after=config["STALE_JOB_SECONDS"], max_age=config["JOB_FIGURES_MAX_AGE"])
        except (StorageUnavailable, RestError) as err:
            log.warning("job figures unavailable for the metrics: %s", err)
            return []
        return job_figures.as_metrics(entry)
