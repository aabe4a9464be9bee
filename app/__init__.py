"""The application factory: a table of contents of what the service is made of."""

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from app.config import Config


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Builds the service; `config` overrides values read from the environment."""
    settings = Config.from_env().override(config or {})
    app = Flask(__name__)
    app.config.from_mapping(settings.as_flask_config())
    app.config["MAX_CONTENT_LENGTH"] = settings.MAX_BODY_BYTES
    # Keep the reference's key order: `id` first, then the stored fields.
    app.json.sort_keys = False
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)

    register_error_handlers(app)
    init_storage(app, settings)
    register_blueprints(app)
    register_commands(app)
    register_response_headers(app)
    return app


def register_error_handlers(app: Flask) -> None:
    from app.errors import register_error_handlers as register

    register(app)


def init_storage(app: Flask, settings: Config) -> None:
    """One client per app, shared by all requests; templates installed in the background."""
    from app.storage import Storage

    storage = Storage.from_config(settings)
    app.extensions["connector_storage"] = storage
    if settings.INSTALL_TEMPLATES_ON_START:
        storage.install_in_background()


def register_blueprints(app: Flask) -> None:
    from app.api import connectors, service, sync_jobs

    app.register_blueprint(service.bp)
    # sync_jobs first: its static `_sync_job` paths win over `<connector_id>` routes.
    app.register_blueprint(sync_jobs.bp)
    app.register_blueprint(connectors.bp)


def register_commands(app: Flask) -> None:
    from app.cli import register

    register(app)


def register_response_headers(app: Flask) -> None:
    @app.after_request
    def elastic_product(response):
        # The official clients refuse a response without it.
        response.headers["X-Elastic-Product"] = "Elasticsearch"
        return response
