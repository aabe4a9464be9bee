"""Documents of the connector indices with their concurrency tokens. Every update is guarded."""

import base64
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from elasticsearch import Elasticsearch

from app.exceptions import RestError
from app.observability import context
from app.storage.client_errors import (
    DocumentMissing,
    IndexMissing,
    OutcomeUnknown,
    VersionConflict,
    translated_errors,
)
from app.storage.cluster import Cluster
from app.storage.forwarding import Forwarder
from app.storage.layout import IndexLayout
from app.storage.leases import Leases
from app.storage.loop_writes import LoopWrites
from app.storage.security import ClusterSecurity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredDoc:
    """A document as stored, with the tokens that guard the next write to it."""

    id: str
    source: dict[str, Any]
    seq_no: int
    primary_term: int
    # What the write that produced this version did: "created", "updated" or "noop".
    result: str = ""


def new_document_id() -> str:
    """A random id shaped as Elasticsearch's own: 20 URL-safe base64 characters (120 bits),
    never starting with `_` or `-`."""
    while True:
        doc_id = base64.urlsafe_b64encode(os.urandom(15)).decode("ascii")
        if doc_id[0] not in "_-":
            return doc_id


def stored_hit(hit: dict) -> StoredDoc:
    """A search hit with its tokens (asked for with `seq_no_primary_term`); its source, if any."""
    return StoredDoc(hit["_id"], hit.get("_source", {}), hit.get("_seq_no", -1),
                     hit.get("_primary_term", -1))


def bulk_item_error(outcome: dict) -> RestError:
    error = outcome.get("error") or {}
    return RestError(error.get("reason", "bulk request failed"),
                     error_type=error.get("type", "exception"), status=outcome.get("status", 500))


class RecentVersions:
    """Documents as this process last read or wrote them, with their version tokens, so that a
    guarded update can try them first and skip a read. Only an optimisation: a write against
    remembered tokens is still guarded, and fails if anyone changed the document since.
    Bounded: the least recently used entries are dropped past `maxsize`. Request threads share
    it, and cachetools' caches are not thread-safe: every access holds the lock."""

    def __init__(self, maxsize: int = 4096):
        self._docs: LRUCache[tuple[str, str], StoredDoc] = LRUCache(maxsize=maxsize)
        self._lock = threading.Lock()

    def get(self, index: str, doc_id: str) -> StoredDoc | None:
        with self._lock:
            return self._docs.get((index, doc_id))

    def remember(self, index: str, doc: StoredDoc) -> None:
        with self._lock:
            self._docs[(index, doc.id)] = doc

    def forget(self, index: str, doc_id: str) -> None:
        with self._lock:
            self._docs.pop((index, doc_id), None)


class Storage:
    """Document operations on the connector indices, and the parts of the cluster beside them.

    `layout` keeps the templates and indices in place, `cluster` answers for the cluster as a
    whole, `forwarder` sends what the service does not answer itself, `security` asks the
    cluster about a caller, `leases` lets one process at a time run a periodic task; each is
    built once per app by `app.storage.connect`.
    """

    def __init__(self, client: Elasticsearch, layout: IndexLayout, *, cluster: Cluster | None = None,
                 forwarder: Forwarder | None = None, security: ClusterSecurity | None = None,
                 leases: Leases | None = None, conflict_retries: int = 32,
                 max_document_bytes: int = 8 * 1_048_576):
        self.client = client
        # Writes are never sent to the next node on a 502/503/504 (app.storage.nodes): behind
        # a proxy such an answer may come after the write went through.
        self.writer = client.options(retry_on_status=())
        self.layout = layout
        self.cluster = cluster
        self.forwarder = forwarder
        self.security = security
        self.leases = leases
        # How often a guarded read-modify-write re-reads after losing a race (app.services.guarded).
        self.conflict_retries = conflict_retries
        # How large a document the service's own writes may make (app.services.bounds).
        self.max_document_bytes = max_document_bytes
        self.recent = RecentVersions()
        self.loop_writes = LoopWrites(self.writer)

    # Documents

    def get(self, index: str, doc_id: str) -> StoredDoc | None:
        """A real-time read by id; None when the document or its index does not exist."""
        self._check_ready()
        try:
            with translated_errors():
                settled = context.take_settled("get", index, doc_id)
                if settled is None:
                    resp = self.client.get(index=index, id=doc_id)
                elif settled.failure is not None:  # read on the event loop: meet its outcome
                    raise settled.failure
                else:
                    resp = settled.answer
        except (DocumentMissing, IndexMissing):
            self.recent.forget(index, doc_id)
            return None
        doc = StoredDoc(resp["_id"], resp["_source"], resp["_seq_no"], resp["_primary_term"])
        self.recent.remember(index, doc)
        return doc

    def create(self, index: str, source: dict, *, doc_id: str | None = None,
               refresh: bool = False) -> StoredDoc:
        """Indexes a new document; 409 if the id exists.

        Without `doc_id` the id is generated here rather than by Elasticsearch: no one else
        knows it, so a conflict on it can only be this very write, applied once already (when
        a primary fails mid-write, Elasticsearch retries the write on the promoted replica,
        which may hold it), and a create whose answer was lost with its node can be sent once
        more, to the next node, without ever making a second job. A given id may be anyone's:
        its conflict is a 409 and its lost answer a 503.
        """
        if doc_id is not None:
            return self._create(index, doc_id, source, refresh)
        doc_id = new_document_id()
        try:
            try:
                return self._create(index, doc_id, source, refresh)
            except OutcomeUnknown:
                log.warning("the answer to creating [%s] was lost; sending it again", doc_id)
                return self._create(index, doc_id, source, refresh)
        except VersionConflict:
            landed = self.get(index, doc_id)
            if landed is None:  # deleted in between: it was created all the same
                landed = StoredDoc(doc_id, source, -1, -1)
            if refresh:
                self.refresh(index)
            return StoredDoc(doc_id, source, landed.seq_no, landed.primary_term, "created")

    def _create(self, index: str, doc_id: str, source: dict, refresh: bool) -> StoredDoc:
        resp = self._write(lambda: self.writer.index(
            index=index, id=doc_id, document=source, op_type="create", refresh=refresh,
            require_alias=True))
        doc = StoredDoc(resp["_id"], source, resp["_seq_no"], resp["_primary_term"], resp["result"])
        self.recent.remember(index, doc)
        return doc

    def replace(self, index: str, doc_id: str, source: dict, *, seq_no: int, primary_term: int,
                refresh: bool = False) -> StoredDoc:
        """Overwrites a whole document, guarded by the tokens of the version that was read."""
        resp = self._write(lambda: self.writer.index(
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
        def send():
            settled = context.take_settled("update", index, doc_id)
            if settled is not None:  # sent already, from the event loop: meet its outcome
                raise settled.failure
            return self.writer.update(
                index=index, id=doc_id, doc=partial, if_seq_no=seq_no,
                if_primary_term=primary_term, refresh=refresh, require_alias=True)

        try:
            resp = self._write(send)
        except IndexMissing as err:
            raise DocumentMissing(str(err)) from err
        return StoredDoc(resp["_id"], partial, resp["_seq_no"], resp["_primary_term"],
                         resp["result"])

    def delete(self, index: str, doc_id: str, *, refresh: bool = False) -> bool:
        """Deletes a document; False when it (or its index) did not exist."""
        self.recent.forget(index, doc_id)
        try:
            with translated_errors():
                self.writer.delete(index=index, id=doc_id, refresh=refresh)
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
            resp = self.writer.bulk(
                operations=[{"delete": {"_index": index, "_id": doc_id}} for doc_id in doc_ids],
                refresh=refresh)
        deleted = 0
        for item in resp["items"]:
            outcome = item["delete"]
            if outcome.get("result") == "deleted":
                deleted += 1
            elif outcome.get("status") != 404:
                raise bulk_item_error(outcome)
        return deleted

    def delete_guarded(self, index: str, docs: list[StoredDoc]) -> tuple[int, int]:
        """Deletes documents in one bulk request, each only if still at the version it was read
        at (its `seq_no` and `primary_term`); returns (deleted, skipped). A document changed or
        deleted since is skipped; any other failed item raises RestError."""
        if not docs:
            return 0, 0
        for doc in docs:
            self.recent.forget(index, doc.id)
        with translated_errors():
            resp = self.writer.bulk(operations=[
                {"delete": {"_index": index, "_id": doc.id, "if_seq_no": doc.seq_no,
                            "if_primary_term": doc.primary_term}} for doc in docs])
        deleted = skipped = 0
        for item in resp["items"]:
            outcome = item["delete"]
            if outcome.get("result") == "deleted":
                deleted += 1
            elif outcome.get("status") in (404, 409):
                skipped += 1
            else:
                raise bulk_item_error(outcome)
        return deleted, skipped

    def search(self, index: str, body: dict, *, exact_total: bool = True
               ) -> tuple[int, list[StoredDoc]]:
        """Runs a search body; returns the total hit count and the hits. A missing index is empty.

        With `exact_total=False` the total is counted as Elasticsearch counts by default, up to
        10,000 (the result window): what a pager can reach, at a lower cost.
        """
        self._check_ready()
        counting = {"track_total_hits": True} if exact_total else {}
        try:
            with translated_errors():
                resp = self.client.search(index=index, body={
                    **body, **counting, "seq_no_primary_term": True})
        except IndexMissing:
            return 0, []
        return resp["hits"]["total"]["value"], [stored_hit(h) for h in resp["hits"]["hits"]]

    def search_page(self, index: str, body: dict) -> tuple[list[StoredDoc], list | None]:
        """One page of a sorted search, each hit with its tokens, and the last hit's sort values
        to ask for the next page with (`search_after`); None when the page is empty. The total
        is not counted. A missing index is empty."""
        self._check_ready()
        try:
            with translated_errors():
                resp = self.client.search(index=index, body={
                    **body, "track_total_hits": False, "seq_no_primary_term": True})
        except IndexMissing:
            return [], None
        raw = resp["hits"]["hits"]
        return [stored_hit(h) for h in raw], (raw[-1]["sort"] if raw else None)

    def aggregate(self, index: str, body: dict) -> dict:
        """Runs a size-0 search and returns its aggregations (empty when the index is missing)."""
        try:
            with translated_errors():
                resp = self.client.search(index=index, body={**body, "size": 0})
        except IndexMissing:
            return {}
        return resp.body.get("aggregations", {})

    def search_many(self, index: str, bodies: list[dict]) -> list[dict]:
        """Runs searches in one round trip (_msearch); an answer is `{}` when the index is missing."""
        try:
            with translated_errors():
                resp = self.client.msearch(index=index,
                                           searches=[part for body in bodies for part in ({}, body)])
        except IndexMissing:
            return [{} for _ in bodies]
        answers = []
        for answer in resp["responses"]:
            error = answer.get("error")
            if isinstance(error, dict):
                if error.get("type") == "index_not_found_exception":
                    answer = {}
                else:
                    raise RestError(error.get("reason", "search failed"),
                                    error_type=error.get("type", "exception"),
                                    status=answer.get("status", 500))
            answers.append(answer)
        return answers

    def refresh(self, index: str) -> None:
        try:
            with translated_errors():
                self.client.indices.refresh(index=index)
        except IndexMissing:
            pass

    def ensure_ready(self) -> None:
        """Makes sure the templates and indices are in place (cheap once done)."""
        self.layout.ensure_ready()

    def _check_ready(self) -> None:
        if not self.layout.ready:
            self.layout.ensure_ready()

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
            # Versions remembered from the old index mean nothing in the new one.
            self.recent = RecentVersions()
            self.layout.reinstall()
            with translated_errors():
                return send()
