"""The application factory: a table of contents of what the service is made of."""

from collections.abc import Mapping
from typing import Any

from flask import Flask

from app.config import Config


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Builds the service; `config` overrides values read from the environment."""
    settings = Config.from_env().override(config or {})
    # No /static route of Flask's own: every path outside the service's prefixes is an index's.
    app = Flask(__name__, static_folder=None)
    app.config.from_mapping(settings.as_flask_config())
    app.config["MAX_CONTENT_LENGTH"] = settings.MAX_BODY_BYTES
    # Keep the reference's key order: `id` first, then the stored fields.
    app.json.sort_keys = False
    # UTF-8 as Elasticsearch answers, not \u escapes (and cheaper to encode).
    app.json.ensure_ascii = False
    # First: logs (redacting secrets) before anything can log, and request ids before any
    # other hook, so even a refused request is counted and logged with its id.
    register_observability(app, settings)
    # Then: refuses unsafe settings before anything starts.
    register_security(app, settings)
    register_error_handlers(app)
    register_input_limits(app)
    init_storage(app, settings)
    register_retention_policy(app, settings)
    install_security_checks(app)
    register_blueprints(app)
    register_commands(app)
    register_response_headers(app)
    return app


def register_observability(app: Flask, settings: Config) -> None:
    """ECS or console logs, request ids and metrics (README "Operating it")."""
    from app.about import service_version
    from app.observability import logs, metrics, requests
    from app.observability.shared_dir import shared_directory
    from app.services.shared_cache import SharedCache

    logs.configure(settings, service_version())
    requests.register(app)
    metrics.WORKER_PROCESSES.set(1)
    directory = shared_directory()
    # Figures every worker of one server shares (job counts for metrics, the summary).
    app.extensions["shared_cache"] = SharedCache(directory / "cache" if directory else None)


def register_error_handlers(app: Flask) -> None:
    from app.error_handlers import register_error_handlers as register

    register(app)


def register_security(app: Flask, settings: Config) -> None:
    """Callers' authentication and CORS on the service's own routes (docs/security.md)."""
    from app.auth import register_security as register

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


def register_retention_policy(app: Flask, settings: Config) -> None:
    """The configured retention policy, or None (off); a bad RETENTION_* value stops here.
    The served worker processes run it (app/asgi.py)."""
    from app.services.retention_policy import policy_from_settings

    app.extensions["retention_policy"] = policy_from_settings(settings)


def install_security_checks(app: Flask) -> None:
    """What the auth hooks ask the cluster with (the mode left to it, callers it vouched for)."""
    from app.auth import install_checks

    install_checks(app, app.extensions["connector_storage"])


def register_blueprints(app: Flask) -> None:
    from app.api import connectors, dashboard, extensions, operations, paths, service, sync_jobs

    # Before any route: ids may hold an encoded `/` (app/api/paths.py).
    paths.register(app)
    app.register_blueprint(service.bp)
    app.register_blueprint(operations.bp)
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
