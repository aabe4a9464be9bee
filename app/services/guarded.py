"""The one shape of every read-modify-write: read, check, write guarded by the tokens read."""

import random
import time
from collections.abc import Callable

from app.domain.partial_update import merged
from app.exceptions import TooManyConflicts
from app.observability import metrics
from app.services.bounds import adds_objects, require_room
from app.storage import (
    DocumentMissing,
    OutcomeUnknown,
    Storage,
    StoredDoc,
    VersionConflict,
)
from app.storage.loop_writes import Settled


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

    A conflict may also be this call's own write: when a primary fails mid-write,
    Elasticsearch retries the write on the promoted replica, which may already hold it. And a
    write whose answer was lost with its node (OutcomeUnknown) may or may not have landed. In
    both cases the document is read again (from another node) and first checked for the
    writes this call attempted (`holds`): found there, it is this call's success. Not found,
    the change is judged again and sent again, guarded as before, so that of the lost write
    and its successor at most one can land. A second lost answer is the caller's 503.
    """
    remembered = store.recent.get(index, doc_id)
    attempted: list[tuple[StoredDoc, dict]] = []  # writes answered with a conflict, or lost
    answers_lost = 0
    for attempt in range(store.conflict_retries):
        if attempt:
            # A short random pause spreads out writers that lost to the same winner.
            time.sleep(random.uniform(0, min(0.002 * 2**attempt, 0.05)))
        doc = remembered or store.get(index, doc_id)
        from_memory, remembered = remembered is not None, None
        if doc is None:
            raise not_found()
        landed = next((write for write in attempted if holds(doc, *write)), None)
        if landed:
            if refresh:
                store.refresh(index)
            judged, partial = landed
            return judged, StoredDoc(doc_id, partial, doc.seq_no, doc.primary_term, "updated")
        doc, partial, after = judge_latest(store, index, doc, change, not_found, from_memory)
        try:
            written = store.update(index, doc_id, partial, seq_no=doc.seq_no,
                                   primary_term=doc.primary_term, refresh=refresh)
        except DocumentMissing:
            store.recent.forget(index, doc_id)
            raise not_found() from None
        except (VersionConflict, OutcomeUnknown) as lost:
            store.recent.forget(index, doc_id)
            if isinstance(lost, VersionConflict):
                metrics.GUARDED_CONFLICTS.labels(index).inc()
            else:
                answers_lost += 1
                if answers_lost > 1:
                    raise
            # The write sent: this one, or the one sent from the event loop before it
            # (app.storage.loop_writes), whose judged version and partial are its own.
            attempted.append(getattr(lost.__cause__, "sent", None) or (doc, partial))
            continue
        store.recent.remember(index, StoredDoc(doc_id, after, written.seq_no, written.primary_term))
        return doc, written
    metrics.GUARDED_EXHAUSTED.labels(index).inc()
    raise TooManyConflicts(
        f"[{doc_id}] changed concurrently {store.conflict_retries} times in a row; retry the request")


async def guarded_update_on_loop(store: Storage, index: str, doc_id: str,
                                 change: Callable[[dict], dict], observed) -> StoredDoc | None:
    """`guarded_update`'s first attempt, sent from the event loop (app.storage.loop_writes): the
    write's result, or None to leave the request to the thread path, which then runs
    `guarded_update` as ever.

    The change is judged on the version this process remembers, else on the document read from
    the loop. None when `change` refuses it (a remembered version's refusal is answered only
    once the stored document says so), when a call reached no node, and when one was answered
    anything but 2xx or not at all. Every call sent is settled on the request
    (`observed.settle`) for the thread path to meet instead of sending it again: the read's
    answer, and the update's outcome as the exception the client would have raised.
    """
    if not store.layout.ready or not store.loop_writes.usable():
        return None
    judged, read = store.recent.get(index, doc_id), None
    if judged is None:
        read = await read_on_loop(store, index, doc_id, observed)
        if read is None:
            return None
        judged = StoredDoc(doc_id, read["_source"], read["_seq_no"], read["_primary_term"])
    answer = None
    try:
        partial, after = judge(store, index, judged, change)
    except Exception:  # refused: the thread path answers it
        pass
    else:
        try:
            answer = await store.loop_writes.update(
                index, doc_id, partial, seq_no=judged.seq_no, primary_term=judged.primary_term,
                observed=observed)
        except Settled as settled:
            settled.failure.sent = (judged, partial)  # for `guarded_update`'s `attempted`
            observed.settle("update", index, doc_id, failure=settled.failure)
    if answer is None:
        if read is not None:
            observed.settle("get", index, doc_id, answer=read)
        return None
    store.recent.remember(index, StoredDoc(doc_id, after, answer["_seq_no"],
                                           answer["_primary_term"]))
    return StoredDoc(doc_id, partial, answer["_seq_no"], answer["_primary_term"],
                     answer["result"])


async def read_on_loop(store: Storage, index: str, doc_id: str, observed) -> dict | None:
    """The document's GET answer, read from the event loop; None for the thread path to read.
    A missing document and a read that timed out are settled on the request: the thread path's
    read meets them and answers as it would have (404, 503)."""
    try:
        return await store.loop_writes.get(index, doc_id, observed=observed)
    except Settled as settled:
        observed.settle("get", index, doc_id, failure=settled.failure)
        return None


def judge_latest(store: Storage, index: str, doc: StoredDoc, change: Callable[[dict], dict],
                 not_found: Callable[[], Exception],
                 from_memory: bool) -> tuple[StoredDoc, dict, dict]:
    """`change` judged on `doc`: the document judged, the partial and the source it makes.

    A refusal (InvalidStatusTransition, a size bound, or a caller's own) of a document this
    process only remembered is judged again on what is stored now, and answered only then."""
    try:
        return doc, *judge(store, index, doc, change)
    except Exception:
        if not from_memory:
            raise
    stored = store.get(index, doc.id)
    if stored is None:
        raise not_found() from None
    return stored, *judge(store, index, stored, change)


def judge(store: Storage, index: str, doc: StoredDoc,
          change: Callable[[dict], dict]) -> tuple[dict, dict]:
    """The partial `change` makes of `doc` and the source after it, within the size bound."""
    partial = change(doc.source)
    after = merged(doc.source, partial)
    if adds_objects(partial):
        require_room(store, index, doc.id, doc.source, after)
    return partial, after


def holds(current: StoredDoc, judged: StoredDoc, partial: dict) -> bool:
    """Whether `current`, a later version than `judged`, carries the change `partial` made to
    `judged`: every value of it, and at least one that `judged` did not have.

    Each change writes a timestamp of its own (or, like an error message, a value whose
    repetition changes nothing), so a document that holds them all is this write's result. A
    partial that changed nothing (judged on a version someone had already moved on from)
    proves nothing and is never taken for a write that landed."""
    later = (current.primary_term, current.seq_no) > (judged.primary_term, judged.seq_no)
    return later and contains(current.source, partial) and not contains(judged.source, partial)


def contains(source: dict, partial: dict) -> bool:
    return all(contains(source[key], value)
               if isinstance(value, dict) and isinstance(source.get(key), dict)
               else key in source and source[key] == value
               for key, value in partial.items())
