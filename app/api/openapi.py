"""The OpenAPI 3 document of every route the app serves, generated from the app itself.

Paths come from `app.url_map`; request bodies and query parameters from the marshmallow schemas
each view declares with `@rest(...)` (its `rest_contract`); response bodies from
app.schemas.responses. A route added later is documented without an edit here: with a generic
JSON object as its answer until `RESPONSES` names a schema for it. Skipped: static files, the
forwarding catch-all (a rule with a `path` converter, and every other rule of its view) and
the automatic HEAD and OPTIONS methods.
"""

import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from flask import Flask
from werkzeug.routing import PathConverter, Rule

from app.about import SERVICE_NAME, service_version
from app.auth.callers import answers_without_credentials
from app.exceptions import RestError
from app.schemas import responses
from app.schemas.fields import MAX_INTEGER, CommaList, Count, Enum, Instant, QueryInt

OPENAPI_VERSION = "3.0.3"
SKIPPED_METHODS = {"HEAD", "OPTIONS"}
WRITE_METHODS = {"POST", "PUT", "DELETE"}
ENVELOPE = "ErrorEnvelope"

# Response bodies by endpoint and status. A route missing here answers a JSON object.
RESPONSES: dict[str, dict[int, type]] = {
    "service.root": {200: responses.RootSchema},
    "service.health": {200: responses.HealthSchema, 503: responses.HealthSchema},
    "service.openapi_document": {200: responses.JsonObjectSchema},
    "sync_jobs.post_sync_job": {201: responses.IdSchema},
    "sync_jobs.list_sync_jobs": {200: responses.SyncJobListSchema},
    "sync_jobs.get_sync_job": {200: responses.SyncJobSchema},
    "sync_jobs.delete_sync_job": {200: responses.AcknowledgedSchema},
    "sync_jobs.check_in_sync_job": {200: responses.ResultSchema},
    "sync_jobs.claim_sync_job": {200: responses.ResultSchema},
    "sync_jobs.cancel_sync_job": {200: responses.ResultSchema},
    "sync_jobs.set_sync_job_error": {200: responses.ResultSchema},
    "sync_jobs.set_sync_job_stats": {200: responses.ResultSchema},
    "extensions.sync_job_retention_dry_run": {200: responses.RetentionDryRunSchema},
    "extensions.sync_job_retention_delete": {200: responses.RetentionDeletedSchema},
    "connectors.put_connector": {200: responses.IdResultSchema, 201: responses.IdResultSchema},
    "connectors.post_connector": {201: responses.IdResultSchema},
    "connectors.get_connector": {200: responses.ConnectorDocumentSchema},
    "operations.live": {200: responses.LiveSchema},
    "operations.ready": {200: responses.ReadySchema, 503: responses.ReadySchema},
}
# Routes whose success is not JSON: their media types (the first is the default).
TEXT_RESPONSES = {
    "operations.prometheus_metrics": ("text/plain", "application/openmetrics-text"),
}

# Why each error status can happen; every one answers the error envelope.
ERROR_REASONS = {
    400: "Bad request: unknown parameter, invalid body or id",
    401: "Missing or wrong credentials",
    403: "Origin not allowed by CORS_ALLOWED_ORIGINS",
    404: "No such document",
    406: "Unsupported Content-Type",
    409: "The document changed or exists already",
    413: "Request body too large",
    429: "Too many concurrent changes to the document; retry",
    503: "Elasticsearch is unavailable",
}

# Path ids: what Elasticsearch accepts as `_id`, less what HTTP cannot carry in one segment
# (a `/`, even encoded, and the dot segments `.` and `..`, which clients normalise away).
ID_PARAMETER_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": 512,
    "pattern": r"^([^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+)$",
}
# Plain `@rest(params=...)` parameters whose type is known; others are documented as strings.
PARAMETER_SCHEMAS = {"include_deleted": {"type": "boolean"}}

_RULE_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def build(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of `app`, as a JSON-ready dict."""
    plugin = MarshmallowPlugin(schema_name_resolver=unique_schema_names())
    spec = APISpec(title=SERVICE_NAME, version=service_version(),
                   openapi_version=OPENAPI_VERSION, plugins=[plugin], info={
                       "description": "Elasticsearch's Connector Sync Job APIs as a standalone "
                                      "service. Every error answers Elasticsearch's error "
                                      "envelope."})
    plugin.converter.add_attribute_function(custom_field_properties)
    spec.components.schema(ENVELOPE, schema=responses.ErrorEnvelopeSchema)
    security = _security(spec, app)

    paths: dict[str, dict[str, dict]] = {}
    operation_ids: set[str] = set()
    for rule in documented_rules(app):
        view = app.view_functions[rule.endpoint]
        path = openapi_path(rule)
        for method in sorted(rule.methods - SKIPPED_METHODS):
            operation = _operation(app, rule, view, method, operation_ids)
            if security:
                # `{}`: the operation may also be called without credentials.
                open_too = answers_without_credentials(rule.rule, app.config.get("AUTH_MODE") or "")
                operation["security"] = [*security, {}] if open_too else security
            paths.setdefault(path, {})[method.lower()] = operation
    for path in sorted(paths):
        spec.path(path=path, operations=paths[path])
    return spec.to_dict()


def unique_schema_names():
    """apispec's naming (the class name less `Schema`), qualified by module on a clash, so two
    modules' `ErrorSchema`s become two components."""
    owners: dict[str, type] = {}

    def resolve(schema) -> str:
        cls = resolve_schema_cls(schema)
        base = cls.__name__.removesuffix("Schema") or cls.__name__
        for name in (base, f"{cls.__module__.rpartition('.')[2]}.{base}",
                     f"{cls.__module__}.{cls.__qualname__}"):
            if owners.setdefault(name, cls) is cls:
                return name
        raise ValueError(f"no unique OpenAPI name for {cls!r}")

    return resolve


def documented_rules(app: Flask) -> list[Rule]:
    """Every rule but static files and catch-alls (with every other rule of a catch-all's view)."""
    catch_all = {rule.endpoint for rule in app.url_map.iter_rules()
                 if _is_static(rule) or any(isinstance(converter, PathConverter)
                                            for converter in rule._converters.values())}
    return sorted((rule for rule in app.url_map.iter_rules() if rule.endpoint not in catch_all),
                  key=lambda rule: (rule.rule, sorted(rule.methods)))


def _is_static(rule: Rule) -> bool:
    return rule.endpoint == "static" or rule.endpoint.endswith(".static")


def openapi_path(rule: Rule) -> str:
    """`/_connector/<connector_id>` becomes `/_connector/{connector_id}`."""
    return _RULE_ARGUMENT.sub(r"{\1}", rule.rule)


def _operation(app: Flask, rule: Rule, view, method: str, operation_ids: set[str]) -> dict:
    contract = getattr(view, "rest_contract", None)
    summary, _, description = (view.__doc__ or rule.endpoint).strip().partition("\n")
    operation: dict[str, Any] = {
        "operationId": _unique_id(rule.endpoint.rpartition(".")[2], method, operation_ids),
        "summary": summary.strip(),
        "tags": [rule.endpoint.partition(".")[0] if "." in rule.endpoint else "service"],
    }
    if description.strip():
        operation["description"] = " ".join(description.split())
    parameters = [{"in": "path", "name": name, "required": True,
                   "schema": dict(ID_PARAMETER_SCHEMA)} for name in sorted(rule.arguments)]
    if contract is not None:
        if contract["query"] is not None:
            parameters.append({"in": "query", "schema": contract["query"]})
        for name in sorted(contract["params"]):
            parameters.append({"in": "query", "name": name, "required": False,
                               "schema": PARAMETER_SCHEMAS.get(name, {"type": "string"})})
        if contract["body"] is not None:
            operation["requestBody"] = {
                "required": bool(contract["body_required"]),
                "content": {"application/json": {"schema": contract["body"]}},
            }
    if parameters:
        operation["parameters"] = parameters
    operation["responses"] = _responses(app, rule, method, contract)
    return operation


def _unique_id(name: str, method: str, taken: set[str]) -> str:
    operation_id = name if name not in taken else f"{name}_{method.lower()}"
    taken.add(operation_id)
    return operation_id


def _responses(app: Flask, rule: Rule, method: str, contract: dict | None) -> dict:
    documented: dict[str, dict] = {}
    bodies = RESPONSES.get(rule.endpoint)
    if bodies is None:
        bodies = _fallback_bodies(method, contract)
    for status, schema in sorted(bodies.items()):
        response: dict[str, Any] = {"description": "OK" if status < 300 else "See the body"}
        if rule.endpoint in TEXT_RESPONSES and status < 300:
            response["content"] = {media_type: {"schema": {"type": "string"}}
                                   for media_type in TEXT_RESPONSES[rule.endpoint]}
        elif schema is not None:
            response["content"] = {"application/json": {"schema": schema}}
        documented[str(status)] = response
    for status in sorted(_error_statuses(app, rule, method, contract)):
        documented.setdefault(str(status), {
            "description": ERROR_REASONS[status],
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ENVELOPE}"}}},
        })
    return documented


def _fallback_bodies(method: str, contract: dict | None) -> dict[int, type | None]:
    """A route not in RESPONSES: a JSON object for a @rest view, an undocumented body else."""
    if contract is None:
        return {200: None}
    if method in ("POST", "PUT"):
        return {200: responses.JsonObjectSchema, 201: responses.JsonObjectSchema}
    return {200: responses.JsonObjectSchema}


def _error_statuses(app: Flask, rule: Rule, method: str, contract: dict | None) -> set[int]:
    statuses = {413, 503}  # any body is measured (app.api.limits); any view may need ES
    mode = auth_mode(app)
    if mode != "none":
        statuses.add(401)
    if app.config.get("CORS_ALLOWED_ORIGINS") or mode == "elasticsearch":
        statuses.add(403)  # an origin not allowed; a cluster privilege the caller lacks
    if contract is not None:
        statuses |= {400, 406}
        if method in WRITE_METHODS:
            statuses |= {404, 409, 429}
    if rule.arguments:
        statuses |= {400, 404}
    return statuses


def auth_mode(app: Flask) -> str:
    """The mode callers are checked with; an unset one as the cluster decided it (by the time
    the document is asked for, the request that asks has decided it)."""
    try:
        return app.extensions["auth_mode"].current()
    except RestError:
        return app.config.get("AUTH_MODE") or "none"


def _security(spec: APISpec, app: Flask) -> list[dict]:
    mode = auth_mode(app)
    if mode == "elasticsearch":
        spec.components.security_scheme("Basic", {
            "type": "http", "scheme": "basic", "description": "a user of the cluster"})
        spec.components.security_scheme("ApiKey", {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "`ApiKey <encoded key>`, an API key of the cluster"})
        spec.components.security_scheme("Bearer", {
            "type": "http", "scheme": "bearer", "description": "a token of the cluster"})
        return [{"Basic": []}, {"ApiKey": []}, {"Bearer": []}]
    if mode == "api_key":
        spec.components.security_scheme("ApiKey", {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "`ApiKey <key>`, one of AUTH_API_KEYS"})
        return [{"ApiKey": []}]
    if mode == "basic":
        spec.components.security_scheme("Basic", {"type": "http", "scheme": "basic"})
        return [{"Basic": []}]
    return []


def custom_field_properties(self, field, **kwargs) -> dict:
    """The project's own field types, as JSON Schema (apispec knows only marshmallow's)."""
    if isinstance(field, Enum):
        return {"type": "string", "enum": list(field.values)}
    if isinstance(field, CommaList):
        return {"type": "array", "items": {"type": "string", "enum": list(field.values)}}
    if isinstance(field, Count):
        return {"minimum": 0, "maximum": MAX_INTEGER}
    if isinstance(field, QueryInt):
        return {} if "minimum" in kwargs.get("ret", {}) else {"minimum": 0}
    if isinstance(field, Instant):
        return {"type": "string", "format": "date-time"}
    return {}

