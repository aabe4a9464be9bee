"""WSGI entry point: `granian --interface wsgi app.wsgi:app` (scripts/serve) or `flask --app app.wsgi run`."""

from app import create_app

app = create_app()
