"""The one shape of every read-modify-write: read, check, write guarded by the tokens read."""

import random
import time
from collections.abc import Callable

from app.exceptions import TooManyConflicts
from app.observability import metrics
from app.services.bounds import adds_objects, require_room
from app.storage import DocumentMissing, Storage, StoredDoc, VersionConflict, merged


def guarded_update(store: Storage, index: str, doc_id: str,
                   change: Callable[[dict], dict], *, not_found: Callable[[], Exception],
                   refresh: bool = False) -> tuple[StoredDoc, StoredDoc]:
    """Applies `change(source) -> partial` to the latest version of a document.

    `change` checks the document's state and raises when the change is not allowed; a change
    that adds objects must also leave the document within its size bound (app.services.bounds).
    The first attempt works on the version this process last saw (`store.recent`), which saves
    a read when nobody changed the document since; a refusal is only answered after checking
    the stored document. On a version conflict the document is read and checked again, never
    written blindly: a second claimer sees the job as claimed. Each lost race means another
    writer succeeded, so with fewer concurrent writers than `store.conflict_retries` every call
    ends; past that it gives up with TooManyConflicts (429), having written nothing. Returns
    the document the change was judged on and the result of the write.
    """
    remembered = store.recent.get(index, doc_id)
    for attempt in range(store.conflict_retries):
        if attempt:
            # A short random pause spreads out writers that lost to the same winner.
            time.sleep(random.uniform(0, min(0.002 * 2**attempt, 0.05)))
        doc = remembered or store.get(index, doc_id)
        from_memory, remembered = remembered is not None, None
        if doc is None:
            raise not_found()

        def judge(source: dict) -> tuple[dict, dict]:
            partial = change(source)
            after = merged(source, partial)
            if adds_objects(partial):
                require_room(store, index, doc_id, source, after)
            return partial, after

        try:
            partial, after = judge(doc.source)
        except Exception:  # a refusal: InvalidStatusTransition, a size bound, or a caller's own
            if not from_memory:
                raise
            # Judged on what this process remembered: refuse only what is stored now.
            doc = store.get(index, doc_id)
            if doc is None:
                raise not_found() from None
            partial, after = judge(doc.source)
        try:
            written = store.update(index, doc_id, partial, seq_no=doc.seq_no,
                                   primary_term=doc.primary_term, refresh=refresh)
        except VersionConflict:
            metrics.GUARDED_CONFLICTS.labels(index).inc()
            store.recent.forget(index, doc_id)
            continue
        except DocumentMissing:
            store.recent.forget(index, doc_id)
            raise not_found() from None
        store.recent.remember(index, StoredDoc(doc_id, after, written.seq_no, written.primary_term))
        return doc, written
    metrics.GUARDED_EXHAUSTED.labels(index).inc()
    raise TooManyConflicts(
        f"[{doc_id}] changed concurrently {store.conflict_retries} times in a row; retry the request")
