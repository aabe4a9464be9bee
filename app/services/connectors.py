"""Connector documents: the lookups sync jobs need and the connector APIs. No Flask here."""

from elasticsearch.dsl import Q, Search

from app import clock
from app.exceptions import ConnectorNotFound, StatusConflict, TooManyConflicts
from app.services.guarded import guarded_update
from app.storage import CONNECTORS_INDEX, Storage, VersionConflict


def get_source(store: Storage, connector_id: str) -> dict | None:
    """The stored connector, or None when it does not exist or is soft-deleted."""
    doc = store.get(CONNECTORS_INDEX, connector_id)
    if doc is None or doc.source.get("deleted"):
        return None
    return doc.source


def _update(store: Storage, connector_id: str, change, *, when: str = "lookup",
            refresh: bool = False) -> str:
    """A guarded update of a live connector; a soft-deleted one counts as missing (the
    reference's plain-update routes would modify it). Returns "updated" or "noop"."""

    def checked(connector: dict) -> dict:
        if connector.get("deleted"):
            raise ConnectorNotFound(connector_id, when=when)
        return change(connector)

    _, written = guarded_update(store, CONNECTORS_INDEX, connector_id, checked, refresh=refresh,
                                not_found=lambda: ConnectorNotFound(connector_id, when=when))
    return written.result


def update_last_sync(store: Storage, connector_id: str, fields: dict) -> str:
    """Update connector last sync stats: merges the non-null fields given; nulls change nothing."""
    partial = {key: value for key, value in fields.items() if value is not None}
    return _update(store, connector_id, lambda _: partial, when="update")


def check_in(store: Storage, connector_id: str) -> str:
    """Check in connector: `last_seen` becomes now."""
    return _update(store, connector_id, lambda _: {"last_seen": clock.now()}, when="update")


def get(store: Storage, connector_id: str, *, include_deleted: bool = False) -> dict:
    """Get connector: the stored document with its id; soft-deleted ones only on request."""
    doc = store.get(CONNECTORS_INDEX, connector_id)
    if doc is None or (doc.source.get("deleted") and not include_deleted):
        raise ConnectorNotFound(connector_id)
    return {"id": doc.id, **doc.source}


def put(store: Storage, connector_id: str | None, fields: dict) -> tuple[str, str]:
    """Create or update a connector: the whole document is (re)written with the reference's
    defaults plus the given fields. Returns the id and "created" or "updated"."""
    index_name = fields.get("index_name")
    if index_name is not None and index_name_in_use(store, index_name, connector_id):
        raise StatusConflict(f"Index name [{index_name}] is used by another connector.")
    document = new_connector_document(fields)
    if connector_id is None:
        return store.create(CONNECTORS_INDEX, document, refresh=True).id, "created"
    existing = store.get(CONNECTORS_INDEX, connector_id)
    if existing is None:
        try:
            store.create(CONNECTORS_INDEX, document, doc_id=connector_id, refresh=True)
            return connector_id, "created"
        except VersionConflict:
            existing = store.get(CONNECTORS_INDEX, connector_id)
    if existing is None:
        raise TooManyConflicts(f"connector [{connector_id}] changed concurrently; retry")
    # Guarded: a concurrent rewrite makes this one fail instead of silently losing one.
    store.replace(CONNECTORS_INDEX, connector_id, document, seq_no=existing.seq_no,
                  primary_term=existing.primary_term, refresh=True)
    return connector_id, "updated"


def index_name_in_use(store: Storage, index_name: str, connector_id: str | None) -> bool:
    """Whether another live connector writes to `index_name`."""
    query = Q("term", index_name=index_name) & ~Q("term", deleted=True)
    if connector_id is not None:
        query &= ~Q("ids", values=[connector_id])
    total, _ = store.search(CONNECTORS_INDEX, Search().query(query)[:0].to_dict())
    return total > 0


def new_connector_document(fields: dict) -> dict:
    """A connector as the reference creates it; fields without a value are left out."""
    now = clock.now()
    is_native = fields.get("is_native", False)
    document = {
        "configuration": {},
        "custom_scheduling": {},
        "description": fields.get("description"),
        "filtering": [default_filtering(now)],
        "index_name": fields.get("index_name"),
        "is_native": is_native,
        "language": fields.get("language"),
        "name": fields.get("name", ""),
        "scheduling": {kind: {"enabled": False, "interval": EVERYDAY_AT_MIDNIGHT}
                       for kind in ("access_control", "full", "incremental")},
        "service_type": fields.get("service_type"),
        "status": "needs_configuration" if is_native else "created",
        "sync_now": False,
        "deleted": False,
    }
    return {key: value for key, value in document.items() if value is not None}


EVERYDAY_AT_MIDNIGHT = "0 0 0 * * ?"


def default_filtering(now: str) -> dict:
    """The one DEFAULT filtering entry of a new connector: include everything, validated."""

    def rules() -> dict:
        return {
            "advanced_snippet": {"created_at": now, "updated_at": now, "value": {}},
            "rules": [{"created_at": now, "field": "_", "id": "DEFAULT", "order": 0,
                       "policy": "include", "rule": "regex", "updated_at": now, "value": ".*"}],
            "validation": {"errors": [], "state": "valid"},
        }

    return {"active": rules(), "domain": "DEFAULT", "draft": rules()}
