"""Routes under /_connector: connector documents, their list, and each field's update route.

An empty id (`/_connector//_check_in`) never reaches these views: app.api.limits answers 400.
"""

from flask import Blueprint, current_app, jsonify

from app.api.requests import flag, rest, store
from app.schemas.connectors import (
    ApiKeyIdSchema,
    ConfigurationSchema,
    ConnectorSchema,
    ErrorSchema,
    FeaturesUpdateSchema,
    FilteringSchema,
    FilteringValidationUpdateSchema,
    IndexNameSchema,
    LastSyncSchema,
    ListConnectorsQuery,
    NameSchema,
    NativeSchema,
    PipelineSchema,
    SchedulingUpdateSchema,
    ServiceTypeSchema,
    StatusSchema,
)
from app.services import connectors
from app.services.redaction import redact_connector

bp = Blueprint("connectors", __name__, url_prefix="/_connector")


def present(connector: dict) -> dict:
    """A connector as answered: secrets redacted unless the operator turned that off."""
    return redact_connector(connector) if current_app.config["REDACT_SECRETS"] else connector

ID = "<connector_id>"


def result(outcome: str):
    return jsonify(result=outcome)


# Documents


@bp.put("/<connector_id>")
@rest(body=ConnectorSchema(), body_required=False)
def put_connector(connector_id: str, body):
    """Create or update a connector."""
    connector_id, outcome = connectors.put(store(), connector_id, body)
    return jsonify(id=connector_id, result=outcome), 201 if outcome == "created" else 200


@bp.put("")
@bp.post("")
@rest(body=ConnectorSchema(), body_required=False)
def post_connector(body):
    """Create a connector with a generated id."""
    connector_id, outcome = connectors.put(store(), None, body)
    return jsonify(id=connector_id, result=outcome), 201


@bp.get("/<connector_id>")
@rest(params=frozenset({"include_deleted"}))
def get_connector(connector_id: str):
    """Get a connector."""
    return jsonify(present(connectors.get(store(), connector_id,
                                          include_deleted=flag("include_deleted"))))


@bp.get("")
@rest(query=ListConnectorsQuery())
def list_connectors(query):
    """List connectors."""
    count, results = connectors.list_connectors(
        store(), from_=query["from_"], size=query["size"], index_names=query["index_name"],
        connector_names=query["connector_name"], service_types=query["service_type"],
        query=query["query"], include_deleted=query["include_deleted"])
    return jsonify(count=count, results=[present(connector) for connector in results])


@bp.delete("/<connector_id>")
@rest(params=frozenset({"hard", "delete_sync_jobs"}))
def delete_connector(connector_id: str):
    """Delete a connector (soft unless `hard`), and its sync jobs if `delete_sync_jobs`."""
    hard, delete_sync_jobs = flag("hard"), flag("delete_sync_jobs")
    connectors.delete(store(), connector_id, hard=hard, delete_sync_jobs=delete_sync_jobs)
    return jsonify(acknowledged=True)


# Worker routes


@bp.put(f"/{ID}/_check_in")
@rest()
def check_in_connector(connector_id: str):
    """Check in a connector."""
    return result(connectors.check_in(store(), connector_id))


@bp.put(f"/{ID}/_last_sync")
@rest(body=LastSyncSchema())
def update_last_sync(connector_id: str, body):
    """Update connector last sync stats."""
    return result(connectors.update_last_sync(store(), connector_id, body))


@bp.put(f"/{ID}/_error")
@rest(body=ErrorSchema())
def update_connector_error(connector_id: str, body):
    """Update connector error."""
    return result(connectors.set_error(store(), connector_id, body["error"]))


@bp.put(f"/{ID}/_status")
@rest(body=StatusSchema())
def update_connector_status(connector_id: str, body):
    """Update connector status."""
    return result(connectors.update_status(store(), connector_id, body["status"]))


# Field updates


@bp.put(f"/{ID}/_configuration")
@rest(body=ConfigurationSchema())
def update_connector_configuration(connector_id: str, body):
    """Update connector configuration."""
    return result(connectors.update_configuration(
        store(), connector_id, configuration=body.get("configuration"),
        values=body.get("values")))


@bp.put(f"/{ID}/_filtering")
@rest(body=FilteringSchema())
def update_connector_filtering(connector_id: str, body):
    """Update connector filtering: the whole list, or a new draft."""
    if "filtering" in body:
        return result(connectors.update_filtering(store(), connector_id, body["filtering"]))
    return result(connectors.update_filtering_draft(
        store(), connector_id, rules=body.get("rules"),
        advanced_snippet=body.get("advanced_snippet")))


@bp.put(f"/{ID}/_filtering/_validation")
@rest(body=FilteringValidationUpdateSchema())
def update_connector_filtering_validation(connector_id: str, body):
    """Update connector draft filtering validation."""
    return result(connectors.update_filtering_validation(
        store(), connector_id, body["validation"]))


@bp.put(f"/{ID}/_filtering/_activate")
@rest()
def activate_connector_filtering(connector_id: str):
    """Activate connector draft filtering."""
    return result(connectors.activate_filtering(store(), connector_id))


@bp.put(f"/{ID}/_index_name")
@rest(body=IndexNameSchema())
def update_connector_index_name(connector_id: str, body):
    """Update connector index name."""
    return result(connectors.update_index_name(store(), connector_id,
                                               body["index_name"]))


@bp.put(f"/{ID}/_service_type")
@rest(body=ServiceTypeSchema())
def update_connector_service_type(connector_id: str, body):
    """Update connector service type."""
    return result(connectors.update_service_type(store(), connector_id,
                                                 body["service_type"]))


@bp.put(f"/{ID}/_native")
@rest(body=NativeSchema())
def update_connector_native(connector_id: str, body):
    """Update connector is_native flag."""
    return result(connectors.update_native(store(), connector_id, body["is_native"]))


@bp.put(f"/{ID}/_name")
@rest(body=NameSchema())
def update_connector_name(connector_id: str, body):
    """Update connector name and description."""
    return result(connectors.update_fields(store(), connector_id, body))


@bp.put(f"/{ID}/_api_key_id")
@rest(body=ApiKeyIdSchema())
def update_connector_api_key_id(connector_id: str, body):
    """Update connector API key id."""
    return result(connectors.update_fields(store(), connector_id, body))


@bp.put(f"/{ID}/_pipeline")
@rest(body=PipelineSchema())
def update_connector_pipeline(connector_id: str, body):
    """Update connector pipeline."""
    return result(connectors.update_fields(store(), connector_id, body))


@bp.put(f"/{ID}/_scheduling")
@rest(body=SchedulingUpdateSchema())
def update_connector_scheduling(connector_id: str, body):
    """Update connector scheduling."""
    return result(connectors.update_fields(store(), connector_id, body))


@bp.put(f"/{ID}/_features")
@rest(body=FeaturesUpdateSchema())
def update_connector_features(connector_id: str, body):
    """Update connector features."""
    return result(connectors.update_fields(store(), connector_id, body))
