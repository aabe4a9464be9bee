"""Response bodies, for the OpenAPI document only (app.api.openapi): the views build their bodies
themselves. Each names the fields an answer must have; an answer may carry more
(`unknown = INCLUDE`), except the error envelope, whose shape is Elasticsearch's."""

from marshmallow import INCLUDE, Schema, fields, validate

from app.domain.job_states import JobStatus, JobType, TriggerMethod


class OpenSchema(Schema):
    class Meta:
        unknown = INCLUDE


class ErrorCauseSchema(OpenSchema):
    type = fields.String(required=True)
    reason = fields.String(required=True, allow_none=True)
    caused_by = fields.Dict()
    header = fields.Dict()


class ErrorDetailSchema(ErrorCauseSchema):
    root_cause = fields.List(fields.Nested(ErrorCauseSchema), required=True)


class ErrorEnvelopeSchema(Schema):
    """Elasticsearch's error envelope: every error the service answers has this shape."""

    error = fields.Nested(ErrorDetailSchema, required=True)
    status = fields.Integer(required=True)


class IdSchema(OpenSchema):
    id = fields.String(required=True)


class ResultSchema(OpenSchema):
    result = fields.String(required=True, validate=validate.OneOf(["created", "updated", "noop",
                                                                   "deleted"]))


class IdResultSchema(IdSchema, ResultSchema):
    pass


class AcknowledgedSchema(OpenSchema):
    acknowledged = fields.Boolean(required=True)


class SyncJobSchema(OpenSchema):
    """A sync job document with its id, as GET and list return it."""

    id = fields.String(required=True)
    connector = fields.Dict(required=True)
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in JobStatus]))
    job_type = fields.String(required=True, validate=validate.OneOf([t.value for t in JobType]))
    trigger_method = fields.String(required=True,
                                   validate=validate.OneOf([t.value for t in TriggerMethod]))
    created_at = fields.String(required=True)
    last_seen = fields.String(allow_none=True)
    deleted_document_count = fields.Integer()
    indexed_document_count = fields.Integer()
    indexed_document_volume = fields.Integer()
    total_document_count = fields.Integer(allow_none=True)
    metadata = fields.Dict(allow_none=True)
    worker_hostname = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    started_at = fields.String(allow_none=True)
    completed_at = fields.String(allow_none=True)
    canceled_at = fields.String(allow_none=True)
    cancelation_requested_at = fields.String(allow_none=True)


class SyncJobListSchema(OpenSchema):
    count = fields.Integer(required=True)
    results = fields.List(fields.Nested(SyncJobSchema), required=True)


class RetentionDryRunSchema(OpenSchema):
    """What retention would delete: how many (exact up to 10,000) and up to 1000 of their ids."""

    count = fields.Integer(required=True, validate=validate.Range(min=0))
    ids = fields.List(fields.String(), required=True)


class RetentionDeletedSchema(OpenSchema):
    """What a retention run did: jobs deleted, and jobs skipped because they changed or went
    since they were found."""

    deleted = fields.Integer(required=True, validate=validate.Range(min=0))
    skipped = fields.Integer(required=True, validate=validate.Range(min=0))


class ConnectorDocumentSchema(OpenSchema):
    """A connector document with its id."""

    id = fields.String(required=True)


class ServiceSchema(OpenSchema):
    name = fields.String(required=True)
    version = fields.String(required=True)


class RootSchema(OpenSchema):
    """The cluster's root endpoint answer, plus this service's name and version."""

    name = fields.String()
    cluster_name = fields.String()
    cluster_uuid = fields.String()
    version = fields.Dict(required=True)
    tagline = fields.String()
    connector_sync_jobs = fields.Nested(ServiceSchema, required=True)


class HealthSchema(OpenSchema):
    """The whole report; a caller without credentials (auth on) gets `status` alone."""

    status = fields.String(required=True, validate=validate.OneOf(["green", "yellow", "red"]))
    elasticsearch = fields.Dict()
    index_templates = fields.Dict()
    indices = fields.Dict()
    service = fields.Nested(ServiceSchema)


class ReadySchema(OpenSchema):
    """Readiness check by check; a caller without credentials (auth on) gets `ready` alone."""

    ready = fields.Boolean(required=True)
    checks = fields.Dict(keys=fields.String(), values=fields.Dict())


class LiveSchema(OpenSchema):
    live = fields.Boolean(required=True)


class JsonObjectSchema(OpenSchema):
    """A JSON object (a route without a documented response shape yet)."""
