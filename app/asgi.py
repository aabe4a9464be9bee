"""ASGI entry point: `granian --interface asgi app.asgi:app` (scripts/serve). The Flask app runs
behind the in-process front (app/front.py) that reads bodies and keeps the raw path."""

from app import create_app
from app.config import Config
from app.front import Front

app = Front(create_app(), Config.from_env())
