"""The service in other projects' integration tests: testcontainers containers for the service
and for an Elasticsearch node of its own, and pytest fixtures over them (`pytest_plugin`).

Needs the `testing` extra (`pip install "connector-sync-jobs[testing]"`) and a Docker engine.
README "Use it in your integration tests" has a complete example.
"""

from app.testing.containers import (
    DEFAULT_ELASTICSEARCH_VERSION,
    ConnectorSyncJobsContainer,
    ContainerStartError,
    ElasticsearchContainer,
    default_service_image,
)

__all__ = [
    "DEFAULT_ELASTICSEARCH_VERSION",
    "ConnectorSyncJobsContainer",
    "ContainerStartError",
    "ElasticsearchContainer",
    "default_service_image",
]
