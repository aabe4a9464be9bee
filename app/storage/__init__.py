"""Everything that talks to Elasticsearch, one part a module, over one client built here:

- `documents`: the connector and sync-job documents with their concurrency tokens;
- `layout`: the index templates and the indices behind the aliases;
- `cluster`: the root endpoint's information and whether the cluster answers;
- `forwarding`: requests the service does not answer, sent on unchanged;
- `security`: the cluster's security API, asked with a caller's own credentials;
- `instrumented`: the client and forwarder with the request's ids on every call, counted;
- `errors`: client errors translated into the service's exceptions.
"""

from typing import Any

import urllib3

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
from app.storage.security import CallerNotAuthenticated, ClusterSecurity, SecurityDisabled

__all__ = [
    "CONCRETE_CONNECTORS_INDEX", "CONCRETE_INDICES", "CONCRETE_SYNC_JOBS_INDEX",
    "CONNECTORS_INDEX", "SYNC_JOBS_INDEX", "CallerNotAuthenticated", "Cluster", "ClusterSecurity",
    "DocumentMissing", "Forwarder", "IndexLayout", "IndexLayoutConflict", "RecentVersions",
    "SecurityDisabled", "Storage", "StoredDoc", "VersionConflict", "client_options", "connect",
    "merged",
]


def client_options(config, *, credentials: bool = True) -> dict[str, Any]:
    """The Elasticsearch client's settings for the service's own calls (without the service's
    credentials when `credentials` is false)."""
    options: dict[str, Any] = {
        "request_timeout": config.ELASTICSEARCH_REQUEST_TIMEOUT,
        "connections_per_node": config.ELASTICSEARCH_MAX_CONNECTIONS,
        # Fail fast: a caller gets a 503 and retries; a create must never be sent twice.
        "max_retries": 0,
        "retry_on_timeout": False,
    }
    if credentials and config.ELASTICSEARCH_API_KEY:
        options["api_key"] = config.ELASTICSEARCH_API_KEY
    elif credentials and config.ELASTICSEARCH_USERNAME:
        options["basic_auth"] = (config.ELASTICSEARCH_USERNAME, config.ELASTICSEARCH_PASSWORD)
    if config.ELASTICSEARCH_CA_CERTS:
        options["ca_certs"] = config.ELASTICSEARCH_CA_CERTS
    if config.ELASTICSEARCH_URL.startswith("https"):
        options["verify_certs"] = config.ELASTICSEARCH_VERIFY_CERTS
    return options


def connect(config) -> Storage:
    """The app's one client and the parts built on it, reached from the documents' Storage.

    The security part gets a client of its own that holds no credentials (not even those of
    the URL's user information), so that a caller is only ever asked about as themselves.
    """
    client = InstrumentedElasticsearch(config.ELASTICSEARCH_URL, **client_options(config))
    anonymous_url = urllib3.util.parse_url(config.ELASTICSEARCH_URL)._replace(auth=None).url
    as_caller = InstrumentedElasticsearch(anonymous_url, **client_options(config, credentials=False))
    return Storage(client, IndexLayout(client), cluster=Cluster(client),
                   forwarder=InstrumentedForwarder.from_config(config),
                   security=ClusterSecurity(as_caller), conflict_retries=config.CONFLICT_RETRIES,
                   max_document_bytes=config.MAX_DOCUMENT_BYTES)
