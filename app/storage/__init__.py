"""Everything that talks to Elasticsearch, one part a module, over one client built here:

- `documents`: the connector and sync-job documents with their concurrency tokens;
- `layout`: the index templates and the indices behind the aliases;
- `cluster`: the root endpoint's information and whether the cluster answers;
- `nodes`: several nodes behind the client, and which failures move on to the next one;
- `wire`: the client's requests written and their answers read over urllib3's connections;
- `forwarding`: requests the service does not answer, sent on unchanged;
- `security`: the cluster's security API, asked with a caller's own credentials;
- `leases`: one document per periodic task, held by one process at a time;
- `instrumented`: the client and forwarder with the request's ids on every call, counted;
- `errors`: client errors translated into the service's exceptions.
"""

from typing import Any

import urllib3

from app.storage.client_errors import (
    DocumentMissing,
    IndexLayoutConflict,
    OutcomeUnknown,
    VersionConflict,
)
from app.storage.cluster import Cluster
from app.storage.documents import RecentVersions, Storage, StoredDoc
from app.storage.forwarding import Forwarder, service_authorization
from app.storage.instrumented import InstrumentedElasticsearch, InstrumentedForwarder
from app.storage.layout import IndexLayout
from app.storage.leases import Lease, Leases
from app.storage.names import (
    CONCRETE_CONNECTORS_INDEX,
    CONCRETE_INDICES,
    CONCRETE_SYNC_JOBS_INDEX,
    CONNECTORS_INDEX,
    LEASES_INDEX,
    SYNC_JOBS_INDEX,
)
from app.storage.nodes import FailoverNode, node_urls, quiet_retries
from app.storage.security import CallerNotAuthenticated, ClusterSecurity, SecurityDisabled

__all__ = [
    "CONCRETE_CONNECTORS_INDEX", "CONCRETE_INDICES", "CONCRETE_SYNC_JOBS_INDEX",
    "CONNECTORS_INDEX", "LEASES_INDEX", "SYNC_JOBS_INDEX", "CallerNotAuthenticated", "Cluster",
    "ClusterSecurity", "DocumentMissing", "Forwarder", "IndexLayout", "IndexLayoutConflict",
    "Lease", "Leases", "OutcomeUnknown",
    "RecentVersions", "SecurityDisabled", "Storage", "StoredDoc", "VersionConflict",
    "client_options", "connect",
]

READ_RETRY_STATUSES = (502, 503, 504)
# With sniffing, the cluster may name more nodes than ELASTICSEARCH_URL lists.
SNIFFED_RETRIES = 2
SNIFF_SECONDS = 60.0


def client_options(config, *, credentials: bool = True) -> dict[str, Any]:
    """The Elasticsearch client's settings for the service's own calls (without the service's
    credentials when `credentials` is false)."""
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
    if credentials and config.ELASTICSEARCH_API_KEY:
        options["api_key"] = config.ELASTICSEARCH_API_KEY
    elif credentials and config.ELASTICSEARCH_USERNAME:
        options["basic_auth"] = (config.ELASTICSEARCH_USERNAME, config.ELASTICSEARCH_PASSWORD)
    if config.ELASTICSEARCH_CA_CERTS:
        options["ca_certs"] = config.ELASTICSEARCH_CA_CERTS
    if any(url.startswith("https") for url in urls):
        options["verify_certs"] = config.ELASTICSEARCH_VERIFY_CERTS
    return options


def connect(config) -> Storage:
    """The app's one client and the parts built on it, reached from the documents' Storage.

    The security part gets a client of its own that holds no credentials (not even those of
    the URLs' user information), so that a caller is only ever asked about as themselves.
    """
    quiet_retries()
    urls = node_urls(config.ELASTICSEARCH_URL)
    client = InstrumentedElasticsearch(urls, **client_options(config))
    nodes = client.transport.node_pool  # one list of nodes, and of dead ones, for both
    cluster = Cluster(client, nodes, authorization=service_authorization(config))
    anonymous_urls = [urllib3.util.parse_url(url)._replace(auth=None).url for url in urls]
    as_caller = InstrumentedElasticsearch(anonymous_urls,
                                          **client_options(config, credentials=False))
    return Storage(client, IndexLayout(client), cluster=cluster,
                   forwarder=InstrumentedForwarder.from_config(config, nodes),
                   security=ClusterSecurity(as_caller), leases=Leases(client),
                   conflict_retries=config.CONFLICT_RETRIES,
                   max_document_bytes=config.MAX_DOCUMENT_BYTES)
