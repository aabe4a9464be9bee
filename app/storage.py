"""The one module that talks to Elasticsearch: documents with their concurrency tokens,
index templates, and translation of client errors into the service's exceptions."""

import base64
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import elasticsearch
import urllib3
from elasticsearch import Elasticsearch

from app.exceptions import Conflict, RestError, StorageUnavailable

log = logging.getLogger(__name__)

CONNECTORS_INDEX = ".elastic-connectors"
CONCRETE_CONNECTORS_INDEX = ".elastic-connectors-v1"
SYNC_JOBS_INDEX = ".elastic-connectors-sync-jobs"
CONCRETE_SYNC_JOBS_INDEX = ".elastic-connectors-sync-jobs-v1"
# Each alias and the concrete index its template creates.
CONCRETE_INDICES = {
    CONNECTORS_INDEX: CONCRETE_CONNECTORS_INDEX,
    SYNC_JOBS_INDEX: CONCRETE_SYNC_JOBS_INDEX,
}
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "index_templates"
CLUSTER_INFO_SECONDS = 300


@dataclass(frozen=True)
class StoredDoc:
    """A document as stored, with the tokens that guard the next write to it."""

    id: str
    source: dict[str, Any]
    seq_no: int
    primary_term: int
    # What the write that produced this version did: "created", "updated" or "noop".
    result: str = ""


class RecentVersions:
    """Documents as this process last read or wrote them, with their version tokens, so that a
    guarded update can try them first and skip a read. Only an optimisation: a write against
    remembered tokens is still guarded, and fails if anyone changed the document since.
    Bounded: the least recently used entries are dropped past `maxsize`."""

    def __init__(self, maxsize: int = 4096):
        self.maxsize = maxsize
        self._docs: OrderedDict[tuple[str, str], StoredDoc] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, index: str, doc_id: str) -> StoredDoc | None:
        with self._lock:
            doc = self._docs.get((index, doc_id))
            if doc is not None:
                self._docs.move_to_end((index, doc_id))
            return doc

    def remember(self, index: str, doc: StoredDoc) -> None:
        with self._lock:
            self._docs[(index, doc.id)] = doc
            self._docs.move_to_end((index, doc.id))
            while len(self._docs) > self.maxsize:
                self._docs.popitem(last=False)

    def forget(self, index: str, doc_id: str) -> None:
        with self._lock:
            self._docs.pop((index, doc_id), None)


def merged(source: dict, partial: dict) -> dict:
    """`source` after a partial update with `partial`, merged as Elasticsearch merges it:
    objects key by key, anything else replaced."""
    result = dict(source)
    for key, value in partial.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


class VersionConflict(Conflict):
    """The document changed since it was read: re-read and re-check before writing again."""


class DocumentMissing(Exception):
    """The document disappeared between a read and a write."""


class IndexMissing(Exception):
    pass


class IndexLayoutConflict(RestError):
    """The cluster holds our index names in a shape the service cannot safely write to."""

    status = 500
    error_type = "illegal_state_exception"


def template_properties(directory: Path = TEMPLATES_DIR) -> dict[str, dict]:
    """The mapped properties each alias must have, from the component templates that add it."""
    components, _ = load_index_templates(directory)
    wanted = {}
    for body in components.values():
        template = body.get("template", {})
        for alias in template.get("aliases", {}):
            wanted[alias] = template.get("mappings", {}).get("properties", {})
    return wanted


def flatten_properties(properties: dict, prefix: str = "") -> dict[str, str]:
    """`{"a": {"properties": {"b": {"type": "date"}}}}` -> `{"a": "object", "a.b": "date"}`."""
    flat = {}
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        flat[path] = spec.get("type", "object")
        flat.update(flatten_properties(spec.get("properties", {}), f"{path}."))
    return flat


def load_index_templates(directory: Path = TEMPLATES_DIR) -> tuple[dict, dict]:
    """Component and index templates from `index_templates/`, keyed by name (the file stem).

    A file with `index_patterns` is an index template; any other is a component template.
    """
    components, index_templates = {}, {}
    for path in sorted(directory.glob("*.json")):
        body = json.loads(path.read_text())
        (index_templates if "index_patterns" in body else components)[path.stem] = body
    return components, index_templates


@contextmanager
def translated_errors() -> Iterator[None]:
    """Turns client errors into the service's exceptions, in this one place."""
    try:
        yield
    except elasticsearch.ConflictError as err:
        raise VersionConflict(_reason(err), error_type=_type(err)) from err
    except elasticsearch.NotFoundError as err:
        if _type(err) == "index_not_found_exception":
            raise IndexMissing(_reason(err)) from err
        raise DocumentMissing(_reason(err)) from err
    except (elasticsearch.ConnectionError, elasticsearch.ConnectionTimeout) as err:
        raise StorageUnavailable(f"Elasticsearch is unavailable: {type(err).__name__}") from err
    except elasticsearch.ApiError as err:
        if err.meta.status in (502, 503, 504):
            raise StorageUnavailable(f"Elasticsearch answered {err.meta.status}: {_reason(err)}") from err
        raise RestError(_reason(err), error_type=_type(err), status=err.meta.status) from err


def _error_body(err: elasticsearch.ApiError) -> dict:
    body = err.body if isinstance(err.body, dict) else {}
    return body.get("error") if isinstance(body.get("error"), dict) else {}


def _type(err: elasticsearch.ApiError) -> str:
    return _error_body(err).get("type", "exception")


def _reason(err: elasticsearch.ApiError) -> str:
    return _error_body(err).get("reason") or str(err.message)


class Storage:
    """Document operations on the connector indices. Every update is guarded."""

    def __init__(self, client: Elasticsearch, *, conflict_retries: int = 32,
                 templates_dir: Path = TEMPLATES_DIR):
        self.client = client
        # How often a guarded read-modify-write re-reads after losing a race (app.services.guarded).
        self.conflict_retries = conflict_retries
        self.templates_dir = templates_dir
        self._ready = False
        self._ready_lock = threading.Lock()
        self._cluster_info: tuple[float, dict] | None = None
        self.recent = RecentVersions()
        self._root_endpoint: bool | None = None  # whether the cluster answers GET /

    @classmethod
    def from_config(cls, config) -> "Storage":
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
        storage = cls(Elasticsearch(config.ELASTICSEARCH_URL, **options),
                      conflict_retries=config.CONFLICT_RETRIES)
        # Its own pool for forwarded requests (the "Forwarding" section at the end of this file).
        storage.forwarder = Forwarder.from_config(config)
        return storage

    # Documents

    def get(self, index: str, doc_id: str) -> StoredDoc | None:
        """A real-time read by id; None when the document or its index does not exist."""
        self._check_ready()
        try:
            with translated_errors():
                resp = self.client.get(index=index, id=doc_id)
        except (DocumentMissing, IndexMissing):
            self.recent.forget(index, doc_id)
            return None
        doc = StoredDoc(resp["_id"], resp["_source"], resp["_seq_no"], resp["_primary_term"])
        self.recent.remember(index, doc)
        return doc

    def create(self, index: str, source: dict, *, doc_id: str | None = None,
               refresh: bool = False) -> StoredDoc:
        """Indexes a new document (an id is generated when none is given); 409 if the id exists."""
        resp = self._write(lambda: self.client.index(
            index=index, id=doc_id, document=source, op_type="create",
            refresh=refresh, require_alias=True))
        doc = StoredDoc(resp["_id"], source, resp["_seq_no"], resp["_primary_term"], resp["result"])
        self.recent.remember(index, doc)
        return doc

    def replace(self, index: str, doc_id: str, source: dict, *, seq_no: int, primary_term: int,
                refresh: bool = False) -> StoredDoc:
        """Overwrites a whole document, guarded by the tokens of the version that was read."""
        resp = self._write(lambda: self.client.index(
            index=index, id=doc_id, document=source, if_seq_no=seq_no,
            if_primary_term=primary_term, refresh=refresh, require_alias=True))
        return StoredDoc(resp["_id"], source, resp["_seq_no"], resp["_primary_term"],
                         resp["result"])

    def update(self, index: str, doc_id: str, partial: dict, *, seq_no: int, primary_term: int,
               refresh: bool = False) -> StoredDoc:
        """Merges `partial` into the document, only if it is still at (`seq_no`, `primary_term`).

        Raises VersionConflict when it changed since, DocumentMissing when it is gone. The
        returned StoredDoc carries the new tokens and only the partial source.
        """
        try:
            resp = self._write(lambda: self.client.update(
                index=index, id=doc_id, doc=partial, if_seq_no=seq_no,
                if_primary_term=primary_term, refresh=refresh, require_alias=True))
        except IndexMissing as err:
            raise DocumentMissing(str(err)) from err
        return StoredDoc(resp["_id"], partial, resp["_seq_no"], resp["_primary_term"],
                         resp["result"])

    def delete(self, index: str, doc_id: str, *, refresh: bool = False) -> bool:
        """Deletes a document; False when it (or its index) did not exist."""
        self.recent.forget(index, doc_id)
        try:
            with translated_errors():
                self.client.delete(index=index, id=doc_id, refresh=refresh)
        except (DocumentMissing, IndexMissing):
            return False
        return True

    def delete_many(self, index: str, doc_ids: list[str], *, refresh: bool = False) -> int:
        """Deletes documents by id in one bulk request; returns how many existed.

        A document already gone is not an error; any other failed item raises RestError.
        """
        if not doc_ids:
            return 0
        with translated_errors():
            resp = self.client.bulk(
                operations=[{"delete": {"_index": index, "_id": doc_id}} for doc_id in doc_ids],
                refresh=refresh)
        deleted = 0
        for item in resp["items"]:
            outcome = item["delete"]
            if outcome.get("result") == "deleted":
                deleted += 1
            elif outcome.get("status") != 404:
                error = outcome.get("error") or {}
                raise RestError(error.get("reason", "bulk delete failed"),
                                error_type=error.get("type", "exception"),
                                status=outcome.get("status", 500))
        return deleted

    def search(self, index: str, body: dict) -> tuple[int, list[StoredDoc]]:
        """Runs a search body; returns the total hit count and the hits. A missing index is empty."""
        self._check_ready()
        try:
            with translated_errors():
                resp = self.client.search(index=index, body={
                    **body, "track_total_hits": True, "seq_no_primary_term": True})
        except IndexMissing:
            return 0, []
        hits = [StoredDoc(h["_id"], h["_source"], h.get("_seq_no", -1), h.get("_primary_term", -1))
                for h in resp["hits"]["hits"]]
        return resp["hits"]["total"]["value"], hits

    def aggregate(self, index: str, body: dict) -> dict:
        """Runs a size-0 search and returns its aggregations (empty when the index is missing)."""
        try:
            with translated_errors():
                resp = self.client.search(index=index, body={**body, "size": 0})
        except IndexMissing:
            return {}
        return resp.body.get("aggregations", {})

    def refresh(self, index: str) -> None:
        try:
            with translated_errors():
                self.client.indices.refresh(index=index)
        except IndexMissing:
            pass

    def _write(self, send):
        """Sends a write; if our index is missing, reinstalls templates and indices, then resends.

        Writes go through the alias with require_alias, so a missing index is an error instead
        of an unmapped index auto-created under the alias name.
        """
        self._check_ready()
        try:
            with translated_errors():
                return send()
        except IndexMissing:
            log.warning("connector index missing; reinstalling templates and indices")
            self._ready = False
            # Versions remembered from the old index mean nothing in the new one.
            self.recent = RecentVersions()
            self.ensure_ready()
            with translated_errors():
                return send()

    # Cluster

    def cluster_info(self) -> dict:
        """The cluster's name, uuid and version block, as ES's root endpoint gives them.

        Cached for CLUSTER_INFO_SECONDS: workers ask at start-up and the version rarely changes.
        """
        cached = self._cluster_info
        if cached and time.monotonic() - cached[0] < CLUSTER_INFO_SECONDS:
            return cached[1]
        with translated_errors():
            info = self._root_info() if self._root_endpoint is not False else None
            if info is None:
                info = self._local_node_info()
        self._cluster_info = (time.monotonic(), info)
        return info

    def _root_info(self) -> dict | None:
        try:
            info = dict(self.client.info().body)
        except elasticsearch.ApiError as err:
            if err.meta.status not in (404, 405):
                raise
            self._root_endpoint = False  # a distribution without it: don't ask again
            return None
        self._root_endpoint = True
        return info

    def _local_node_info(self) -> dict:
        """The root endpoint's answer assembled from the local node's info."""
        nodes = self.client.nodes.info(node_id="_local", metric="_none").body
        node = next(iter(nodes["nodes"].values()))
        state = self.client.cluster.state(metric="metadata", filter_path="metadata.cluster_uuid")
        return {
            "name": node["name"],
            "cluster_name": nodes["cluster_name"],
            "cluster_uuid": state.body["metadata"]["cluster_uuid"],
            "version": {
                "number": node["version"],
                "build_flavor": node.get("build_flavor", "default"),
                "build_type": node.get("build_type", ""),
                "build_hash": node.get("build_hash", ""),
            },
        }

    def ping(self) -> bool:
        try:
            with translated_errors():
                self.client.cluster.health(timeout="1s")
        except (StorageUnavailable, RestError):
            return False
        return True

    # Templates and indices

    def _check_ready(self) -> None:
        """Before the first use, makes sure our templates and indices are in place and usable."""
        if not self._ready:
            self.ensure_ready()

    def ensure_ready(self) -> None:
        """Installs the templates and creates the indices if needed; cheap once done."""
        with self._ready_lock:
            if self._ready:
                return
            # First: ES refuses our templates while an index squats on an alias name.
            self._refuse_squatters()
            self.install_index_templates()
            self.create_indices()
            self._ready = True

    def _template_kinds(self):
        """Component templates first (index templates are composed of them): for each kind,
        the templates of index_templates/, how to read one installed and how to put one."""
        components, index_templates = load_index_templates(self.templates_dir)
        cluster, indices = self.client.cluster, self.client.indices
        return [(components, cluster.get_component_template, "component_templates",
                 cluster.put_component_template),
                (index_templates, indices.get_index_template, "index_templates",
                 indices.put_index_template)]

    def install_index_templates(self) -> dict[str, str]:
        """Puts each template whose installed version is missing or lower than ours.

        Returns what happened to each template: "installed", "updated" or "current".
        """
        outcome = {}
        with translated_errors():
            for templates, get, key, put in self._template_kinds():
                for name, body in templates.items():
                    installed = self._installed_version(get, key, name)
                    outcome[name] = self._put_if_newer(
                        installed, body, lambda n=name, b=body, p=put: p(name=n, body=b))
        return outcome

    @staticmethod
    def _installed_version(getter, key: str, name: str) -> int | None | bool:
        """The installed template's version; None if it has none; False if it is not installed."""
        try:
            found = getter(name=name)
        except elasticsearch.NotFoundError:
            return False
        template = found[key][0]
        inner = template.get("component_template") or template.get("index_template") or {}
        return inner.get("version")

    @staticmethod
    def _put_if_newer(installed, body: dict, put) -> str:
        if installed is not False and installed is not None and installed >= body.get("version", 0):
            return "current"
        put()
        return "installed" if installed is False else "updated"

    def create_indices(self) -> list[str]:
        """Makes each alias lead to its concrete index: creates the index when missing, adopts a
        compatible one that someone else created (the connectors framework or ES's built-in
        plugin create the same names), and refuses a layout it cannot write to safely."""
        created = []
        wanted = template_properties(self.templates_dir)
        with translated_errors():
            for alias, concrete in CONCRETE_INDICES.items():
                existing = self._indices_named(alias, concrete)
                strangers = sorted(set(existing) - {concrete})
                if strangers:
                    raise IndexLayoutConflict(
                        f"the alias [{alias}] leads to {strangers}, not to [{concrete}]: remove "
                        "it from those indices, then restart the service.")
                if concrete not in existing:
                    self._create_index(concrete, created)
                else:
                    self._adopt_index(alias, concrete, existing[concrete], wanted[alias])
        return created

    def _indices_named(self, alias: str, concrete: str) -> dict:
        """The indices reached by either name, keyed by concrete name."""
        return self.client.indices.get(index=[alias, concrete], ignore_unavailable=True,
                                       allow_no_indices=True, expand_wildcards="all").body

    def _refuse_squatters(self) -> None:
        with translated_errors():
            for alias, concrete in CONCRETE_INDICES.items():
                if alias in self._indices_named(alias, concrete):
                    raise IndexLayoutConflict(
                        f"[{alias}] is a concrete index, but this service needs that name as the "
                        f"alias of [{concrete}]. Move its documents to [{concrete}] (reindex) and "
                        f"delete [{alias}], then restart the service.")

    def _create_index(self, concrete: str, created: list[str]) -> None:
        try:
            self.client.indices.create(index=concrete)
            created.append(concrete)
        except elasticsearch.BadRequestError as err:
            if _type(err) != "resource_already_exists_exception":
                raise

    def _adopt_index(self, alias: str, concrete: str, found: dict, wanted: dict) -> None:
        """Shares an existing concrete index: same field types required; missing fields, the
        alias and the hidden flag are added (nothing already there is changed)."""
        present = flatten_properties(found.get("mappings", {}).get("properties", {}))
        conflicts = sorted(f"{field} is [{present[field]}], needs [{kind}]"
                           for field, kind in flatten_properties(wanted).items()
                           if field in present and present[field] != kind)
        if conflicts:
            raise IndexLayoutConflict(
                f"the existing index [{concrete}] maps fields differently from the connector "
                f"indices ({'; '.join(conflicts)}). Reindex it into an index with the mappings "
                "of index_templates/, or delete it, then restart the service.")
        if any(field not in present for field in flatten_properties(wanted)):
            self.client.indices.put_mapping(index=concrete, properties=wanted, dynamic="false")
        if alias not in found.get("aliases", {}):
            self.client.indices.put_alias(index=concrete, name=alias)
        if found.get("settings", {}).get("index", {}).get("hidden") != "true":
            self.client.indices.put_settings(index=concrete, settings={"index.hidden": True})

    def install_in_background(self, attempts: int = 60, delay: float = 2.0) -> threading.Thread:
        """Prepares templates and indices at start-up without blocking it, retrying while ES is down."""

        def run():
            for _ in range(attempts):
                try:
                    self.ensure_ready()
                    log.info("index templates and indices are ready")
                    return
                except StorageUnavailable:
                    time.sleep(delay)
                except IndexLayoutConflict as conflict:
                    log.error("connector indices cannot be used: %s", conflict.reason)
                    return
                except Exception:  # keep serving; the first write retries
                    log.exception("could not prepare index templates and indices")
                    return

        thread = threading.Thread(target=run, name="install-templates", daemon=True)
        thread.start()
        return thread

    def templates_installed(self) -> bool:
        with translated_errors():
            return all(self._installed_version(get, key, name) is not False
                       for templates, get, key, _ in self._template_kinds() for name in templates)


# Forwarding
#
# What the service does not answer itself reaches Elasticsearch unchanged (app.api.forwarding).
# Plain HTTP over one urllib3 pool, not the client above: bodies and answers are streamed as
# bytes and never parsed, and Elasticsearch authorizes each request with the caller's own
# credentials.

# Headers that belong to one connection, not to the request (RFC 9110, 7.6.1).
HOP_BY_HOP_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade"})
# Framing the forwarder sets itself for its own connection to Elasticsearch.
FRAMING_HEADERS = frozenset({"host", "content-length", "expect"})
FORWARD_CHUNK_BYTES = 64 * 1024


def connection_headers(headers: list[tuple[str, str]]) -> set[str]:
    """Lower-case names that apply to this connection only, with any its `Connection` lists."""
    names = set(HOP_BY_HOP_HEADERS)
    for name, value in headers:
        if name.lower() == "connection":
            names.update(token.strip().lower() for token in value.split(",") if token.strip())
    return names


def forwarded_request_headers(headers, *, service_authorization: str | None = None
                              ) -> list[tuple[str, str]]:
    """The caller's headers as Elasticsearch receives them: every end-to-end header unchanged,
    `Authorization` included; hop-by-hop and framing headers dropped.

    With `service_authorization` (FORWARD_WITH_SERVICE_CREDENTIALS), the service's own
    credentials replace the caller's.
    """
    headers = list(headers)
    dropped = connection_headers(headers) | FRAMING_HEADERS
    if service_authorization:
        dropped.add("authorization")
    kept = [(name, value) for name, value in headers if name.lower() not in dropped]
    if service_authorization:
        kept.append(("Authorization", service_authorization))
    return kept


def forwarded_response_headers(headers) -> list[tuple[str, str]]:
    """Elasticsearch's headers as the caller receives them: all but the hop-by-hop ones
    (Content-Type, Content-Encoding, Content-Length, Warning, X-Elastic-Product, ...)."""
    headers = list(headers)
    dropped = connection_headers(headers)
    return [(name, value) for name, value in headers if name.lower() not in dropped]


def service_authorization(config) -> str | None:
    """The `Authorization` value of the service's own Elasticsearch credentials, if it has any."""
    if config.ELASTICSEARCH_API_KEY:
        return f"ApiKey {config.ELASTICSEARCH_API_KEY}"
    user, password = config.ELASTICSEARCH_USERNAME, config.ELASTICSEARCH_PASSWORD
    if not user:
        userinfo = urllib3.util.parse_url(config.ELASTICSEARCH_URL).auth or ""
        user, _, password = (unquote(part) for part in userinfo.partition(":"))
    if user:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return None


class ForwardedResponse:
    """Elasticsearch's answer: status and headers at once, the body as it arrives."""

    def __init__(self, upstream: urllib3.BaseHTTPResponse):
        self.status = upstream.status
        self.headers = forwarded_response_headers(upstream.headers.items())
        self._upstream = upstream
        self._finished = False

    def chunks(self) -> Iterator[bytes]:
        """The body's bytes exactly as sent (still compressed if Elasticsearch compressed it)."""
        yield from self._upstream.stream(FORWARD_CHUNK_BYTES, decode_content=False)
        self._finished = True

    def close(self) -> None:
        """Returns the connection to the pool; drops it instead if the body was left unread."""
        if not self._finished:
            if self._upstream.length_remaining == 0:
                self._upstream.drain_conn()
            else:
                self._upstream.close()
        self._upstream.release_conn()


class Forwarder:
    """Sends a caller's request to Elasticsearch over pooled connections, body streamed."""

    def __init__(self, url: str, *, connect_timeout: float, read_timeout: float,
                 max_connections: int = 10, ca_certs: str = "", verify_certs: bool = True,
                 service_authorization: str | None = None):
        parsed = urllib3.util.parse_url(url)
        self.base_path = (parsed.path or "").rstrip("/")
        tls = {}
        if parsed.scheme == "https":
            tls = {"cert_reqs": "CERT_REQUIRED" if verify_certs else "CERT_NONE"}
            if ca_certs:
                tls["ca_certs"] = ca_certs
        origin = parsed._replace(auth=None, path=None, query=None, fragment=None).url
        # block=False: a burst opens extra connections rather than queueing callers.
        self.pool = urllib3.connection_from_url(origin, maxsize=max_connections, block=False, **tls)
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self.service_authorization = service_authorization

    @classmethod
    def from_config(cls, config) -> "Forwarder":
        lend = config.FORWARD_WITH_SERVICE_CREDENTIALS
        return cls(config.ELASTICSEARCH_URL, connect_timeout=config.ELASTICSEARCH_REQUEST_TIMEOUT,
                   read_timeout=config.FORWARD_REQUEST_TIMEOUT,
                   max_connections=config.ELASTICSEARCH_MAX_CONNECTIONS,
                   ca_certs=config.ELASTICSEARCH_CA_CERTS,
                   verify_certs=config.ELASTICSEARCH_VERIFY_CERTS,
                   service_authorization=service_authorization(config) if lend else None)

    def forward(self, method: str, path: str, query: str, headers, body=None,
                content_length: int | None = None) -> ForwardedResponse:
        """Sends one request: `path` and `query` as the caller wrote them (still encoded),
        `body` a readable stream or None, sent with `content_length` or else chunked.

        Raises StorageUnavailable when Elasticsearch cannot be reached or does not answer in
        time; any answer it gives, errors included, is returned as it is.
        """
        outgoing = urllib3.HTTPHeaderDict()
        for name, value in forwarded_request_headers(
                headers, service_authorization=self.service_authorization):
            outgoing.add(name, value)
        if body is not None and content_length is not None:
            outgoing["Content-Length"] = str(content_length)
        target = self.base_path + path + (f"?{query}" if query else "")
        # Never sent twice: a write may have reached Elasticsearch, and a body is a stream read
        # once. A pooled connection found closed is replaced before sending; any other failure
        # is a 503, which callers retry (the connectors worker does).
        try:
            upstream = self.pool.urlopen(
                method, target, body=body, headers=outgoing, retries=False, redirect=False,
                timeout=self.timeout, preload_content=False, decode_content=False,
                release_conn=False)
        except urllib3.exceptions.HTTPError as err:
            cause = getattr(err, "reason", None) or err
            log.warning("forwarding %s %s failed: %s", method, path, cause)
            raise StorageUnavailable(
                f"Elasticsearch is unavailable: {type(cause).__name__}") from err
        return ForwardedResponse(upstream)
