"""Connector documents: the lookups sync jobs need and the connector APIs. No Flask here.

Every change is a guarded read-modify-write (app.services.guarded): the connector is read, the
change is computed from what was read, and the write only lands if nothing changed in between.
Partial updates are merged by Elasticsearch itself, as the reference's are: nested objects merge,
lists and scalars are replaced, and an update that changes nothing answers "noop".

Deliberate difference: a soft-deleted connector counts as missing (404) for every update route.
The reference's routes that update without reading first (_check_in, _error, _name, _features,
_last_sync, _pipeline, _scheduling, _api_key_id, whole-list _filtering) would modify it.
"""

from collections.abc import Callable, Sequence

from elasticsearch.dsl import Q, Search

from app.domain import clock
from app.domain.connector_states import ConnectorStatus, can_transition
from app.exceptions import (
    ConnectorNotFound,
    RestError,
    StatusConflict,
    TooManyConflicts,
)
from app.schemas.connectors import MANAGED_INDEX_PREFIX
from app.services.bounds import require_room
from app.services.guarded import guarded_update
from app.services.redaction import with_stored_secrets, without_placeholders
from app.storage import CONNECTORS_INDEX, SYNC_JOBS_INDEX, Storage, VersionConflict

EVERYDAY_AT_MIDNIGHT = "0 0 0 * * ?"
# Deleting a connector's sync jobs: ids are searched and bulk-deleted in batches (this
# distribution has no _delete_by_query). The bound stops a runaway loop at 100 000 jobs.
SYNC_JOB_DELETE_BATCH = 1_000
SYNC_JOB_DELETE_MAX_BATCHES = 100

# The two ways the reference words "not found" (see app.exceptions.ConnectorNotFound):
# routes that read the connector first, and routes that send a bare partial update.
LOOKUP, UPDATE = "lookup", "update"


class InvalidConnectorStatusTransition(StatusConflict):
    """The reference's shape: a status_exception caused by the state machine's own exception."""

    def __init__(self, current: str, target: str):
        reason = (f"Invalid transition attempt from [{current}] to [{target}]. Such a status "
                  "transition is not supported by the Connector Protocol.")
        super().__init__(reason, caused_by={
            "type": "connector_invalid_status_transition_exception", "reason": reason})


# Reads


def get_source(store: Storage, connector_id: str) -> dict | None:
    """The stored connector, or None when it does not exist or is soft-deleted."""
    doc = store.get(CONNECTORS_INDEX, connector_id)
    if doc is None or doc.source.get("deleted"):
        return None
    return doc.source


def get(store: Storage, connector_id: str, *, include_deleted: bool = False) -> dict:
    """Get connector: the stored document with its id; soft-deleted ones only on request."""
    doc = store.get(CONNECTORS_INDEX, connector_id)
    if doc is None or (doc.source.get("deleted") and not include_deleted):
        raise ConnectorNotFound(connector_id)
    return {"id": doc.id, **doc.source}


def list_connectors(store: Storage, *, from_: int = 0, size: int = 100,
                    index_names: Sequence[str] = (), connector_names: Sequence[str] = (),
                    service_types: Sequence[str] = (), query: str | None = None,
                    include_deleted: bool = False) -> tuple[int, list[dict]]:
    """List connectors, by index_name ascending (those without one last); `count` is the number
    of matches as the reference counts them (Elasticsearch's default: exact up to 10,000, then
    10,000, the furthest a page can reach). Filters are ANDed; `query` is a substring match on
    index_name, name and description."""
    must = []
    if index_names:
        must.append(Q("terms", index_name=list(index_names)))
    if connector_names:
        must.append(Q("terms", name=list(connector_names)))
    if service_types:
        must.append(Q("terms", service_type=list(service_types)))
    if query:
        pattern = f"*{query}*"
        must.append(Q("bool", should=[Q("wildcard", index_name=pattern), Q("wildcard", name=pattern),
                                      Q("wildcard", description=pattern)]))
    must_not = [] if include_deleted else [Q("term", deleted=True)]
    search = Search().query(Q("bool", must=must, must_not=must_not)).sort(
        {"index_name": {"order": "asc"}})
    total, hits = store.search(CONNECTORS_INDEX, search[from_:from_ + size].to_dict(),
                               exact_total=False)
    return total, [{"id": hit.id, **hit.source} for hit in hits]


def index_name_in_use(store: Storage, index_name: str, connector_id: str | None) -> bool:
    """Whether another live connector writes to `index_name`."""
    query = Q("term", index_name=index_name) & ~Q("term", deleted=True)
    if connector_id is not None:
        query &= ~Q("ids", values=[connector_id])
    total, _ = store.search(CONNECTORS_INDEX, Search().query(query)[:0].to_dict())
    return total > 0


def _require_free_index_name(store: Storage, index_name: str | None, connector_id: str | None):
    if index_name is not None and index_name_in_use(store, index_name, connector_id):
        raise StatusConflict(f"Index name [{index_name}] is used by another connector.")


# Create and delete


def put(store: Storage, connector_id: str | None, fields: dict) -> tuple[str, str]:
    """Create or update a connector: the whole document is (re)written with the reference's
    defaults plus the given fields (a soft-deleted connector comes back). Returns the id and
    "created" or "updated"."""
    _require_free_index_name(store, fields.get("index_name"), connector_id)
    document = new_connector_document(fields)
    require_room(store, CONNECTORS_INDEX, connector_id or "", {}, document)
    if connector_id is None:
        return store.create(CONNECTORS_INDEX, document, refresh=True).id, "created"
    # The whole document is rewritten, so the last of two racing PUTs wins, as in the
    # reference; each attempt is still guarded, so a lost race re-reads instead of clobbering
    # a document that appeared or changed in between.
    for _ in range(store.conflict_retries):
        existing = store.get(CONNECTORS_INDEX, connector_id)
        try:
            if existing is None:
                store.create(CONNECTORS_INDEX, document, doc_id=connector_id, refresh=True)
                return connector_id, "created"
            store.replace(CONNECTORS_INDEX, connector_id, document, seq_no=existing.seq_no,
                          primary_term=existing.primary_term, refresh=True)
            return connector_id, "updated"
        except VersionConflict:
            continue
    raise TooManyConflicts(f"connector [{connector_id}] changed concurrently; retry the request")


def delete(store: Storage, connector_id: str, *, hard: bool = False,
           delete_sync_jobs: bool = False) -> None:
    """Delete connector: soft by default (`deleted: true`, hidden from get and list, its
    index_name free again); `hard` removes the document. `delete_sync_jobs` then deletes every
    sync job of the connector."""
    if hard:
        if not store.delete(CONNECTORS_INDEX, connector_id, refresh=True):
            raise ConnectorNotFound(connector_id)
    else:
        _update(store, connector_id, lambda _: {"deleted": True}, when=LOOKUP)
    if delete_sync_jobs:
        delete_all_sync_jobs(store, connector_id)


def delete_all_sync_jobs(store: Storage, connector_id: str) -> int:
    """Deletes the connector's sync jobs in bulk batches; returns how many were deleted."""
    store.refresh(SYNC_JOBS_INDEX)
    ids_of_jobs = Search().filter(Q("term", **{"connector.id": connector_id})).source(
        ["connector.id"])[:SYNC_JOB_DELETE_BATCH].to_dict()
    deleted = 0
    for _ in range(SYNC_JOB_DELETE_MAX_BATCHES):
        _, hits = store.search(SYNC_JOBS_INDEX, ids_of_jobs)
        if not hits:
            return deleted
        # Refreshed, so that the next search no longer finds this batch.
        deleted += store.delete_many(SYNC_JOBS_INDEX, [hit.id for hit in hits], refresh=True)
    raise RestError(f"connector [{connector_id}] still has sync jobs after deleting "
                    f"{deleted}; retry the request")


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
        "status": (ConnectorStatus.NEEDS_CONFIGURATION if is_native
                   else ConnectorStatus.CREATED).value,
        "sync_now": False,
        "deleted": False,
    }
    return {key: value for key, value in document.items() if value is not None}


def default_filtering(now: str) -> dict:
    """The one DEFAULT filtering entry of a new connector: include everything, validated."""

    def rules() -> dict:
        return {
            "advanced_snippet": {"created_at": now, "updated_at": now, "value": {}},
            "rules": [default_rule(now, 0)],
            "validation": {"errors": [], "state": "valid"},
        }

    return {"active": rules(), "domain": "DEFAULT", "draft": rules()}


DEFAULT_RULE_KEYS = {"field": "_", "id": "DEFAULT", "policy": "include", "rule": "regex",
                     "value": ".*"}


def default_rule(timestamp: str, order: int) -> dict:
    """The include-everything rule every rule list ends with."""
    return {"created_at": timestamp, "field": "_", "id": "DEFAULT", "order": order,
            "policy": "include", "rule": "regex", "updated_at": timestamp, "value": ".*"}


def is_default_rule(rule: dict) -> bool:
    """The include-everything rule, whatever its order and timestamps."""
    return all(rule.get(key) == value for key, value in DEFAULT_RULE_KEYS.items())


def sorted_draft_rules(rules: list[dict]) -> list[dict]:
    """The reference's sortFilteringRulesByOrder: the given rules by `order` (stable), then the
    default rule last, with the next order and the created_at of a default rule that was given."""
    if not rules:
        return [default_rule(clock.now(), 0)]
    given_default = next((rule for rule in rules if is_default_rule(rule)), None)
    ordered = sorted((rule for rule in rules if not is_default_rule(rule)), key=lambda r: r["order"])
    timestamp = given_default["created_at"] if given_default else clock.now()
    return [*ordered, default_rule(timestamp, ordered[-1]["order"] + 1 if ordered else 0)]


# Guarded updates


def _update(store: Storage, connector_id: str, change: Callable[[dict], dict], *,
            when: str = LOOKUP, refresh: bool = True) -> str:
    """A guarded update of a live connector; a soft-deleted one counts as missing.
    Returns "updated" or "noop" (Elasticsearch's own verdict on the merged document)."""

    def checked(connector: dict) -> dict:
        if connector.get("deleted"):
            raise ConnectorNotFound(connector_id, when=when)
        return change(connector)

    _, written = guarded_update(store, CONNECTORS_INDEX, connector_id, checked, refresh=refresh,
                                not_found=lambda: ConnectorNotFound(connector_id, when=when))
    return written.result


def _replace(store: Storage, connector_id: str, change: Callable[[dict], dict], *,
             when: str = LOOKUP) -> str:
    """Like _update, but `change` returns the whole new document, which replaces the stored one
    (guarded by the tokens read). For what a partial update cannot do: drop keys of an object."""
    for _ in range(store.conflict_retries):
        doc = store.get(CONNECTORS_INDEX, connector_id)
        if doc is None or doc.source.get("deleted"):
            raise ConnectorNotFound(connector_id, when=when)
        document = change(doc.source)
        require_room(store, CONNECTORS_INDEX, connector_id, doc.source, document)
        try:
            store.replace(CONNECTORS_INDEX, connector_id, document, seq_no=doc.seq_no,
                          primary_term=doc.primary_term, refresh=True)
        except VersionConflict:
            continue
        return "updated"
    raise TooManyConflicts(f"[{connector_id}] changed concurrently {store.conflict_retries} times "
                           "in a row; retry the request")


def update_last_sync(store: Storage, connector_id: str, fields: dict) -> str:
    """Update connector last sync stats: merges the non-null fields given; nulls change nothing."""
    partial = {key: value for key, value in fields.items() if value is not None}
    return _update(store, connector_id, lambda _: partial, when=UPDATE, refresh=False)


def check_in(store: Storage, connector_id: str) -> str:
    """Check in connector: `last_seen` becomes now."""
    return _update(store, connector_id, lambda _: {"last_seen": clock.now()}, when=UPDATE,
                   refresh=False)


def update_configuration(store: Storage, connector_id: str, *, configuration: dict | None = None,
                         values: dict | None = None) -> str:
    """Update connector configuration: `configuration` replaces the whole map; `values` sets the
    `value` of fields already defined. Either way the status becomes configured (no check).
    The redaction placeholder sent back for a secret keeps the stored secret (app.services.redaction)."""
    configured = ConnectorStatus.CONFIGURED.value
    if configuration is not None:
        return _replace(store, connector_id, lambda connector: {
            **connector, "configuration": with_stored_secrets(
                configuration, connector.get("configuration") or {}), "status": configured})

    def set_values(connector: dict) -> dict:
        known = connector.get("configuration") or {}
        unknown = [key for key in values if key not in known]
        if unknown:
            raise StatusConflict(
                f"Unknown [configuration] fields in the request payload: [{', '.join(unknown)}]. "
                "Remove them from request or register their schema first.")
        written = without_placeholders(values, known)
        return {"configuration": {key: {"value": value} for key, value in written.items()},
                "status": configured}

    return _update(store, connector_id, set_values)


def set_error(store: Storage, connector_id: str, error: str | None) -> str:
    """Update connector error: an error puts the connector in `error`; null or "" in `connected`."""
    status = ConnectorStatus.ERROR if error else ConnectorStatus.CONNECTED
    return _update(store, connector_id, lambda _: {"error": error, "status": status.value},
                   when=UPDATE)


def update_fields(store: Storage, connector_id: str, fields: dict) -> str:
    """The routes that merge their non-null fields as given (_name, _api_key_id, _pipeline,
    _scheduling, _features): nested objects merge into the stored ones."""
    partial = {key: value for key, value in fields.items() if value is not None}
    return _update(store, connector_id, lambda _: partial, when=UPDATE)


def update_filtering(store: Storage, connector_id: str, filtering: list[dict]) -> str:
    """Update connector filtering, whole-list form: the list is replaced."""
    return _update(store, connector_id, lambda _: {"filtering": filtering}, when=UPDATE)


def _first_filtering(connector_id: str, connector: dict) -> dict:
    """The entry the draft routes work on; the reference answers 500 when there is none."""
    entries = connector.get("filtering") or []
    if not entries:
        raise StatusConflict(f"Connector [{connector_id}] has no filtering to update. "
                             "Set its [filtering] first.")
    return entries[0]


def update_filtering_draft(store: Storage, connector_id: str, *, rules: list[dict] | None = None,
                           advanced_snippet: dict | None = None) -> str:
    """Update connector filtering, draft form: a new draft of the first entry (the given rules,
    sorted, with the default rule last; the given snippet), validation back to `edited`. Only
    the first filtering entry is kept."""

    def change(connector: dict) -> dict:
        entry = _first_filtering(connector_id, connector)
        draft = entry.get("draft") or {}
        new_draft = {
            "advanced_snippet": advanced_snippet if advanced_snippet is not None
            else draft.get("advanced_snippet"),
            "rules": sorted_draft_rules(rules) if rules is not None else draft.get("rules"),
            "validation": {"errors": [], "state": "edited"},
        }
        return {"filtering": [{"active": entry.get("active"), "domain": "DEFAULT",
                               "draft": new_draft}]}

    return _update(store, connector_id, change)


def update_filtering_validation(store: Storage, connector_id: str, validation: dict) -> str:
    """Update connector draft filtering validation: only the draft's `validation` changes."""

    def change(connector: dict) -> dict:
        entry = _first_filtering(connector_id, connector)
        draft = {**(entry.get("draft") or {}), "validation": validation}
        return {"filtering": [{"active": entry.get("active"), "domain": "DEFAULT", "draft": draft}]}

    return _update(store, connector_id, change)


def activate_filtering(store: Storage, connector_id: str) -> str:
    """Activate connector draft filtering: a `valid` draft becomes the active rules."""

    def change(connector: dict) -> dict:
        entry = _first_filtering(connector_id, connector)
        draft = entry.get("draft") or {}
        state = (draft.get("validation") or {}).get("state")
        if state != "valid":
            raise StatusConflict(
                "Filtering draft needs to be validated by the connector service before activation. "
                f"Current filtering draft validation state [{state}] is not equal to [valid].")
        return {"filtering": [{"active": draft, "domain": "DEFAULT", "draft": draft}]}

    return _update(store, connector_id, change)


def update_status(store: Storage, connector_id: str, status: str) -> str:
    """Update connector status: only along the Connector Protocol's transitions."""

    def change(connector: dict) -> dict:
        current = connector.get("status", "")
        if not can_transition(current, status):
            raise InvalidConnectorStatusTransition(current, status)
        return {"status": status}

    return _update(store, connector_id, change)


def update_index_name(store: Storage, connector_id: str, index_name: str | None) -> str:
    """Update connector index name (null detaches it). Like the reference, the in-use check runs
    before the connector is looked up. An Elastic-managed connector's index must be `content-`."""
    _require_free_index_name(store, index_name, connector_id)

    def change(connector: dict) -> dict:
        if (connector.get("is_native") and index_name is not None
                and not index_name.startswith(MANAGED_INDEX_PREFIX)):
            raise StatusConflict(
                "Index attached to an Elastic-managed connector must start with the prefix: "
                f"[{MANAGED_INDEX_PREFIX}]. The index name in the payload [{index_name}] doesn't "
                "comply with this requirement.")
        return {"index_name": index_name}

    return _update(store, connector_id, change)


def update_service_type(store: Storage, connector_id: str, service_type: str) -> str:
    """Update connector service type: a created connector stays created; any other needs
    configuration again."""

    def change(connector: dict) -> dict:
        status = (ConnectorStatus.CREATED if connector.get("status") == ConnectorStatus.CREATED
                  else ConnectorStatus.NEEDS_CONFIGURATION)
        return {"service_type": service_type, "status": status.value}

    return _update(store, connector_id, change)


def update_native(store: Storage, connector_id: str, is_native: bool) -> str:
    """Update connector is_native: an Elastic-managed connector needs a `content-` index; a
    connected one goes back to configured, to reconnect."""

    def change(connector: dict) -> dict:
        index_name = connector.get("index_name")
        if is_native and index_name is not None and not index_name.startswith(MANAGED_INDEX_PREFIX):
            raise StatusConflict(
                f"The index name [{index_name}] attached to the connector [{connector_id}] must "
                f"start with the required prefix: [{MANAGED_INDEX_PREFIX}] to be Elastic-managed. "
                "Please update the attached index first to comply with this requirement.")
        partial = {"is_native": is_native}
        if connector.get("status") == ConnectorStatus.CONNECTED:
            partial["status"] = ConnectorStatus.CONFIGURED.value
        return partial

    return _update(store, connector_id, change)
