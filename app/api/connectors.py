"""Routes under /_connector/<connector_id>: connector documents and their sync fields."""

from flask import Blueprint, jsonify

from app.api.requests import flag, rest, store
from app.schemas.connectors import ConnectorSchema, LastSyncSchema
from app.services import connectors

bp = Blueprint("connectors", __name__, url_prefix="/_connector")


@bp.put("/<connector_id>")
@rest(body=ConnectorSchema(), body_required=False)
def put_connector(connector_id: str, body):
    """Create or update a connector."""
    connector_id, result = connectors.put(store(), connector_id, body)
    return jsonify(id=connector_id, result=result), 201 if result == "created" else 200


@bp.put("")
@bp.post("")
@rest(body=ConnectorSchema(), body_required=False)
def post_connector(body):
    """Create a connector with a generated id."""
    connector_id, result = connectors.put(store(), None, body)
    return jsonify(id=connector_id, result=result), 201


@bp.get("/<connector_id>")
@rest(params=frozenset({"include_deleted"}))
def get_connector(connector_id: str):
    """Get a connector."""
    return jsonify(connectors.get(store(), connector_id,
                                  include_deleted=flag("include_deleted")))


@bp.put("/<connector_id>/_last_sync")
@rest(body=LastSyncSchema())
def update_last_sync(connector_id: str, body):
    """Update connector last sync stats."""
    result = connectors.update_last_sync(store(), connector_id, body)
    return jsonify(result=result)


@bp.put("/<connector_id>/_check_in")
@rest()
def check_in_connector(connector_id: str):
    """Check in a connector."""
    connectors.check_in(store(), connector_id)
    return jsonify(result="updated")
