"""The official Elasticsearch Python client, unmodified, against this service.

tests/support/official_client_flow.py drives a connector and its jobs through their whole life; it
runs here once with the project's 8.x client and once with a 9.x client from its own
virtualenv (.elasticsearch/client9-venv, installed by the session on first use), against the
app served over real HTTP. The in-process tests pin the exception classes and bodies the 8.x
client raises.
"""

import fcntl
import json
import subprocess
import sys
from pathlib import Path

import pytest
from elasticsearch import BadRequestError, Elasticsearch, NotFoundError

from app.storage import SYNC_JOBS_INDEX
from tests.support.live_server import serving
from tests.support.stored import stored_connector, stored_job

# The connector APIs are beta/experimental in the client, which warns on each call.
pytestmark = pytest.mark.filterwarnings(
    "ignore::elasticsearch.exceptions.GeneralAvailabilityWarning")

ROOT = Path(__file__).resolve().parents[2]
FLOW = ROOT / "tests" / "support" / "official_client_flow.py"
CLIENT9_VENV = ROOT / ".elasticsearch" / "client9-venv"
CLIENT9_REQUIREMENT = "elasticsearch>=9,<10"
INVALID_TRANSITION = "connector_sync_job_invalid_status_transition_exception"


def client_major(python: Path | str) -> int | None:
    """The major version of the `elasticsearch` client `python` imports, None if none."""
    probe = subprocess.run(
        [str(python), "-c", "import elasticsearch; print(elasticsearch.__versionstr__)"],
        capture_output=True, text=True, timeout=60)
    return int(probe.stdout.split(".")[0]) if probe.returncode == 0 else None


@pytest.fixture(scope="session")
def client9_python() -> Path:
    """A python with the 9.x client: the git-ignored virtualenv, created and filled once."""
    python = CLIENT9_VENV / "bin" / "python"
    CLIENT9_VENV.parent.mkdir(exist_ok=True)
    # Several test sessions may start at once: one installs, the others wait and reuse.
    with open(CLIENT9_VENV.parent / "client9-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and client_major(python) == 9:
            return python
        steps = [[sys.executable, "-m", "venv", str(CLIENT9_VENV)],
                 [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                  CLIENT9_REQUIREMENT]]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                pytest.fail(f"could not set up the 9.x client in {CLIENT9_VENV}: "
                            f"{' '.join(step)}\n{done.stdout}{done.stderr}", pytrace=False)
    if client_major(python) != 9:
        pytest.fail(f"{python} does not import a 9.x elasticsearch client", pytrace=False)
    return python


@pytest.fixture(scope="module")
def recorded_service(app):
    """The app over real HTTP, remembering each request's media type headers."""
    seen: list[dict] = []

    def recording(environ, start_response):
        seen.append({"method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"],
                     "accept": environ.get("HTTP_ACCEPT"),
                     "content_type": environ.get("CONTENT_TYPE") or None})
        return app(environ, start_response)

    with serving(recording) as url:
        yield url, seen


def run_flow(python, url: str) -> dict:
    done = subprocess.run([str(python), str(FLOW), url], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"flow failed with {python}:\n{done.stderr}"
    return json.loads(done.stdout)


def job_ids_of(es, connector_id: str) -> list[str]:
    es.indices.refresh(index=SYNC_JOBS_INDEX)
    hits = es.search(index=SYNC_JOBS_INDEX, query={"term": {"connector.id": connector_id}},
                     size=100)["hits"]["hits"]
    return [hit["_id"] for hit in hits]


FLOW_CHECKS = {
    "ping", "info", "connector.put", "connector.get", "connector.list", "sync_job_post", "sync_job_get",
    "sync_job_list by status", "sync_job_list by job_type", "sync_job_claim",
    "sync_job_check_in", "sync_job_update_stats stored",
    "sync_job_cancel of in_progress -> canceling", "sync_job_error of canceling -> error",
    "sync_job_cancel of pending -> canceled", "last_sync stored", "sync_job_delete",
    "connector.delete", "NotFoundError for an unknown job",
    "BadRequestError for an invalid transition", "BadRequestError for an unknown body field",
    "NotFoundError for a deleted connector",
}


@pytest.mark.parametrize("major", [8, 9])
def test_official_client_drives_a_sync_job_through_its_whole_life(
        major, recorded_service, request, es):
    url, seen = recorded_service
    python = sys.executable if major == 8 else request.getfixturevalue("client9_python")
    seen.clear()

    summary = run_flow(python, url)

    assert summary["client"].startswith(f"{major}.")
    assert FLOW_CHECKS <= set(summary["checked"])
    # Every request carried the client's compatibility media types, and was served.
    compatible = f"application/vnd.elasticsearch+json; compatible-with={major}"
    assert seen and all(call["accept"] == compatible for call in seen)
    with_body = [call for call in seen if call["content_type"]]
    assert with_body and all(call["content_type"] == compatible for call in with_body)
    # What the flow left behind: its connector soft-deleted, its jobs deleted.
    connector_id = summary["connector_id"]
    assert stored_connector(es, connector_id)["deleted"] is True
    assert job_ids_of(es, connector_id) == []


@pytest.fixture
def service(recorded_service):
    client = Elasticsearch(recorded_service[0], request_timeout=30)
    yield client
    client.close()


@pytest.fixture
def job_id(service):
    service.connector.put(connector_id="official", index_name="search-official",
                          service_type="google_drive")
    return service.connector.sync_job_post(id="official", job_type="full")["id"]


def envelope(error_type: str, reason: str, status: int, **extra) -> dict:
    cause = {"type": error_type, "reason": reason}
    return {"error": {"root_cause": [cause], **cause, **extra}, "status": status}


def test_unknown_sync_job_raises_not_found_error_in_the_es_envelope(service):
    with pytest.raises(NotFoundError) as raised:
        service.connector.sync_job_get(connector_sync_job_id="no-such-job")
    assert raised.value.meta.status == 404
    assert raised.value.meta.headers["X-Elastic-Product"] == "Elasticsearch"
    assert raised.value.body == envelope("resource_not_found_exception", "no-such-job", 404)


def test_sync_job_of_unknown_connector_raises_not_found_error(service, es):
    with pytest.raises(NotFoundError) as raised:
        service.connector.sync_job_post(id="no-such-connector", job_type="full")
    assert raised.value.body == envelope(
        "resource_not_found_exception", "Connector with id 'no-such-connector' does not exist.", 404)
    assert job_ids_of(es, "no-such-connector") == []


def test_claim_of_a_claimed_job_raises_bad_request_error_caused_by_invalid_transition(
        service, es, job_id):
    service.connector.sync_job_claim(connector_sync_job_id=job_id, worker_hostname="first")
    with pytest.raises(BadRequestError) as raised:
        service.connector.sync_job_claim(connector_sync_job_id=job_id, worker_hostname="second")
    error = raised.value.body["error"]
    assert raised.value.meta.status == 400
    assert raised.value.body["status"] == 400
    assert error["type"] == error["root_cause"][0]["type"] == "status_exception"
    assert error["caused_by"] == {"type": INVALID_TRANSITION, "reason": error["reason"]}
    assert "[in_progress] to [in_progress]" in error["reason"]
    job = stored_job(es, job_id)
    assert (job["status"], job["worker_hostname"]) == ("in_progress", "first")


def test_unknown_body_field_raises_bad_request_error_and_changes_nothing(service, es, job_id):
    with pytest.raises(BadRequestError) as raised:
        service.connector.sync_job_claim(connector_sync_job_id=job_id,
                                         body={"worker_hostname": "w", "bogus": 1})
    error = raised.value.body["error"]
    assert error["type"] == error["root_cause"][0]["type"] == "x_content_parse_exception"
    assert "bogus" in error["reason"]
    job = stored_job(es, job_id)
    assert job["status"] == "pending"
    assert "worker_hostname" not in job


def test_missing_required_field_raises_bad_request_error_naming_it(service, es, job_id):
    with pytest.raises(BadRequestError) as raised:
        service.connector.sync_job_error(connector_sync_job_id=job_id, body={})
    assert raised.value.body == envelope("illegal_argument_exception", "Required [error]", 400)
    assert "error" not in stored_job(es, job_id)


def test_answers_carry_the_product_header_and_a_content_type_the_client_reads(service, job_id):
    answer = service.connector.sync_job_get(connector_sync_job_id=job_id)
    assert answer.meta.status == 200
    assert answer.meta.headers["X-Elastic-Product"] == "Elasticsearch"
    assert answer.meta.mimetype == "application/json"
    assert answer["id"] == job_id
