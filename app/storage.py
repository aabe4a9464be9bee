"""The one module that talks to Elasticsearch: documents with their concurrency tokens,
index templates, and translation of client errors into the service's exceptions."""

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import elasticsearch
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


@dataclass(frozen=True)
class StoredDoc:
    """A document as stored, with the tokens that guard the next write to it."""

    id: str
    source: dict[str, Any]
    seq_no: int
    primary_term: int
    # What the write that produced this version did: "created", "updated" or "noop".
    result: str = ""


class VersionConflict(Conflict):
    """The document changed since it was read: re-read and re-check before writing again."""


class DocumentMissing(Exception):
    """The document disappeared between a read and a write."""


class IndexMissing(Exception):
    pass


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

    def __init__(self, client: Elasticsearch, *, conflict_retries: int = 10,
                 templates_dir: Path = TEMPLATES_DIR):
        self.client = client
        # How often a guarded read-modify-write re-reads after losing a race (app.services.guarded).
        self.conflict_retries = conflict_retries
        self.templates_dir = templates_dir
        self._ready = False
        self._ready_lock = threading.Lock()

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
        return cls(Elasticsearch(config.ELASTICSEARCH_URL, **options),
                   conflict_retries=config.CONFLICT_RETRIES)

    # Documents

    def get(self, index: str, doc_id: str) -> StoredDoc | None:
        """A real-time read by id; None when the document or its index does not exist."""
        try:
            with translated_errors():
                resp = self.client.get(index=index, id=doc_id)
        except (DocumentMissing, IndexMissing):
            return None
        return StoredDoc(resp["_id"], resp["_source"], resp["_seq_no"], resp["_primary_term"])

    def create(self, index: str, source: dict, *, doc_id: str | None = None,
               refresh: bool = False) -> StoredDoc:
        """Indexes a new document (an id is generated when none is given); 409 if the id exists."""
        resp = self._write(lambda: self.client.index(
            index=index, id=doc_id, document=source, op_type="create",
            refresh=refresh, require_alias=True))
        return StoredDoc(resp["_id"], source, resp["_seq_no"], resp["_primary_term"],
                         resp["result"])

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
        try:
            with translated_errors():
                self.client.delete(index=index, id=doc_id, refresh=refresh)
        except (DocumentMissing, IndexMissing):
            return False
        return True

    def search(self, index: str, body: dict) -> tuple[int, list[StoredDoc]]:
        """Runs a search body; returns the total hit count and the hits. A missing index is empty."""
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
        if not self._ready:
            self.ensure_ready()
        try:
            with translated_errors():
                return send()
        except IndexMissing:
            log.warning("connector index missing; reinstalling templates and indices")
            self._ready = False
            self.ensure_ready()
            with translated_errors():
                return send()

    # Cluster

    def cluster_info(self) -> dict:
        """The cluster's name, uuid and version block, as ES's root endpoint gives them."""
        with translated_errors():
            try:
                return dict(self.client.info().body)
            except elasticsearch.ApiError as err:
                if err.meta.status not in (404, 405):
                    raise
            # Distributions without the root endpoint: assemble it from the local node.
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

    def ensure_ready(self) -> None:
        """Installs the templates and creates the indices if needed; cheap once done."""
        with self._ready_lock:
            if self._ready:
                return
            self.install_index_templates()
            self.create_indices()
            self._ready = True

    def install_index_templates(self) -> dict[str, str]:
        """Puts each template whose installed version is missing or lower than ours.

        Returns what happened to each template: "installed", "updated" or "current".
        """
        components, index_templates = load_index_templates(self.templates_dir)
        outcome = {}
        with translated_errors():
            for name, body in components.items():
                installed = self._installed_version(
                    self.client.cluster.get_component_template, "component_templates", name)
                outcome[name] = self._put_if_newer(
                    installed, body, lambda n=name, b=body: self.client.cluster.put_component_template(
                        name=n, body=b))
            for name, body in index_templates.items():
                installed = self._installed_version(
                    self.client.indices.get_index_template, "index_templates", name)
                outcome[name] = self._put_if_newer(
                    installed, body, lambda n=name, b=body: self.client.indices.put_index_template(
                        name=n, body=b))
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
        """Creates each concrete index (its template adds the alias) unless it exists already."""
        created = []
        with translated_errors():
            for alias, concrete in CONCRETE_INDICES.items():
                if self.client.indices.exists(index=alias) or self.client.indices.exists(index=concrete):
                    continue
                try:
                    self.client.indices.create(index=concrete)
                    created.append(concrete)
                except elasticsearch.BadRequestError as err:
                    if _type(err) != "resource_already_exists_exception":
                        raise
        return created

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
                except Exception:  # keep serving; the first write retries
                    log.exception("could not prepare index templates and indices")
                    return

        thread = threading.Thread(target=run, name="install-templates", daemon=True)
        thread.start()
        return thread

    def templates_installed(self) -> bool:
        components, index_templates = load_index_templates(self.templates_dir)
        with translated_errors():
            for name in components:
                if self._installed_version(self.client.cluster.get_component_template,
                                           "component_templates", name) is False:
                    return False
            for name in index_templates:
                if self._installed_version(self.client.indices.get_index_template,
                                           "index_templates", name) is False:
                    return False
        return True
