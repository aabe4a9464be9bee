"""Bodies and query strings of the sync-job routes, as the reference's strict parsers read them."""

from marshmallow import ValidationError, fields, validate, validates_schema

from app.domain.job_states import JobStatus, JobType, TriggerMethod
from app.schemas.connector_models import ParsedInstant
from app.schemas.fields import CommaList, Count, Duration, Enum, Keyword, QueryInt
from app.schemas.loading import MAX_RESULT_WINDOW, PagedQuery, StrictSchema

MAX_HOSTNAME_BYTES = 255
# The shortest silence after which jobs may be failed: six of the connectors framework's
# 10-second heartbeats. Shorter silences happen to live workers, and `10s` typed for `10m`
# would fail every running sync.
MIN_STALE_SECONDS = 60
# A connector's keep_last-th newest finished job is found as one page of a search: at most the
# result window (app.services.retention).
MAX_KEEP_LAST = MAX_RESULT_WINDOW


class CreateSyncJobSchema(StrictSchema):
    parser = "connector_sync_job_post_request"

    id = fields.String(required=True)
    job_type = Enum(JobType, type_name="ConnectorSyncJobType", load_default=JobType.FULL.value)
    trigger_method = Enum(TriggerMethod, type_name="ConnectorSyncJobTriggerMethod",
                          load_default=TriggerMethod.ON_DEMAND.value)

    @validates_schema
    def connector_id_not_empty(self, data, **kwargs):
        if data.get("id") == "":
            raise ValidationError("[id] of the connector cannot be null or empty")


class ClaimSyncJobSchema(StrictSchema):
    parser = "claim_connector_sync_job"

    # A host's name: at most 255 bytes (a DNS name's limit); stale-job messages quote it.
    worker_hostname = Keyword(required=True, max_bytes=MAX_HOSTNAME_BYTES)
    sync_cursor = fields.Dict()


class SyncJobStatsSchema(StrictSchema):
    """`last_seen` is read as the reference's parser reads it: a date the field's format
    accepts, or a 400 `x_content_parse_exception` naming the field."""

    parser = "connector_sync_job_update_ingestion_stats"

    deleted_document_count = Count(required=True)
    indexed_document_count = Count(required=True)
    indexed_document_volume = Count(required=True)
    total_document_count = Count()
    last_seen = ParsedInstant()
    metadata = fields.Dict()


class SyncJobErrorSchema(StrictSchema):
    parser = "connector_sync_job_error_request"

    error = Keyword(required=True)

    @validates_schema
    def error_not_empty(self, data, **kwargs):
        if data.get("error") == "":
            raise ValidationError("[error] of the connector sync job cannot be null or empty")


class ListSyncJobsQuery(PagedQuery):
    """`status` takes several values here (an extension: the reference takes one). As in the
    reference, an empty `connector_id` matches no job and an empty `status` is refused; an
    empty `job_type` filters nothing."""

    parser = "list_connector_sync_jobs"

    connector_id = fields.String()
    status = CommaList(JobStatus, type_name="ConnectorSyncStatus", allow_empty=False)
    job_type = CommaList(JobType, type_name="ConnectorSyncJobType")


class StaleJobsQuery(PagedQuery):
    """Which jobs count as stale: running, and silent for longer than `older_than`."""

    parser = "stale_connector_sync_jobs"

    older_than = Duration()
    connector_id = fields.String()


class CancelAllQuery(StrictSchema):
    """How many jobs one call may change at most; the rest are reported as remaining."""

    parser = "cancel_connector_sync_jobs"

    max_jobs = QueryInt(load_default=1000)


class FailStaleQuery(CancelAllQuery):
    """Failing jobs takes an explicit age, and not a short one: a worker that is alive but
    slow to report would see its sync fail (docs/worker.md, "Stale jobs")."""

    parser = "fail_stale_connector_sync_jobs"

    older_than = Duration(required=True, minimum=MIN_STALE_SECONDS, error_messages={
        "required": "is required: how long a running job must have sent no check-in or stats "
                    f"to be failed (at least {MIN_STALE_SECONDS}s), e.g. older_than=10m"})
    connector_id = fields.String()


class SummaryQuery(StrictSchema):
    """How old the dashboard summary's figures may be (`5s`, `1m`; at most 300 s)."""

    parser = "sync_job_summary"

    max_age = Duration()


# Messages start with "The " so that a query's error keeps them as they are (app.schemas.loading).
KEEP_LAST_RANGE = validate.Range(min=1, max=MAX_KEEP_LAST, error=(
    "The value of [keep_last] must be between {min} and {max}: the newest finished job of each "
    "connector always stays"))


class RetentionQuery(StrictSchema):
    """Which finished jobs retention lets go: past each connector's `keep_last` newest finished
    jobs, created more than `older_than` ago (the stale routes' durations), at least one of the
    two given; `connector_id` limits it to one connector (empty: none, as in the list)."""

    parser = "sync_job_retention"

    keep_last = QueryInt(validate=KEEP_LAST_RANGE)
    older_than = Duration()
    connector_id = fields.String()

    @validates_schema
    def a_rule_is_given(self, data, **kwargs):
        if data.get("keep_last") is None and data.get("older_than") is None:
            raise ValidationError("The rule needs [keep_last] or [older_than]: how many finished "
                                  "jobs of each connector to keep, or how old a job must be "
                                  "to go, e.g. keep_last=100 or older_than=30d")


class RetentionBody(RetentionQuery):
    """The same rule as a JSON body: `keep_last` a JSON integer, `older_than` a string."""

    parser = "sync_job_retention_delete"

    keep_last = fields.Integer(strict=True, validate=KEEP_LAST_RANGE)
