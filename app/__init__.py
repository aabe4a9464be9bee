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
    # UTF-8 as Elasticsearch answers, not \u escapes (and cheaper to encode).
    app.json.ensure_ascii = False
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)

    # First: refuses unsafe settings before anything starts; its hooks run before all others.
    register_security(app, settings)
    register_error_handlers(app)
    register_input_limits(app)
    init_storage(app, settings)
    install_security_checks(app)
    register_blueprints(app)
    register_commands(app)
    register_response_headers(app)
    return app


def register_error_handlers(app: Flask) -> None:
    from app.errors import register_error_handlers as register

    register(app)


def register_security(app: Flask, settings: Config) -> None:
    """Callers' authentication and CORS on the service's own routes (docs/security.md)."""
    from app.security import register_security as register

    register(app, settings)


def register_input_limits(app: Flask) -> None:
    """Body size and document ids checked before any view reads them."""
    from app.api.limits import register

    register(app)


def init_storage(app: Flask, settings: Config) -> None:
    """One client per app, shared by all requests; templates installed in the background."""
    from app.storage import connect

    storage = connect(settings)
    app.extensions["connector_storage"] = storage
    if settings.INSTALL_TEMPLATES_ON_START:
        storage.layout.install_in_background()


def install_security_checks(app: Flask) -> None:
    """What the auth hooks ask the cluster with (the mode left to it, callers it vouched for)."""
    from app.security import install_checks

    install_checks(app, app.extensions["connector_storage"])


def register_blueprints(app: Flask) -> None:
    from app.api import connectors, dashboard, extensions, service, sync_jobs

    app.register_blueprint(service.bp)
    app.register_blueprint(dashboard.bp)
    # sync_jobs first: its static `_sync_job` paths win over `<connector_id>` routes.
    app.register_blueprint(sync_jobs.bp)
    app.register_blueprint(extensions.bp)
    app.register_blueprint(connectors.bp)
    register_forwarding(app)


def register_forwarding(app: Flask) -> None:
    """Last: its catch-all takes only what no route above serves (docs/worker.md)."""
    if not app.config["FORWARD_OTHER_ROUTES"]:
        return
    from app.api import forwarding

    app.register_blueprint(forwarding.bp)


def register_commands(app: Flask) -> None:
    from app.cli import register

    register(app)


def register_response_headers(app: Flask) -> None:
    from app.api.responses import register_response_shaping

    register_response_shaping(app)

    @app.after_request
    def elastic_product(response):
        # The official clients refuse a response without it.
        response.headers["X-Elastic-Product"] = "Elasticsearch"
        return response
