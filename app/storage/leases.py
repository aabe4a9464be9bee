"""Leases: one small document per periodic task, held by one process at a time across every
worker and replica. Each write is guarded by the version read (`if_seq_no`/`if_primary_term`,
or `op_type=create` for the first), so of two processes taking the same lease at once exactly
one gets it; each lease carries its expiry, so the lease of a process that died lapses.

Expiry is judged by the clock of the process that reads it: keep lease durations well above
the clock skew between replicas (minutes, not seconds).
"""

import logging
import threading
import time
from dataclasses import dataclass

import elasticsearch
from elasticsearch import Elasticsearch

from app.storage.client_errors import (
    DocumentMissing,
    IndexMissing,
    VersionConflict,
    error_type,
    translated_errors,
)
from app.storage.names import LEASES_INDEX

log = logging.getLogger(__name__)

# A hidden index of one shard, copied to another node where there is one; nothing but the
# holder and the expiry is mapped (dynamic: false).
INDEX_SETTINGS = {"index.hidden": True, "number_of_shards": 1, "auto_expand_replicas": "0-1"}
INDEX_MAPPINGS = {"dynamic": "false", "properties": {
    "holder": {"type": "keyword"}, "expires_at": {"type": "date", "format": "epoch_millis"}}}


@dataclass(frozen=True)
class Lease:
    """A lease as stored, with the tokens that guard its next write."""

    name: str
    holder: str
    expires_at: float  # epoch seconds
    seq_no: int
    primary_term: int


class Leases:
    def __init__(self, client: Elasticsearch, index: str = LEASES_INDEX):
        self.client = client
        # Never sent to the next node on a 502/503/504: it may have landed (app.storage.nodes).
        self.writer = client.options(retry_on_status=())
        self.index = index
        self._index_ready = False
        self._lock = threading.Lock()

    def read(self, name: str) -> Lease | None:
        """The lease as stored now (a real-time read); None when nobody ever took it."""
        try:
            with translated_errors():
                found = self.client.get(index=self.index, id=name)
        except (DocumentMissing, IndexMissing):
            return None
        source = found["_source"]
        return Lease(name, source.get("holder", ""), source.get("expires_at", 0) / 1000,
                     found["_seq_no"], found["_primary_term"])

    def take(self, name: str, holder: str, seconds: float, *, now: float | None = None
             ) -> Lease | None:
        """The lease, held by `holder` for `seconds` from now, if it is free (never taken, or
        expired, whoever held it); None while it has not expired, even for its own holder (who
        keeps it with `extend`), or when another process took it in the meantime."""
        now = time.time() if now is None else now
        current = self.read(name)
        if current is not None and current.expires_at > now:
            return None
        return self._write(name, holder, now + seconds, current)

    def extend(self, lease: Lease, seconds: float, *, now: float | None = None) -> Lease | None:
        """`lease` held for `seconds` from now; None when it is no longer this holder's (it
        expired and someone took it)."""
        now = time.time() if now is None else now
        return self._write(lease.name, lease.holder, now + seconds, lease)

    def _write(self, name: str, holder: str, expires_at: float, previous: Lease | None
               ) -> Lease | None:
        self._ensure_index()
        guard = ({"op_type": "create"} if previous is None else
                 {"if_seq_no": previous.seq_no, "if_primary_term": previous.primary_term})
        try:
            with translated_errors():
                written = self.writer.index(index=self.index, id=name, **guard, document={
                    "holder": holder, "expires_at": int(expires_at * 1000)})
        except VersionConflict:
            return None  # another process wrote it since it was read
        except (DocumentMissing, IndexMissing):
            self._index_ready = False  # deleted under us: the next call makes it again
            return None
        return Lease(name, holder, expires_at, written["_seq_no"], written["_primary_term"])

    def _ensure_index(self) -> None:
        """Creates the index with its settings before the first write (a write would otherwise
        create it with none: visible, dynamically mapped)."""
        with self._lock:
            if self._index_ready:
                return
            with translated_errors():
                try:
                    self.client.indices.create(index=self.index, settings=INDEX_SETTINGS,
                                               mappings=INDEX_MAPPINGS)
                    log.info("created the index [%s] for the service's leases", self.index)
                except elasticsearch.BadRequestError as err:
                    if error_type(err) != "resource_already_exists_exception":
                        raise
            self._index_ready = True
