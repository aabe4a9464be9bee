"""Exceptions the service layer raises, each carrying its HTTP status and Elasticsearch error type."""


class RestError(Exception):
    """An error answered in Elasticsearch's envelope: `type` and `reason`, optional `caused_by`."""

    status = 500
    error_type = "exception"

    def __init__(self, reason: str, *, error_type: str | None = None, status: int | None = None,
                 caused_by: dict | None = None):
        super().__init__(reason)
        self.reason = reason
        if error_type is not None:
            self.error_type = error_type
        if status is not None:
            self.status = status
        self.caused_by = caused_by

    def to_envelope(self) -> dict:
        cause = {"type": self.error_type, "reason": self.reason}
        error = {"root_cause": [cause], **cause}
        if self.caused_by:
            error["caused_by"] = self.caused_by
        return {"error": error, "status": self.status}


class NotFound(RestError):
    status = 404
    error_type = "resource_not_found_exception"


class SyncJobNotFound(NotFound):
    """The reference names just the id when it looked the job up first (get, delete, claim,
    cancel, error), and says more when an update found nothing (check-in, stats)."""

    def __init__(self, job_id: str, *, after_update: bool = False):
        super().__init__(f"connector sync job [{job_id}] not found" if after_update else job_id)


class ConnectorNotFound(NotFound):
    """The reference's three wordings: after a lookup, for a new sync job, after an update."""

    def __init__(self, connector_id: str, *, when: str = "lookup"):
        if when == "sync":
            super().__init__(f"Connector with id '{connector_id}' does not exist.")
        elif when == "update":
            super().__init__(f"[{connector_id}]: document missing",
                             error_type="document_missing_exception")
        else:
            super().__init__(f"connector [{connector_id}] not found")


class BadRequest(RestError):
    status = 400
    error_type = "illegal_argument_exception"


class ValidationFailed(BadRequest):
    """A request that fails validation; `reason` lists every problem as ES's validation does."""

    error_type = "action_request_validation_exception"

    def __init__(self, problems: list[str]):
        self.problems = problems
        numbered = "".join(f"{n}: {p};" for n, p in enumerate(problems, start=1))
        super().__init__(f"Validation Failed: {numbered}")


class ParseFailed(BadRequest):
    error_type = "x_content_parse_exception"


class StatusConflict(BadRequest):
    """A request the current state of a document does not allow (ES's `status_exception`)."""

    error_type = "status_exception"


class InvalidStatusTransition(StatusConflict):
    def __init__(self, current: str, target: str):
        reason = f"Invalid transition attempt from [{current}] to [{target}]. Such a ConnectorSyncStatus transition is not supported by the Connector Protocol."  # noqa: E501
        super().__init__(reason, caused_by={
            "type": "connector_sync_job_invalid_status_transition_exception", "reason": reason})


class Conflict(RestError):
    status = 409
    error_type = "version_conflict_engine_exception"


class BodyTooLarge(RestError):
    status = 413
    error_type = "request_entity_too_large_exception"

    def __init__(self, limit: int):
        super().__init__(f"request body is larger than the limit of [{limit}] bytes")


class TooManyRequests(RestError):
    """The service cannot take this request now: the caller may retry later (Elasticsearch's 429)."""

    status = 429
    error_type = "es_rejected_execution_exception"


class TooManyConflicts(TooManyRequests):
    """Every guarded attempt lost its race."""


class StorageUnavailable(RestError):
    status = 503
    error_type = "service_unavailable_exception"

    def __init__(self, reason: str = "Elasticsearch is unavailable"):
        super().__init__(reason)
