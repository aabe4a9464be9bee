"""How large a stored document may grow: a write that adds objects is measured before it is sent.

Merges only add: twenty `_stats` calls with a new megabyte of `metadata` each make a 20 MB job,
and every later GET of it holds that much in memory. So a write whose merged result would be
larger than `Storage.max_document_bytes` (MAX_DOCUMENT_BYTES) is a 400 and writes nothing.
A document already past the bound (written straight to the index) may still take writes that
do not grow it, such as a worker's heartbeat. Writes of scalars only are not measured: each
such field is bounded on its own (app.schemas.fields.Keyword, counts, dates).
"""

import json

from app.exceptions import BadRequest
from app.storage import CONNECTORS_INDEX, SYNC_JOBS_INDEX, Storage

KINDS = {SYNC_JOBS_INDEX: "connector sync job", CONNECTORS_INDEX: "connector"}


class DocumentTooLarge(BadRequest):
    def __init__(self, index: str, doc_id: str, size: int, limit: int):
        super().__init__(
            f"The update would make {KINDS.get(index, 'document')} [{doc_id}] {size} bytes long, "
            f"more than the {limit} bytes a document may hold (MAX_DOCUMENT_BYTES); nothing was "
            "written.")


def adds_objects(partial: dict) -> bool:
    """Whether a partial update carries objects or lists, whose size only the caller bounds."""
    return any(isinstance(value, dict | list) for value in partial.values())


def encoded_size(document: dict) -> int:
    """The document's size as compact UTF-8 JSON, as it is sent and stored."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8", "surrogatepass"))


def _size_at_most(document: dict) -> int:
    """An upper bound of `encoded_size`, at less than half its cost: escaping every character
    beyond ASCII (`\\uXXXX`, 6 bytes) never takes fewer bytes than UTF-8 does (2 to 4)."""
    return len(json.dumps(document, separators=(",", ":")))


def require_room(store: Storage, index: str, doc_id: str, before: dict, after: dict) -> None:
    """Raises DocumentTooLarge when `after` is past the bound and larger than `before`."""
    limit = store.max_document_bytes
    if _size_at_most(after) <= limit:
        return
    size = encoded_size(after)
    if size > limit and size > encoded_size(before):
        raise DocumentTooLarge(index, doc_id, size, limit)
