"""Bodies and query strings of the sync-job routes, as the reference's strict parsers read them."""

from marshmallow import ValidationError, fields, validates_schema

from app.job_states import JobStatus, JobType, TriggerMethod
from app.schemas.fields import CommaList, Count, Duration, Enum, Instant, QueryInt
from app.schemas.loading import StrictSchema

MAX_RESULT_WINDOW = 10_000


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

    worker_hostname = fields.String(required=True)
    sync_cursor = fields.Dict()


class SyncJobStatsSchema(StrictSchema):
    parser = "connector_sync_job_update_ingestion_stats"

    deleted_document_count = Count(required=True)
    indexed_document_count = Count(required=True)
    indexed_document_volume = Count(required=True)
    total_document_count = Count()
    last_seen = Instant()
    metadata = fields.Dict()


class SyncJobErrorSchema(StrictSchema):
    parser = "connector_sync_job_error_request"

    error = fields.String(required=True)

    @validates_schema
    def error_not_empty(self, data, **kwargs):
        if data.get("error") == "":
            raise ValidationError("[error] of the connector sync job cannot be null or empty")


class ListSyncJobsQuery(StrictSchema):
    """`status` takes several values here (an extension: the reference takes one)."""

    parser = "list_connector_sync_jobs"

    from_ = QueryInt(data_key="from", load_default=0)
    size = QueryInt(load_default=100)
    connector_id = fields.String()
    status = CommaList(JobStatus, type_name="ConnectorSyncStatus")
    job_type = CommaList(JobType, type_name="ConnectorSyncJobType")

    @validates_schema
    def window_fits(self, data, **kwargs):
        if data.get("from_", 0) + data.get("size", 0) > MAX_RESULT_WINDOW:
            raise ValidationError(
                f"The sum of parameters [from] and [size] cannot be higher than {MAX_RESULT_WINDOW}.")


class StaleJobsQuery(StrictSchema):
    """Which jobs count as stale: running, and silent for longer than `older_than`."""

    parser = "stale_connector_sync_jobs"

    older_than = Duration()
    connector_id = fields.String()
    from_ = QueryInt(data_key="from", load_default=0)
    size = QueryInt(load_default=100)


class CancelAllQuery(StrictSchema):
    """How many jobs one call may change at most; the rest are reported as remaining."""

    parser = "cancel_connector_sync_jobs"

    max_jobs = QueryInt(load_default=1000)


class FailStaleQuery(CancelAllQuery):
    parser = "fail_stale_connector_sync_jobs"

    older_than = Duration()


class SummaryQuery(StrictSchema):
    """How old the dashboard summary's figures may be (`5s`, `1m`; at most 300 s)."""

    parser = "sync_job_summary"

    max_age = Duration()
