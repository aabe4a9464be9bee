"""WSGI entry point, without the front (scripts/serve runs app/asgi.py): `flask --app app.wsgi
run`, the CLI commands (`flask --app app.wsgi install-templates`), or any WSGI server."""

from app.observability import shared_dir

# First: the worker processes of one server share their metrics through this directory, which
# must be known before the metrics library is imported.
shared_dir.prepare_for_workers()

from app import create_app  # noqa: E402

app = create_app()
