"""The sync-job dashboard: its page and assets, and the summary figures it reads.

The page itself is a client of the public REST API only; the summary is the one read the
list API cannot give cheaply. All three live under `/_connector_service/`, this service's own
namespace: any path under `/_connector/_sync_job/` could be a job id, and any other path
(`/dashboard`, `/static/...`) could be an index name that belongs to Elasticsearch.
"""

from pathlib import Path

from flask import Blueprint, current_app

from app.api.requests import rest, store
from app.schemas.sync_jobs import SummaryQuery
from app.services import summary
from app.urls import DASHBOARD_ASSETS, DASHBOARD_PAGE, SUMMARY_PATH

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# Everything the page loads comes from this service; nothing from elsewhere, nothing inline.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; "
                           "img-src 'self'; connect-src 'self'; base-uri 'none'; "
                           "form-action 'none'; frame-ancestors 'none'")

bp = Blueprint("dashboard", __name__, static_folder=STATIC_DIR,
               static_url_path=DASHBOARD_ASSETS.rstrip("/"))


@bp.get(DASHBOARD_PAGE)
def dashboard_page():
    """The dashboard: plain HTML whose script calls the REST API (assets in app/static/)."""
    response = bp.send_static_file("dashboard.html")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get(SUMMARY_PATH)
@rest(query=SummaryQuery())
def get_sync_job_summary(query):
    """Jobs by status overall and per connector, with each connector's latest job.

    `max_age` lets figures counted up to that long ago answer (shared by every tab and
    worker; `as_of` says when they were counted); without it they are counted for this call.
    """
    body = summary.sync_job_summary(store(), current_app.extensions["shared_cache"],
                                    max_age=query.get("max_age", 0))
    return current_app.response_class(body, mimetype="application/json")
