"""The objects nested in connector documents (filtering, configuration, scheduling, features,
pipeline) and the field types that read them as the reference's parsers do.

The reference reads each nested object with a lenient parser of its own: unknown keys are
dropped, missing defaults are filled in, and the result is written back in the parser's own key
order. A problem inside a nested object fails the whole request with
`[<outer parser>] failed to parse field [<field>]`, the inner problem as its `caused_by`.
The `post_load` of each model returns the object exactly as it is stored.
"""

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load

from app.domain import clock, cron
from app.exceptions import BadRequest, ParseFailed, RestError
from app.schemas import loading
from app.schemas.fields import Instant, Keyword
from app.schemas.loading import token_type

# Error handling shared by the fields below


def parser_of(field: fields.Field) -> str:
    """The name of the reference parser that reads `field` (the nearest schema's `parser`)."""
    node = field.parent
    while node is not None and not hasattr(node, "parser"):
        node = getattr(node, "parent", None)
    return getattr(node, "parser", "request")


def cause_of(error: RestError) -> dict:
    cause = {"type": error.error_type, "reason": error.reason}
    if error.caused_by:
        cause["caused_by"] = error.caused_by
    return cause


def failed_field(parser: str, field_name: str, cause: RestError) -> ParseFailed:
    return ParseFailed(f"[{parser}] failed to parse field [{field_name}]", caused_by=cause_of(cause))


class Failing:
    """A field whose bad values fail the request at once, as the reference's parser does."""

    def fail(self, cause: RestError) -> ParseFailed:
        return failed_field(parser_of(self), self.name, cause)


# Scalars


class StrictBool(Failing, fields.Field):
    """`true`/`false`, or the strings "true"/"false" (ES's declareBoolean); nothing else."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        if isinstance(value, str):
            raise self.fail(BadRequest(
                f"Failed to parse value [{value}] as only [true] or [false] are allowed."))
        raise ValidationError("Not a valid boolean.")


class ParsedInstant(Failing, Instant):
    """An instant given as a string; a string that is no date fails the request."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("Not a valid instant.")
        try:
            return super()._deserialize(value, attr, data, **kwargs)
        except ValidationError as error:
            raise self.fail(BadRequest(str(error.messages[0]))) from None


class Choice(Failing, fields.String):
    """One of a fixed set of wire values. `message` words the refusal as the reference does."""

    def __init__(self, values, *, type_name: str, case_sensitive: bool = False,
                 colon_message: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.values = [str(value) for value in values]
        self.type_name = type_name
        self.case_sensitive = case_sensitive
        self.colon_message = colon_message

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        key = text if self.case_sensitive else text.lower()
        if key not in self.values:
            reason = (f"Unknown {self.type_name}: {text}" if self.colon_message
                      else f"Unknown {self.type_name} [{text}].")
            raise self.fail(BadRequest(reason))
        return key


class Cron(Failing, fields.String):
    """A Quartz cron expression, stored upper-cased as the reference stores it."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return cron.normalize(text)
        except cron.InvalidCron as problem:
            raise self.fail(BadRequest(
                f"invalid cron expression [{text}]",
                caused_by={"type": "illegal_argument_exception", "reason": str(problem)})) from None


class AnyOf(Failing, fields.Field):
    """A value of some JSON kinds only ("scalar", "object", "array"), as the reference's hand-written
    value parsers accept. `scalar_items` restricts an array's elements to strings and numbers;
    `booleans=False` refuses true/false as scalars; `expected` ends the refusal's message."""

    def __init__(self, *kinds: str, scalar_items: bool = False, booleans: bool = True,
                 expected: str = "", **kwargs):
        super().__init__(**kwargs)
        self.kinds = kinds
        self.scalar_items = scalar_items
        self.booleans = booleans
        self.expected = expected

    def _deserialize(self, value, attr, data, **kwargs):
        if not self._accepts(value):
            raise self.fail(self._unsupported(value))
        if isinstance(value, list) and self.scalar_items:
            for item in value:
                if isinstance(item, bool) or not isinstance(item, str | int | float):
                    raise self.fail(self._unsupported(item))
        return value

    def _unsupported(self, value) -> ParseFailed:
        reason = f"Unsupported token [{token_type(value)}]"
        return ParseFailed(f"{reason}. {self.expected}" if self.expected else reason)

    def _accepts(self, value) -> bool:
        if isinstance(value, bool):
            return "scalar" in self.kinds and self.booleans
        if isinstance(value, str | int | float):
            return "scalar" in self.kinds
        if isinstance(value, dict):
            return "object" in self.kinds
        if isinstance(value, list):
            return "array" in self.kinds
        return False


# Nested objects


class ModelSchema(Schema):
    """A lenient nested parser: unknown keys are dropped, as in the reference's model parsers."""

    parser = "model"

    class Meta:
        unknown = EXCLUDE

    @post_load
    def stored(self, data, **kwargs):
        """The object as the reference writes it: its keys in alphabetical order. Schemas with
        defaults or optional keys override this."""
        return {key: data[key] for key in sorted(data)}


def load_model(schema: ModelSchema, value, *, parser: str, field_name: str):
    """Loads one nested object; any problem becomes `[parser] failed to parse field [field_name]`."""
    if not isinstance(value, dict):
        raise failed_field(parser, field_name, ParseFailed(
            f"[{schema.parser}] Expected START_OBJECT but was: {token_type(value)}"))
    try:
        return schema.load(value)
    except ValidationError as error:
        raise failed_field(parser, field_name,
                           loading.rest_error(error, value, parser=schema.parser)) from None
    except BadRequest as error:
        raise failed_field(parser, field_name, error) from None


class _Nested(fields.Field):
    """A field whose nested objects are read by `schema`."""

    def __init__(self, schema: ModelSchema, **kwargs):
        super().__init__(**kwargs)
        self.schema_instance = schema

    def load_one(self, value):
        return load_model(self.schema_instance, value, parser=parser_of(self), field_name=self.name)


class Model(_Nested):
    """One nested object."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("Not a valid mapping type.")
        return self.load_one(value)


class ModelList(_Nested):
    """An array of nested objects."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise ValidationError("Not a valid list.")
        return [self.load_one(item) for item in value]


class ModelMap(_Nested):
    """An object whose every value is a nested object (keys are free)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("Not a valid mapping type.")
        return {key: self.load_one(item) for key, item in value.items()}


def without_nulls(data: dict, order: tuple[str, ...]) -> dict:
    return {key: data[key] for key in order if data.get(key) is not None}


# Filtering


FILTERING_POLICIES = ("exclude", "include")
FILTERING_RULE_CONDITIONS = ("contains", "ends_with", "equals", ">", "<", "regex", "starts_with")
FILTERING_VALIDATION_STATES = ("edited", "invalid", "valid")


class AdvancedSnippetSchema(ModelSchema):
    parser = "connector_filtering_advanced_snippet"

    created_at = ParsedInstant()
    updated_at = ParsedInstant()
    value = AnyOf("object", "array", expected="Expected an array or an object.", required=True)

    @post_load
    def stored(self, data, **kwargs):
        now = clock.now()
        return {"created_at": data.get("created_at") or now,
                "updated_at": data.get("updated_at") or now,
                "value": data["value"]}


class FilteringRuleSchema(ModelSchema):
    parser = "connector_filtering_rule"

    created_at = ParsedInstant()
    field = Keyword(required=True)
    id = Keyword(required=True)
    order = fields.Integer(required=True)
    policy = Choice(FILTERING_POLICIES, type_name="FilteringPolicy", required=True)
    rule = Choice(FILTERING_RULE_CONDITIONS, type_name="FilteringRuleCondition",
                  case_sensitive=True, required=True)
    updated_at = ParsedInstant()
    value = Keyword(required=True)

    @post_load
    def stored(self, data, **kwargs):
        now = clock.now()
        return {"created_at": data.get("created_at") or now, "field": data["field"],
                "id": data["id"], "order": data["order"], "policy": data["policy"],
                "rule": data["rule"], "updated_at": data.get("updated_at") or now,
                "value": data["value"]}


class FilteringValidationSchema(ModelSchema):
    parser = "connector_filtering_validation"

    ids = fields.List(Keyword(), required=True)
    messages = fields.List(fields.String(), required=True)


class FilteringValidationInfoSchema(ModelSchema):
    parser = "filtering_validation_info"

    errors = ModelList(FilteringValidationSchema(), required=True)
    state = Choice(FILTERING_VALIDATION_STATES, type_name="FilteringValidationState", required=True)


class FilteringRulesSchema(ModelSchema):
    parser = "connector_filtering_rules"

    advanced_snippet = Model(AdvancedSnippetSchema(), required=True)
    rules = ModelList(FilteringRuleSchema(), required=True)
    validation = Model(FilteringValidationInfoSchema(), required=True)


class ConnectorFilteringSchema(ModelSchema):
    """One filtering entry. Its `domain` is always written as DEFAULT, whatever was sent."""

    parser = "connector_filtering"

    active = Model(FilteringRulesSchema(), required=True)
    draft = Model(FilteringRulesSchema(), required=True)

    @post_load
    def stored(self, data, **kwargs):
        return {"active": data["active"], "domain": "DEFAULT", "draft": data["draft"]}


# Configuration


CONFIGURATION_DISPLAY_TYPES = ("text", "textbox", "textarea", "numeric", "toggle", "dropdown")
CONFIGURATION_FIELD_TYPES = ("str", "int", "list", "bool")
CONFIGURATION_VALIDATION_TYPES = ("less_than", "greater_than", "list_type", "included_in", "regex")


class DependencySchema(ModelSchema):
    parser = "connector_configuration_dependency"

    field = fields.String(required=True)
    value = AnyOf("scalar", required=True, allow_none=True)


class SelectOptionSchema(ModelSchema):
    parser = "connector_configuration_select_option"

    label = fields.String(required=True)
    value = AnyOf("scalar", booleans=False, required=True)


class ConfigurationValidationSchema(ModelSchema):
    parser = "connector_configuration_validation"

    constraint = AnyOf("scalar", "array", booleans=False, scalar_items=True, required=True)
    type = Choice(CONFIGURATION_VALIDATION_TYPES, type_name="ConfigurationValidationType",
                  required=True)


CONFIGURATION_ORDER = ("category", "default_value", "depends_on", "display", "label", "options",
                       "order", "placeholder", "required", "sensitive", "tooltip", "type",
                       "ui_restrictions", "validations", "value")
# Written even when null, as ConnectorConfiguration.toMap does.
CONFIGURATION_ALWAYS = ("default_value", "label", "required", "sensitive", "value")


class ConfigurationEntrySchema(ModelSchema):
    """One configuration field. `required` and `sensitive` default to false; `default_value`
    and `value` are written even when null."""

    parser = "connector_configuration"

    category = fields.String()
    default_value = AnyOf("scalar", allow_none=True)
    depends_on = ModelList(DependencySchema())
    display = Choice(CONFIGURATION_DISPLAY_TYPES, type_name="ConfigurationDisplayType",
                     allow_none=True)
    label = fields.String(required=True)
    options = ModelList(SelectOptionSchema())
    order = fields.Integer()
    placeholder = fields.String(allow_none=True)
    required = StrictBool(load_default=False)
    sensitive = StrictBool(load_default=False)
    tooltip = fields.String(allow_none=True)
    type = Choice(CONFIGURATION_FIELD_TYPES, type_name="ConfigurationFieldType",
                  case_sensitive=True, allow_none=True)
    ui_restrictions = fields.List(fields.String())
    validations = ModelList(ConfigurationValidationSchema())
    value = AnyOf("scalar", "object", allow_none=True)

    @post_load
    def stored(self, data, **kwargs):
        return {key: data.get(key) for key in CONFIGURATION_ORDER
                if key in CONFIGURATION_ALWAYS or data.get(key) is not None}


# Scheduling, pipeline, features


class ScheduleConfigSchema(ModelSchema):
    parser = "schedule_config"

    enabled = StrictBool(required=True)
    interval = Cron(required=True)


SCHEDULE_TYPES = ("access_control", "full", "incremental")


class SchedulingSchema(ModelSchema):
    parser = "connector_scheduling"

    access_control = Model(ScheduleConfigSchema())
    full = Model(ScheduleConfigSchema())
    incremental = Model(ScheduleConfigSchema())

    @post_load
    def stored(self, data, **kwargs):
        return without_nulls(data, SCHEDULE_TYPES)


class IngestPipelineSchema(ModelSchema):
    """All four fields are required (the reference's YAML: a missing one is a 400)."""

    parser = "connector_ingest_pipeline"

    extract_binary_content = StrictBool(required=True)
    name = Keyword(required=True)
    reduce_whitespace = StrictBool(required=True)
    run_ml_inference = StrictBool(required=True)


class FeatureEnabledSchema(ModelSchema):
    """`{"enabled": bool}`. The reference answers 500 when `enabled` is missing; here it is a 400."""

    parser = "connector_feature_enabled"

    enabled = StrictBool(required=True)


class SyncRulesFeaturesSchema(ModelSchema):
    parser = "sync_rules_features"

    advanced = Model(FeatureEnabledSchema())
    basic = Model(FeatureEnabledSchema())

    @post_load
    def stored(self, data, **kwargs):
        return without_nulls(data, ("advanced", "basic"))


FEATURES = ("document_level_security", "incremental_sync", "native_connector_api_keys", "sync_rules")


class FeaturesSchema(ModelSchema):
    parser = "connector_features"

    document_level_security = Model(FeatureEnabledSchema())
    incremental_sync = Model(FeatureEnabledSchema())
    native_connector_api_keys = Model(FeatureEnabledSchema())
    sync_rules = Model(SyncRulesFeaturesSchema())

    @post_load
    def stored(self, data, **kwargs):
        return without_nulls(data, FEATURES)
