"""Everything that talks to Elasticsearch, one part a module, over one client built here:

- `documents`: the connector and sync-job documents with their concurrency tokens;
- `layout`: the index templates and the indices behind the aliases;
- `cluster`: the root endpoint's information and whether the cluster answers;
- `nodes`: several nodes behind the client, and which failures move on to the next one;
- `forwarding`: requests the service does not answer, sent on unchanged;
- `errors`: client errors translated into the service's exceptions.
"""

from typing import Any

from elasticsearch import Elasticsearch

from app.storage.cluster import Cluster
from app.storage.documents import RecentVersions, Storage, StoredDoc, merged
from app.storage.errors import (
    DocumentMissing,
    IndexLayoutConflict,
    OutcomeUnknown,
    VersionConflict,
)
from app.storage.forwarding import Forwarder, service_authorization
from app.storage.layout import IndexLayout
from app.storage.names import (
    CONCRETE_CONNECTORS_INDEX,
    CONCRETE_INDICES,
    CONCRETE_SYNC_JOBS_INDEX,
    CONNECTORS_INDEX,
    SYNC_JOBS_INDEX,
)
from app.storage.nodes import FailoverNode, node_urls, quiet_retries

__all__ = [
    "CONCRETE_CONNECTORS_INDEX", "CONCRETE_INDICES", "CONCRETE_SYNC_JOBS_INDEX",
    "CONNECTORS_INDEX", "SYNC_JOBS_INDEX", "Cluster", "DocumentMissing", "Forwarder",
    "IndexLayout", "IndexLayoutConflict", "OutcomeUnknown", "RecentVersions", "Storage",
    "StoredDoc", "VersionConflict", "client_options", "connect", "merged",
]

READ_RETRY_STATUSES = (502, 503, 504)
# With sniffing, the cluster may name more nodes than ELASTICSEARCH_URL lists.
SNIFFED_RETRIES = 2
SNIFF_SECONDS = 60.0


def client_options(config) -> dict[str, Any]:
    """The Elasticsearch client's settings for the service's own calls."""
    urls = node_urls(config.ELASTICSEARCH_URL)
    options: dict[str, Any] = {
        "request_timeout": config.ELASTICSEARCH_REQUEST_TIMEOUT,
        "connections_per_node": config.ELASTICSEARCH_MAX_CONNECTIONS,
        # FailoverNode decides what may be tried on the next node (app.storage.nodes): enough
        # attempts to reach every listed node once. Never a timeout. A read answered 502, 503
        # or 504 goes to the next node too (a node cut off from the others answers 503); a
        # write never does (Storage.writer), and 429 is the cluster's: the caller gets it.
        "node_class": FailoverNode,
        "max_retries": max(len(urls) - 1, SNIFFED_RETRIES if config.ELASTICSEARCH_SNIFF else 0),
        "retry_on_timeout": False,
        "retry_on_status": READ_RETRY_STATUSES,
    }
    if config.ELASTICSEARCH_SNIFF:
        # The nodes the cluster names replace the listed ones: at start-up, after a node
        # failed, and at most once a minute.
        options.update(sniff_on_start=True, sniff_on_node_failure=True,
                       min_delay_between_sniffing=SNIFF_SECONDS)
    if config.ELASTICSEARCH_API_KEY:
        options["api_key"] = config.ELASTICSEARCH_API_KEY
    elif config.ELASTICSEARCH_USERNAME:
        options["basic_auth"] = (config.ELASTICSEARCH_USERNAME, config.ELASTICSEARCH_PASSWORD)
    if config.ELASTICSEARCH_CA_CERTS:
        options["ca_certs"] = config.ELASTICSEARCH_CA_CERTS
    if any(url.startswith("https") for url in urls):
        options["verify_certs"] = config.ELASTICSEARCH_VERIFY_CERTS
    return options


def connect(config) -> Storage:
    """The app's one client and the parts built on it, reached from the documents' Storage."""
    quiet_retries()
    client = Elasticsearch(node_urls(config.ELASTICSEARCH_URL), **client_options(config))
    nodes = client.transport.node_pool  # one list of nodes, and of dead ones, for both
    cluster = Cluster(client, nodes, authorization=service_authorization(config))
    return Storage(client, IndexLayout(client), cluster=cluster,
                   forwarder=Forwarder.from_config(config, nodes),
                   conflict_retries=config.CONFLICT_RETRIES)
