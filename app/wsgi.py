"""WSGI entry point: `gunicorn app.wsgi:app` or `flask --app app.wsgi run`."""

from app import create_app

app = create_app()
