"""Bodies of the connector routes, as the reference's strict parsers read them."""

from marshmallow import ValidationError, fields, validates_schema

from app.job_states import JobStatus
from app.schemas.fields import Enum, Instant
from app.schemas.loading import StrictSchema


class LastSyncSchema(StrictSchema):
    """Every field optional; an explicit null changes nothing (the reference drops nulls)."""

    parser = "connector_update_last_sync_stats_request"

    last_access_control_sync_error = fields.String(allow_none=True)
    last_access_control_sync_scheduled_at = Instant(allow_none=True)
    last_access_control_sync_status = Enum(JobStatus, type_name="ConnectorSyncStatus",
                                           allow_none=True)
    last_deleted_document_count = fields.Integer(strict=True)
    last_incremental_sync_scheduled_at = Instant(allow_none=True)
    last_indexed_document_count = fields.Integer(strict=True)
    last_sync_error = fields.String(allow_none=True)
    last_sync_scheduled_at = Instant(allow_none=True)
    last_sync_status = Enum(JobStatus, type_name="ConnectorSyncStatus", allow_none=True)
    last_synced = Instant(allow_none=True)
    sync_cursor = fields.Dict(allow_none=True)


class ConnectorSchema(StrictSchema):
    """PUT /_connector/<id>, PUT /_connector and POST /_connector (one parser for all three)."""

    parser = "connector_put_request"

    description = fields.String()
    index_name = fields.String(allow_none=True)
    is_native = fields.Boolean(load_default=False)
    language = fields.String()
    name = fields.String(load_default="")
    service_type = fields.String()

    @validates_schema
    def index_name_valid(self, data, **kwargs):
        index_name = data.get("index_name")
        problems = []
        if index_name is not None:
            problem = index_name_problem(index_name)
            if problem:
                problems.append(problem)
            elif data.get("is_native") and not index_name.startswith(MANAGED_INDEX_PREFIX):
                problems.append(
                    f"Index [{index_name}] is invalid. Index attached to an Elastic-managed "
                    f"connector must start with the prefix: [{MANAGED_INDEX_PREFIX}]")
        if problems:
            raise ValidationError(problems)


MANAGED_INDEX_PREFIX = "content-"
_INVALID_INDEX_CHARACTERS = ' "*\\<|,>/?'


def index_name_problem(name: str) -> str | None:
    """ES's index-or-alias name check, in its order and words; None when the name is valid."""
    if name == "":
        reason = "must not be empty"
    elif any(char in name for char in _INVALID_INDEX_CHARACTERS):
        reason = ("must not contain the following characters "
                  "[ , \\\", *, \\\\, <, |, ,, >, /, ?]")
    elif "#" in name:
        reason = "must not contain '#'"
    elif ":" in name:
        reason = "must not contain ':'"
    elif name[0] in "_-+":
        reason = "must not start with '_', '-', or '+'"
    elif len(name.encode()) > 255:
        reason = f"index name is too long, ({len(name.encode())} > 255)"
    elif name in (".", ".."):
        reason = "must not be '.' or '..'"
    else:
        return None
    return f"[{name}] InvalidIndexNameException[Invalid index name [{name}], {reason}]"
