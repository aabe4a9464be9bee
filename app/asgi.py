"""ASGI entry point: `granian --interface asgi app.asgi:app` (scripts/serve). The Flask app runs
behind the in-process front (app/front/) that reads bodies and keeps the raw path."""

from app.observability import shared_dir

# First: the worker processes of one server share their metrics through this directory, which
# must be known before the metrics library is imported.
shared_dir.prepare_for_workers()

from app import create_app  # noqa: E402
from app.config import Config  # noqa: E402
from app.front import Front  # noqa: E402

app = Front(create_app(), Config.from_env())
