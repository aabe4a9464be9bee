"""Bodies and query strings of the connector routes, as the reference's strict parsers read them.

Each schema names the reference parser (`parser`) whose messages its errors repeat. Checks the
reference makes in a request's `validate()` raise ValidationError in `@validates_schema`, so they
come after the parse errors and answer `action_request_validation_exception`.
"""

from marshmallow import ValidationError, fields, validates_schema

from app.domain.connector_states import ConnectorStatus
from app.domain.job_states import JobStatus
from app.exceptions import ValidationFailed
from app.schemas.connector_models import (
    SCHEDULE_TYPES,
    AdvancedSnippetSchema,
    Choice,
    ConfigurationEntrySchema,
    ConnectorFilteringSchema,
    FeaturesSchema,
    FilteringRuleSchema,
    FilteringValidationInfoSchema,
    IngestPipelineSchema,
    Model,
    ModelList,
    ModelMap,
    ParsedInstant,
    SchedulingSchema,
    StrictBool,
)
from app.schemas.fields import Keyword, QueryInt
from app.schemas.loading import MAX_RESULT_WINDOW, StrictSchema

MANAGED_INDEX_PREFIX = "content-"
_INVALID_INDEX_CHARACTERS = ' "*\\<|,>/?'


def index_name_problem(name: str) -> str | None:
    """ES's index-or-alias name check, in its order and words; None when the name is valid.

    The reference answers 500 for an empty name; here it is one more problem (a 400).
    """
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


def sync_status(**kwargs) -> Choice:
    return Choice([status.value for status in JobStatus], type_name="ConnectorSyncStatus", **kwargs)


# Create


class ConnectorSchema(StrictSchema):
    """PUT /_connector/<id>, PUT /_connector and POST /_connector (one parser for all three)."""

    parser = "connector_put_request"

    description = fields.String()
    index_name = fields.String(allow_none=True)
    is_native = StrictBool(load_default=False)
    language = Keyword()
    name = Keyword(load_default="")
    service_type = Keyword()

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


# List


class CommaStrings(fields.Field):
    """A query-string list, `a,b` (or the parameter repeated); empty items are dropped."""

    def _deserialize(self, value, attr, data, **kwargs):
        texts = value if isinstance(value, list) else [value]
        return [item for text in texts for item in str(text).split(",") if item != ""]


class QueryBool(fields.Field):
    """A boolean query parameter as ES reads it: `true`, `false`, or present without a value."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = value[-1] if isinstance(value, list) else value
        if value in ("", "true"):
            return True
        if value == "false":
            return False
        raise ValidationError(f"Failed to parse value [{value}] as only [true] or [false] are allowed.")


class ListConnectorsQuery(StrictSchema):
    parser = "list_connector"

    from_ = QueryInt(data_key="from", load_default=0)
    size = QueryInt(load_default=100)
    index_name = CommaStrings(load_default=list)
    connector_name = CommaStrings(load_default=list)
    service_type = CommaStrings(load_default=list)
    query = fields.String(load_default=None)
    include_deleted = QueryBool(load_default=False)

    @validates_schema
    def page_and_index_names(self, data, **kwargs):
        if data["from_"] + data["size"] > MAX_RESULT_WINDOW:
            raise ValidationError(
                f"The sum of parameters [from] and [size] cannot be higher than {MAX_RESULT_WINDOW}.")
        problems = [problem for name in data["index_name"] if (problem := index_name_problem(name))]
        if problems:
            raise ValidationFailed(problems)


# Updates


class LastSyncSchema(StrictSchema):
    """Every field optional; an explicit null changes nothing (the reference drops nulls)."""

    parser = "connector_update_last_sync_stats_request"

    last_access_control_sync_error = Keyword(allow_none=True)
    last_access_control_sync_scheduled_at = ParsedInstant(allow_none=True)
    last_access_control_sync_status = sync_status(allow_none=True)
    last_deleted_document_count = fields.Integer()
    last_incremental_sync_scheduled_at = ParsedInstant(allow_none=True)
    last_indexed_document_count = fields.Integer()
    last_sync_error = Keyword(allow_none=True)
    last_sync_scheduled_at = ParsedInstant(allow_none=True)
    last_sync_status = sync_status(allow_none=True)
    last_synced = ParsedInstant(allow_none=True)
    sync_cursor = fields.Dict(allow_none=True)


class ConfigurationSchema(StrictSchema):
    """Either the whole `configuration` (field name -> its definition) or just `values`."""

    parser = "connector_update_configuration_request"

    configuration = ModelMap(ConfigurationEntrySchema())
    values = fields.Dict()

    @validates_schema
    def one_of_both(self, data, **kwargs):
        if "configuration" not in data and "values" not in data:
            raise ValidationError("[configuration] and [values] cannot both be null.")
        if "configuration" in data and "values" in data:
            raise ValidationError(
                "[configuration] and [values] cannot both be provided in the same request.")


class PipelineSchema(StrictSchema):
    parser = "connector_update_pipeline_request"

    pipeline = Model(IngestPipelineSchema(), required=True)


class SchedulingUpdateSchema(StrictSchema):
    """The reference also refuses a body with only `access_control` (its check tests
    `incremental` twice); here any one of the three schedule types is enough."""

    parser = "connector_update_scheduling_request"

    scheduling = Model(SchedulingSchema(), required=True)

    @validates_schema
    def some_schedule(self, data, **kwargs):
        if not any(kind in data["scheduling"] for kind in SCHEDULE_TYPES):
            raise ValidationError("[scheduling] object needs to define at least one schedule type: "
                                  "[full | incremental | access_control]")


class FilteringSchema(StrictSchema):
    """Either the whole `filtering` list, or a new draft: `rules` and/or `advanced_snippet`."""

    parser = "connector_update_filtering_request"

    filtering = ModelList(ConnectorFilteringSchema())
    advanced_snippet = Model(AdvancedSnippetSchema())
    rules = ModelList(FilteringRuleSchema())

    @validates_schema
    def whole_or_draft(self, data, **kwargs):
        draft = "rules" in data or "advanced_snippet" in data
        if "filtering" not in data and not draft:
            raise ValidationError("[advanced_snippet] and [rules] cannot be both [null].")
        if "filtering" in data and draft:
            raise ValidationError("If [filtering] is specified, [rules] and [advanced_snippet] "
                                  "should not be present in the request body.")


class FilteringValidationUpdateSchema(StrictSchema):
    parser = "connector_update_filtering_validation"

    validation = Model(FilteringValidationInfoSchema(), required=True)


class StatusSchema(StrictSchema):
    parser = "connector_update_status_request"

    status = Choice([status.value for status in ConnectorStatus], type_name="ConnectorStatus",
                    colon_message=True)

    @validates_schema
    def status_given(self, data, **kwargs):
        if "status" not in data:
            raise ValidationError("[status] cannot be [null].")


class ErrorSchema(StrictSchema):
    """`error` must be present but may be null (null or "" mean the connector is fine again)."""

    parser = "connector_update_error_request"

    error = Keyword(required=True, allow_none=True)


def require_one_of(data: dict, first: str, second: str) -> None:
    """The reference's rule for routes that set one field, the other, or both."""
    if data.get(first) is None and data.get(second) is None:
        raise ValidationError(f"[{first}] and [{second}] cannot both be [null]. "
                              "Please provide a value for at least one of them.")


class NameSchema(StrictSchema):
    parser = "connector_update_name_request"

    name = Keyword(allow_none=True)
    description = fields.String(allow_none=True)

    @validates_schema
    def one_given(self, data, **kwargs):
        require_one_of(data, "name", "description")


class IndexNameSchema(StrictSchema):
    """`index_name` must be present; null detaches the connector from its index."""

    parser = "connector_update_index_name_request"

    index_name = fields.String(required=True, allow_none=True)

    @validates_schema
    def index_name_valid(self, data, **kwargs):
        index_name = data.get("index_name")
        problem = index_name_problem(index_name) if index_name is not None else None
        if problem:
            raise ValidationError(problem)


class ServiceTypeSchema(StrictSchema):
    parser = "connector_update_service_type_request"

    service_type = Keyword(required=True)

    @validates_schema
    def not_empty(self, data, **kwargs):
        if data.get("service_type") == "":
            raise ValidationError('[service_type] cannot be [null] or [""].')


class NativeSchema(StrictSchema):
    parser = "connector_update_native_request"

    is_native = StrictBool(required=True)


class ApiKeyIdSchema(StrictSchema):
    parser = "connector_update_api_key_id_request"

    api_key_id = Keyword(allow_none=True)
    api_key_secret_id = fields.String(allow_none=True)

    @validates_schema
    def one_given(self, data, **kwargs):
        require_one_of(data, "api_key_id", "api_key_secret_id")


class FeaturesUpdateSchema(StrictSchema):
    """The reference answers 500 to a body without `features`; here it is a 400."""

    parser = "connector_update_features_request"

    features = Model(FeaturesSchema())

    @validates_schema
    def features_given(self, data, **kwargs):
        if "features" not in data:
            raise ValidationError("[features] cannot be [null].")
