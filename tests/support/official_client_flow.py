"""Drives a connector and its sync jobs through their whole life with the official,
unmodified Elasticsearch Python client pointed at this service.

    python tests/support/official_client_flow.py http://127.0.0.1:8080

A plain script, not a test module: it imports nothing from the project, so any virtualenv
holding an `elasticsearch` client (8.x or 9.x) can run it. It prints a JSON summary of what
it checked and exits 0, or exits 1 at the first failure with a message saying what differed.
"""

import inspect
import json
import sys
import threading
import uuid
import warnings

import elasticsearch
from elasticsearch import (
    ApiError,
    BadRequestError,
    ConflictError,
    Elasticsearch,
    NotFoundError,
    TransportError,
)
from elasticsearch.exceptions import GeneralAvailabilityWarning

# The connector APIs are beta/experimental in the client: it warns on every call.
warnings.simplefilter("ignore", GeneralAvailabilityWarning)

INVALID_TRANSITION = "connector_sync_job_invalid_status_transition_exception"


class FlowFailure(Exception):
    """A response the official client got that differs from what Elasticsearch would send."""


class Flow:
    """The checks made so far, and the client they were made with."""

    def __init__(self, url: str):
        self.client = Elasticsearch(url, request_timeout=30)
        self.checked: list[str] = []
        suffix = uuid.uuid4().hex[:12]
        self.connector_id = f"official-client-{suffix}"
        self.index_name = f"search-official-client-{suffix}"

    def expect(self, name: str, condition: bool, detail=None) -> None:
        if not condition:
            raise FlowFailure(f"{name}: {json.dumps(detail, default=str)}")
        self.checked.append(name)

    def answer(self, name: str, response):
        """The body of a 2xx answer, after checking what the client trusts it by."""
        self.headers_ok(name, response.meta.headers)
        self.checked.append(name)
        return response.body

    def headers_ok(self, name: str, headers) -> None:
        product = headers.get("x-elastic-product")
        if product != "Elasticsearch":
            raise FlowFailure(f"{name}: X-Elastic-Product is {product!r}, not 'Elasticsearch'")
        content_type = headers.get("content-type", "")
        mimetype = content_type.split(";")[0].strip()
        try:
            self.client.transport.serializers.get_serializer(mimetype)
        except elasticsearch.SerializationError:
            raise FlowFailure(f"{name}: Content-Type {content_type!r} is not one the client reads") from None

    def raises(self, name: str, exception: type[ApiError], call, *, status: int,
               error_type: str, caused_by: str | None = None) -> dict:
        """Runs `call`, which must raise `exception` with the ES error envelope."""
        try:
            call()
        except ApiError as err:
            if type(err) is not exception:
                raise FlowFailure(f"{name}: raised {type(err).__name__} ({err.meta.status}), "
                                  f"not {exception.__name__}: {err.body}") from None
            self.headers_ok(name, err.meta.headers)
            body = err.body if isinstance(err.body, dict) else {}
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            root_cause = error.get("root_cause") or [{}]
            problems = {
                "status": (body.get("status"), status),
                "meta.status": (err.meta.status, status),
                "error.type": (error.get("type"), error_type),
                "error.root_cause[0].type": (root_cause[0].get("type"), error_type),
            }
            if caused_by is not None:
                problems["error.caused_by.type"] = ((error.get("caused_by") or {}).get("type"),
                                                    caused_by)
            wrong = {key: pair for key, pair in problems.items() if pair[0] != pair[1]}
            if wrong or not error.get("reason"):
                raise FlowFailure(f"{name}: envelope differs (got, wanted) {wrong}: {body}") from None
            self.checked.append(name)
            return body
        raise FlowFailure(f"{name}: no {exception.__name__} raised")


def run(url: str) -> dict:
    flow = Flow(url)
    es, cid = flow.client, flow.connector_id
    expect, answer = flow.expect, flow.answer

    expect("ping", es.ping() is True, f"HEAD {url}/ got no 2xx answer: is the service running there?")
    info = answer("info", es.info())
    expect("info names the cluster's version", bool(info.get("version", {}).get("number")), info)

    # Connector
    created = answer("connector.put", es.connector.put(
        connector_id=cid, index_name=flow.index_name, service_type="google_drive",
        name="Official client", description="driven by the official client", language="en",
        is_native=False))
    expect("connector.put created", created == {"id": cid, "result": "created"}, created)
    updated = answer("connector.put again", es.connector.put(
        connector_id=cid, index_name=flow.index_name, service_type="google_drive",
        name="Official client", language="en", is_native=False))
    expect("connector.put again updated", updated.get("result") == "updated", updated)

    connector = answer("connector.get", es.connector.get(connector_id=cid))
    expect("connector.get fields", (connector.get("id"), connector.get("index_name"),
                                    connector.get("service_type"), connector.get("language"))
           == (cid, flow.index_name, "google_drive", "en"), connector)

    listed = answer("connector.list", es.connector.list(index_name=flow.index_name))
    expect("connector.list by index_name", listed.get("count") == 1
           and [c.get("id") for c in listed.get("results", [])] == [cid], listed)
    listed = answer("connector.list by service_type",
                    es.connector.list(service_type=["google_drive", "sharepoint_online"], size=1000))
    expect("connector.list by service_type holds it",
           cid in [c.get("id") for c in listed.get("results", [])], listed)

    # A job through claim, check-in, stats, cancel and error
    posted = answer("sync_job_post", es.connector.sync_job_post(
        id=cid, job_type="full", trigger_method="on_demand"))
    job_id = posted.get("id")
    expect("sync_job_post id", isinstance(job_id, str) and bool(job_id), posted)

    job = answer("sync_job_get", es.connector.sync_job_get(connector_sync_job_id=job_id))
    expect("sync_job_get pending job", (job.get("id"), job.get("status"), job.get("job_type"),
                                        job.get("trigger_method"), job["connector"].get("id"))
           == (job_id, "pending", "full", "on_demand", cid), job)

    pending = answer("sync_job_list by status", es.connector.sync_job_list(
        connector_id=cid, status="pending"))
    expect("sync_job_list pending holds the job",
           [j.get("id") for j in pending.get("results", [])] == [job_id], pending)
    typed = answer("sync_job_list by job_type", es.connector.sync_job_list(
        connector_id=cid, job_type=["full", "incremental"]))
    expect("sync_job_list by job_type holds the job", typed.get("count") == 1, typed)
    none = answer("sync_job_list other status", es.connector.sync_job_list(
        connector_id=cid, status="completed"))
    expect("sync_job_list other status is empty", none == {"count": 0, "results": []}, none)

    claimed = answer("sync_job_claim", es.connector.sync_job_claim(
        connector_sync_job_id=job_id, worker_hostname="worker-1", sync_cursor={"page": 1}))
    expect("sync_job_claim result", claimed == {"result": "updated"}, claimed)
    job = es.connector.sync_job_get(connector_sync_job_id=job_id).body
    expect("sync_job_claim stored", (job.get("status"), job.get("worker_hostname"),
                                     job["connector"].get("sync_cursor"))
           == ("in_progress", "worker-1", {"page": 1}), job)

    before = job.get("last_seen")
    checked_in = answer("sync_job_check_in", es.connector.sync_job_check_in(
        connector_sync_job_id=job_id))
    expect("sync_job_check_in result", checked_in == {"result": "updated"}, checked_in)
    job = es.connector.sync_job_get(connector_sync_job_id=job_id).body
    expect("sync_job_check_in moves last_seen", job.get("last_seen", "") >= before, job)

    stats = answer("sync_job_update_stats", es.connector.sync_job_update_stats(
        connector_sync_job_id=job_id, deleted_document_count=1, indexed_document_count=10,
        indexed_document_volume=42, total_document_count=12, metadata={"pages": 3}))
    expect("sync_job_update_stats result", stats == {"result": "updated"}, stats)
    job = es.connector.sync_job_get(connector_sync_job_id=job_id).body
    expect("sync_job_update_stats stored", (
        job.get("deleted_document_count"), job.get("indexed_document_count"),
        job.get("indexed_document_volume"), job.get("total_document_count"), job.get("metadata"))
        == (1, 10, 42, 12, {"pages": 3}), job)

    answer("sync_job_cancel", es.connector.sync_job_cancel(connector_sync_job_id=job_id))
    job = es.connector.sync_job_get(connector_sync_job_id=job_id).body
    expect("sync_job_cancel of in_progress -> canceling", job.get("status") == "canceling", job)

    answer("sync_job_error", es.connector.sync_job_error(
        connector_sync_job_id=job_id, error="the worker gave up"))
    job = es.connector.sync_job_get(connector_sync_job_id=job_id).body
    expect("sync_job_error of canceling -> error",
           (job.get("status"), job.get("error")) == ("error", "the worker gave up"), job)

    # A second job, canceled while pending
    second = es.connector.sync_job_post(id=cid, job_type="incremental",
                                        trigger_method="scheduled").body["id"]
    answer("sync_job_cancel pending", es.connector.sync_job_cancel(connector_sync_job_id=second))
    job = es.connector.sync_job_get(connector_sync_job_id=second).body
    expect("sync_job_cancel of pending -> canceled",
           (job.get("status"), bool(job.get("canceled_at"))) == ("canceled", True), job)
    both = es.connector.sync_job_list(connector_id=cid, status=["canceled", "error"]).body
    expect("sync_job_list by two statuses holds both jobs",
           sorted(j["id"] for j in both["results"]) == sorted([job_id, second]), both)

    # The connector's last sync
    synced = answer("last_sync", es.connector.last_sync(
        connector_id=cid, last_sync_status="error", last_sync_error="the worker gave up",
        last_indexed_document_count=10, last_deleted_document_count=1))
    expect("last_sync result", synced == {"result": "updated"}, synced)
    connector = es.connector.get(connector_id=cid).body
    expect("last_sync stored", (connector.get("last_sync_status"), connector.get("last_sync_error"),
                                connector.get("last_indexed_document_count"))
           == ("error", "the worker gave up", 10), connector)

    # Errors, as the client raises them against Elasticsearch
    flow.raises("NotFoundError for an unknown job", NotFoundError,
                lambda: es.connector.sync_job_get(connector_sync_job_id="no-such-job"),
                status=404, error_type="resource_not_found_exception")
    flow.raises("NotFoundError for a sync job of an unknown connector", NotFoundError,
                lambda: es.connector.sync_job_post(id="no-such-connector", job_type="full"),
                status=404, error_type="resource_not_found_exception")
    flow.raises("BadRequestError for an invalid transition", BadRequestError,
                lambda: es.connector.sync_job_claim(connector_sync_job_id=job_id,
                                                    worker_hostname="worker-2"),
                status=400, error_type="status_exception", caused_by=INVALID_TRANSITION)
    flow.raises("BadRequestError for cancel of a finished job", BadRequestError,
                lambda: es.connector.sync_job_cancel(connector_sync_job_id=second),
                status=400, error_type="status_exception", caused_by=INVALID_TRANSITION)
    flow.raises("BadRequestError for an unknown body field", BadRequestError,
                lambda: es.connector.sync_job_claim(
                    connector_sync_job_id=job_id, body={"worker_hostname": "w", "bogus": 1}),
                status=400, error_type="x_content_parse_exception")
    flow.raises("BadRequestError for an unknown job_type", BadRequestError,
                lambda: es.connector.sync_job_post(id=cid, job_type="nightly"),
                status=400, error_type="x_content_parse_exception")
    flow.raises("BadRequestError for a missing required field", BadRequestError,
                lambda: es.connector.sync_job_error(connector_sync_job_id=job_id, body={}),
                status=400, error_type="illegal_argument_exception")

    # Cleanup through the API
    for name, jid in (("sync_job_delete", job_id), ("sync_job_delete second", second)):
        deleted = answer(name, es.connector.sync_job_delete(connector_sync_job_id=jid))
        expect(f"{name} acknowledged", deleted == {"acknowledged": True}, deleted)
    flow.raises("NotFoundError for a deleted job", NotFoundError,
                lambda: es.connector.sync_job_delete(connector_sync_job_id=job_id),
                status=404, error_type="resource_not_found_exception")
    deleted = answer("connector.delete", es.connector.delete(connector_id=cid))
    expect("connector.delete acknowledged", deleted == {"acknowledged": True}, deleted)
    flow.raises("NotFoundError for a deleted connector", NotFoundError,
                lambda: es.connector.get(connector_id=cid),
                status=404, error_type="resource_not_found_exception")

    conflicts = racing_connector_puts(flow, url)
    return {
        "client": ".".join(str(part) for part in elasticsearch.__version__),
        "service": url,
        "connector_id": cid,
        "checked": flow.checked,
        "racing_connector_puts": {"puts": RACERS * PUTS_PER_RACER, "conflict_errors": conflicts},
    }


RACERS, PUTS_PER_RACER = 3, 4


def racing_connector_puts(flow: Flow, url: str) -> int:
    """The one 409 a `_connector` route can answer: a connector PUT whose guarded rewrite
    lost a race (a lone caller never sees one). Every failure must be a ConflictError in the
    ES envelope; returns how many there were (0 is fine too)."""
    cid = f"{flow.connector_id}-raced"
    flow.client.connector.put(connector_id=cid, index_name=f"{flow.index_name}-raced",
                              service_type="google_drive")
    failures: list = []

    def put_many(racer: int) -> None:
        client = Elasticsearch(url, request_timeout=30)
        for n in range(PUTS_PER_RACER):
            try:
                client.connector.put(connector_id=cid, index_name=f"{flow.index_name}-raced",
                                     service_type="google_drive", name=f"racer {racer}.{n}")
            except (ApiError, TransportError) as err:
                failures.append(err)

    racers = [threading.Thread(target=put_many, args=(racer,)) for racer in range(RACERS)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()

    def is_conflict_error(err) -> bool:
        body = getattr(err, "body", None)
        error = body.get("error", {}) if isinstance(body, dict) else {}
        return (isinstance(err, ConflictError) and err.meta.status == 409
                and error.get("type") == "version_conflict_engine_exception"
                and err.meta.headers.get("x-elastic-product") == "Elasticsearch")

    others = [err for err in failures if not is_conflict_error(err)]
    flow.expect("racing connector.put fails only with ConflictError", not others,
                [{"class": type(err).__name__, "error": str(err)} for err in others])
    # Only the 9.x client has `hard`; the 8.x client soft-deletes.
    hard = {"hard": True} if "hard" in inspect.signature(flow.client.connector.delete).parameters else {}
    deleted = flow.answer("connector.delete of the raced connector",
                          flow.client.connector.delete(connector_id=cid, **hard))
    flow.expect("connector.delete of the raced connector acknowledged",
                deleted == {"acknowledged": True}, deleted)
    return len(failures)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} SERVICE_URL", file=sys.stderr)
        return 2
    try:
        summary = run(argv[1])
    except FlowFailure as failure:
        print(f"official client flow FAILED: {failure}", file=sys.stderr)
        return 1
    except ApiError as err:
        print(f"official client flow FAILED: unexpected {type(err).__name__} "
              f"({err.meta.status}): {err.body}", file=sys.stderr)
        return 1
    except TransportError as err:
        print(f"official client flow FAILED: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
