"""A call made on the event loop is left on the request for the thread path (app.observability
.context): the thread's first call of the same kind on the same document meets it instead of
being sent, once, and only within that request. No node: the outcomes are the client's own
exception classes, as the loop settles them."""

import contextvars

from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ConflictError

from app.observability import context

JOBS = ".elastic-connectors-sync-jobs"


def conflict() -> ConflictError:
    meta = ApiResponseMeta(status=409, http_version="1.1", headers=HttpHeaders(), duration=0.0,
                           node=NodeConfig("http", "127.0.0.1", 9200))
    return ConflictError(message="version_conflict_engine_exception", meta=meta, body={})


def in_request(run):
    """`run(request)` with a request of its own as the current one, as on an app thread."""

    def within():
        request = context.new(None, None)
        context.use(request)
        return run(request)

    return contextvars.Context().run(within)


def test_the_thread_path_meets_a_settled_read_once():
    read = {"_source": {"status": "in_progress"}, "_seq_no": 4, "_primary_term": 1}

    def run(request):
        request.settle("get", JOBS, "job-1", answer=read)
        return [context.take_settled("get", JOBS, "job-1"), context.take_settled("get", JOBS, "job-1")]

    first, again = in_request(run)
    assert first.answer == read and first.failure is None
    assert again is None  # the next read is sent


def test_a_settled_update_is_met_as_the_failure_the_client_raised():
    failure = conflict()

    def run(request):
        request.settle("update", JOBS, "job-1", failure=failure)
        return context.take_settled("update", JOBS, "job-1")

    met = in_request(run)
    assert met.failure is failure and met.answer is None


def test_a_settled_call_is_met_only_by_the_same_kind_on_the_same_document():
    def run(request):
        request.settle("get", JOBS, "job-1", answer={"_source": {}})
        request.settle("update", JOBS, "job-2", failure=conflict())
        return [context.take_settled("update", JOBS, "job-1"),
                context.take_settled("get", JOBS, "job-2"),
                context.take_settled("get", ".elastic-connectors", "job-1"),
                context.take_settled("get", JOBS, "job-1") is not None,
                context.take_settled("update", JOBS, "job-2") is not None]

    assert in_request(run) == [None, None, None, True, True]


def test_nothing_is_met_outside_the_request_that_settled_it():
    def settle(request):
        request.settle("get", JOBS, "job-1", answer={"_source": {}})

    in_request(settle)
    assert in_request(lambda request: context.take_settled("get", JOBS, "job-1")) is None
    assert context.take_settled("get", JOBS, "job-1") is None  # no request at all
