"""What a caller may store: every `keyword` field a caller writes is bounded by what the node can
index (a clear 400 instead of Elasticsearch's refusal of the whole document), and no write makes
a connector or job larger than MAX_DOCUMENT_BYTES, while what a real worker stores still fits.
"""

import json
from pathlib import Path

import pytest
import urllib3

from app.schemas.fields import MAX_KEYWORD_BYTES
from app.services.bounds import encoded_size
from app.storage import SYNC_JOBS_INDEX
from tests.support.api_client import error_type
from tests.support.live_server import production_server
from tests.support.stored import stored_connector, stored_job

TEMPLATES = Path(__file__).resolve().parents[2] / "index_templates"
CONNECTOR = "bounded"
RULE = {"field": "title", "id": "r1", "order": 0, "policy": "exclude", "rule": "equals",
        "value": "x"}
PIPELINE = {"extract_binary_content": True, "name": "p", "reduce_whitespace": True,
            "run_ml_inference": False}


def keyword_fields(template: str) -> set[str]:
    """The `keyword` fields of one of the mappings, as dotted paths."""
    mappings = json.loads((TEMPLATES / template).read_text())["template"]["mappings"]

    def walk(properties: dict, prefix: str):
        for name, field in properties.items():
            if "properties" in field:
                yield from walk(field["properties"], f"{prefix}{name}.")
            elif field.get("type") == "keyword":
                yield prefix + name

    return set(walk(mappings["properties"], ""))


# Each keyword field a caller writes: the route that writes it, and a body holding `text` there.
CALLER_WRITTEN = {
    "connector": {
        "name": ("", lambda text: {"name": text, "index_name": "search-bounded"}),
        "language": ("", lambda text: {"language": text}),
        "service_type": ("_service_type", lambda text: {"service_type": text}),
        "error": ("_error", lambda text: {"error": text}),
        "api_key_id": ("_api_key_id", lambda text: {"api_key_id": text}),
        "pipeline.name": ("_pipeline", lambda text: {"pipeline": {**PIPELINE, "name": text}}),
        "last_sync_error": ("_last_sync", lambda text: {"last_sync_error": text}),
        "last_access_control_sync_error": (
            "_last_sync", lambda text: {"last_access_control_sync_error": text}),
        "filtering.draft.rules.field": ("_filtering", lambda text: {"rules": [{**RULE, "field": text}]}),
        "filtering.draft.rules.id": ("_filtering", lambda text: {"rules": [{**RULE, "id": text}]}),
        "filtering.draft.rules.value": ("_filtering", lambda text: {"rules": [{**RULE, "value": text}]}),
        "filtering.draft.validation.errors.ids": ("_filtering/_validation", lambda text: {
            "validation": {"state": "invalid", "errors": [{"ids": [text], "messages": ["m"]}]}}),
    },
    "job": {
        "worker_hostname": ("_claim", lambda text: {"worker_hostname": text}),
        "error": ("_error", lambda text: {"error": text}),
    },
}
# Keyword fields only the service writes, or that a caller can only set to known values.
SERVICE_WRITTEN = {
    "connector": {
        "index_name",  # an index name: at most 255 bytes, checked as Elasticsearch checks it
        "status", "last_sync_status", "last_access_control_sync_status",  # enums
        "filtering.domain",  # always DEFAULT
        "filtering.active.rules.field", "filtering.active.rules.id",  # the draft's, activated
        "filtering.active.rules.value", "filtering.active.validation.errors.ids",
        "filtering.active.rules.policy", "filtering.draft.rules.policy",  # enums
        "filtering.active.rules.rule", "filtering.draft.rules.rule",
        "filtering.active.validation.state", "filtering.draft.validation.state",
    },
    "job": {
        "status", "job_type", "trigger_method",  # enums
        "connector.id",  # the id of an existing connector
        # The snapshot: copied from the connector, bounded there.
        "connector.index_name", "connector.language", "connector.service_type",
        "connector.pipeline.name", "connector.filtering.domain",
        "connector.filtering.rules.field", "connector.filtering.rules.id",
        "connector.filtering.rules.value", "connector.filtering.rules.policy",
        "connector.filtering.rules.rule", "connector.filtering.warnings.ids",
    },
}
TEMPLATE_OF = {"connector": "elastic-connectors-mappings.json",
               "job": "elastic-connectors-sync-jobs-mappings.json"}
BOUND_OF = {("job", "worker_hostname"): 255}


@pytest.mark.parametrize("kind", ["connector", "job"])
def test_every_keyword_field_of_the_mappings_is_bounded_here_or_written_by_the_service(kind):
    assert set(CALLER_WRITTEN[kind]) | SERVICE_WRITTEN[kind] == keyword_fields(TEMPLATE_OF[kind])


@pytest.fixture
def connector_id(api):
    return api.create_connector(CONNECTOR, index_name="search-bounded")


def write(api, kind: str, target: str, route: str, body: dict, expect: int):
    if kind == "job":
        return api.call("PUT", f"/_connector/_sync_job/{target}/{route}", body, expect=expect)
    path = f"/_connector/{target}" + (f"/{route}" if route else "")
    return api.call("PUT", path, body, expect=expect)


def prepared(api, es, kind: str, field: str) -> tuple[str, dict]:
    """The document the write goes to, in a state that accepts it."""
    if kind == "connector":
        return CONNECTOR, stored_connector(es, CONNECTOR)
    job_id = api.new_job(CONNECTOR)
    if field == "error":
        api.claim(job_id)
    return job_id, stored_job(es, job_id)


CASES = [(kind, field) for kind, fields in CALLER_WRITTEN.items() for field in fields]


@pytest.mark.parametrize(("kind", "field"), CASES, ids=[f"{k}-{f}" for k, f in CASES])
def test_a_keyword_value_at_its_bound_is_stored_and_one_byte_more_is_400(
        api, es, connector_id, kind, field):
    route, body_with = CALLER_WRITTEN[kind][field]
    bound = BOUND_OF.get((kind, field), MAX_KEYWORD_BYTES)
    target, before = prepared(api, es, kind, field)

    too_long = "é" * (bound // 2) + "x" * (bound % 2 + 1)  # bound + 1 bytes, not characters
    answer = write(api, kind, target, route, body_with(too_long), expect=400)
    assert error_type(answer) in ("action_request_validation_exception", "x_content_parse_exception")
    assert f"is {bound + 1} bytes long, more than the {bound} bytes it may hold" in json.dumps(
        answer, ensure_ascii=False)
    after = stored_connector(es, target) if kind == "connector" else stored_job(es, target)
    assert after == before

    # At the bound the node indexes it: the bound is the mapping's own limit, not a guess.
    write(api, kind, target, route, body_with("é" * (bound // 2) + "x" * (bound % 2)), expect=200)


# Documents that grow through merges

MiB = 1_048_576
# As scripts/serve will run with Elasticsearch's own body limit (100 MB).
LARGE_BODIES = {"MAX_BODY_BYTES": str(100 * MiB)}


@pytest.fixture(scope="module")
def large_bodies_url(elasticsearch_url, app):
    with production_server(elasticsearch_url, workers=1, env=LARGE_BODIES) as url:
        yield url


@pytest.fixture
def http():
    return urllib3.PoolManager(retries=False, timeout=60)


def sharepoint_cursor(drives: int) -> dict:
    """An incremental SharePoint Online cursor: one delta link per drive of every site."""
    return {"site_drives": {
        f"b!{n:06d}-{'A' * 58}": (
            f"https://graph.example/v1.0/drives/b!{n:06d}-{'A' * 58}/root/delta?"
            f"token={'aWQ9MTIzNDU2Nzg5MDEyMzQ1Njc4OTA' * 11}") for n in range(drives)}}


def test_metadata_cannot_grow_a_job_past_the_bound_and_heartbeats_still_land(
        api, es, connector_id, large_bodies_url, http):
    job_id = api.new_job(CONNECTOR)
    api.claim(job_id)
    stats = {"deleted_document_count": 0, "indexed_document_count": 1, "indexed_document_volume": 1}
    url = f"{large_bodies_url}/_connector/_sync_job/{job_id}/_stats"
    answers = []
    for n in range(20):
        # 1 MB under a new key each time: the merge only ever adds.
        answer = http.request("PUT", url, json={**stats, "metadata": {f"k{n}": "m" * 1_000_000}})
        answers.append(answer.status)
        if answer.status == 400:
            break
    assert answers == [200] * 8 + [400]
    assert answer.json()["error"]["reason"].startswith(
        f"The update would make connector sync job [{job_id}] ")
    assert "more than the 8388608 bytes a document may hold (MAX_DOCUMENT_BYTES)" in (
        answer.json()["error"]["reason"])
    stored = stored_job(es, job_id)
    assert encoded_size(stored) <= 8 * MiB
    assert sorted(stored["metadata"]) == [f"k{n}" for n in range(8)]
    # The worker's own heartbeat (metadata {}) grows nothing: it still lands.
    assert http.request("PUT", url, json={**stats, "metadata": {}}).status == 200


def test_a_real_workers_large_cursor_still_works_at_claim_and_last_sync(
        api, es, connector_id, large_bodies_url, http):
    cursor = sharepoint_cursor(2_330)
    assert 1_200_000 < len(json.dumps(cursor)) < 1_300_000  # 1.26 MB, as reported by a user
    job_id = api.new_job(CONNECTOR, job_type="incremental")
    claim = http.request("PUT", f"{large_bodies_url}/_connector/_sync_job/{job_id}/_claim",
                         json={"worker_hostname": "worker-1", "sync_cursor": cursor})
    assert claim.status == 200, claim.data[:300]
    assert stored_job(es, job_id)["connector"]["sync_cursor"] == cursor
    last_sync = http.request("PUT", f"{large_bodies_url}/_connector/{CONNECTOR}/_last_sync",
                             json={"sync_cursor": cursor, "last_sync_status": "completed"})
    assert last_sync.status == 200, last_sync.data[:300]
    assert stored_connector(es, CONNECTOR)["sync_cursor"] == cursor


def test_a_cursor_past_the_bound_is_400_at_claim_and_the_job_stays_pending(
        api, es, connector_id, large_bodies_url, http):
    job_id = api.new_job(CONNECTOR, job_type="incremental")
    claim = http.request("PUT", f"{large_bodies_url}/_connector/_sync_job/{job_id}/_claim",
                         json={"worker_hostname": "worker-1", "sync_cursor": sharepoint_cursor(17_000)})
    assert claim.status == 400
    assert error_type(claim.json()) == "illegal_argument_exception"
    job = es.get(index=SYNC_JOBS_INDEX, id=job_id)["_source"]
    assert (job["status"], "sync_cursor" in job["connector"]) == ("pending", False)


def test_configuration_cannot_grow_a_connector_past_the_bound(api, es, connector_id,
                                                              large_bodies_url, http):
    big = {f"field_{n}": {"label": f"Field {n}", "value": "v" * 1_000_000} for n in range(9)}
    answer = http.request("PUT", f"{large_bodies_url}/_connector/{CONNECTOR}/_configuration",
                          json={"configuration": big})
    assert answer.status == 400
    assert answer.json()["error"]["reason"].startswith(
        f"The update would make connector [{CONNECTOR}] ")
    assert stored_connector(es, CONNECTOR)["configuration"] == {}
