"""Everything that talks to Elasticsearch, one part a module, over one client built here:

- `documents`: the connector and sync-job documents with their concurrency tokens;
- `layout`: the index templates and the indices behind the aliases;
- `cluster`: the root endpoint's information and whether the cluster answers;
- `forwarding`: requests the service does not answer, sent on unchanged;
- `instrumented`: the client and forwarder with the request's ids on every call, counted;
- `errors`: client errors translated into the service's exceptions.
"""

from typing import Any

from app.storage.cluster import Cluster
from app.storage.documents import RecentVersions, Storage, StoredDoc, merged
from app.storage.errors import DocumentMissing, IndexLayoutConflict, VersionConflict
from app.storage.forwarding import Forwarder
from app.storage.instrumented import InstrumentedElasticsearch, InstrumentedForwarder
from app.storage.layout import IndexLayout
from app.storage.names import (
    CONCRETE_CONNECTORS_INDEX,
    CONCRETE_INDICES,
    CONCRETE_SYNC_JOBS_INDEX,
    CONNECTORS_INDEX,
    SYNC_JOBS_INDEX,
)

__all__ = [
    "CONCRETE_CONNECTORS_INDEX", "CONCRETE_INDICES", "CONCRETE_SYNC_JOBS_INDEX",
    "CONNECTORS_INDEX", "SYNC_JOBS_INDEX", "Cluster", "DocumentMissing", "Forwarder",
    "IndexLayout", "IndexLayoutConflict", "RecentVersions", "Storage", "StoredDoc",
    "VersionConflict", "client_options", "connect", "merged",
]


def client_options(config) -> dict[str, Any]:
    """The Elasticsearch client's settings for the service's own calls."""
    options: dict[str, Any] = {
        "request_timeout": config.ELASTICSEARCH_REQUEST_TIMEOUT,
        "connections_per_node": config.ELASTICSEARCH_MAX_CONNECTIONS,
        # Fail fast: a caller gets a 503 and retries; a create must never be sent twice.
        "max_retries": 0,
        "retry_on_timeout": False,
    }
    if config.ELASTICSEARCH_API_KEY:
        options["api_key"] = config.ELASTICSEARCH_API_KEY
    elif config.ELASTICSEARCH_USERNAME:
        options["basic_auth"] = (config.ELASTICSEARCH_USERNAME, config.ELASTICSEARCH_PASSWORD)
    if config.ELASTICSEARCH_CA_CERTS:
        options["ca_certs"] = config.ELASTICSEARCH_CA_CERTS
    if config.ELASTICSEARCH_URL.startswith("https"):
        options["verify_certs"] = config.ELASTICSEARCH_VERIFY_CERTS
    return options


def connect(config) -> Storage:
    """The app's one client and the parts built on it, reached from the documents' Storage."""
    client = InstrumentedElasticsearch(config.ELASTICSEARCH_URL, **client_options(config))
    return Storage(client, IndexLayout(client), cluster=Cluster(client),
                   forwarder=InstrumentedForwarder.from_config(config),
                   conflict_retries=config.CONFLICT_RETRIES,
                   max_document_bytes=config.MAX_DOCUMENT_BYTES)
