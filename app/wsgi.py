"""WSGI entry point: `granian --interface wsgi app.wsgi:app` (scripts/serve) or `flask --app app.wsgi run`."""

from app.observability import shared_dir

# First: the worker processes of one server share their metrics through this directory, which
# must be known before the metrics library is imported.
shared_dir.prepare_for_workers()

from app import create_app  # noqa: E402

app = create_app()
