"""ASGI entry point: `granian --interface asgi app.asgi:app` (scripts/serve). The Flask app runs
behind the in-process front (app/front/) that reads bodies and keeps the raw path."""

from app.observability import shared_dir

# First: the worker processes of one server share their metrics through this directory, which
# must be known before the metrics library is imported.
shared_dir.prepare_for_workers()

from app import create_app  # noqa: E402
from app.config import Config  # noqa: E402
from app.front import Front  # noqa: E402
from app.services.retention_policy import PolicySchedule  # noqa: E402

flask_app = create_app()
# Every worker process asks for the retention lease; one at a time across replicas runs it.
policy = flask_app.extensions["retention_policy"]
tasks = [PolicySchedule(flask_app.extensions["connector_storage"], policy)] if policy else []
app = Front(flask_app, Config.from_env(), tasks=tasks)
