"""Pages on other origins cannot write through the service, and names it does not answer to
cannot reach it (DNS rebinding). Over real HTTP against the service as deployed; the browser's
own view is in tests/system/test_dashboard.py."""

import base64

import pytest
import urllib3

from app.storage import CONNECTORS_INDEX, SYNC_JOBS_INDEX
from tests.support.live_server import production_server

FOREIGN = "https://evil.example"
LISTED = "https://dashboard.example"
KEY = "a2V5LWlkOmtleS1zZWNyZXQ="
BASIC = "Basic " + base64.b64encode(b"alice:s3cret").decode()
REBIND = "rebind.attacker.example"
INDEX = "cross-site-test"

# Each auth mode with the credentials a legitimate caller sends (a CSRF page has them too:
# a browser resends basic credentials by itself).
AUTH_MODES = {
    "none": ({"AUTH_MODE": "none"}, {}),
    "api_key": ({"AUTH_MODE": "api_key", "AUTH_API_KEYS": KEY}, {"Authorization": f"ApiKey {KEY}"}),
    "basic": ({"AUTH_MODE": "basic", "AUTH_BASIC_USERS": "alice:s3cret"}, {"Authorization": BASIC}),
}


@pytest.fixture(scope="module", params=list(AUTH_MODES))
def served(request, elasticsearch_url):
    settings, credentials = AUTH_MODES[request.param]
    env = {**settings, "CORS_ALLOWED_ORIGINS": "", "ALLOWED_HOSTS": "svc.example"}
    with production_server(elasticsearch_url, workers=1, threads=8, env=env) as url:
        yield url, credentials


@pytest.fixture
def http():
    return urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=30))


@pytest.fixture
def connector(api):
    return api.create_connector("cross-site", index_name="search-cross-site")


def call(http, url, method, path, *, body=None, headers=None, credentials=None):
    return http.request(method, url + path, body=body,
                        headers={**(credentials or {}), **(headers or {})})


def counts(es) -> tuple[int, int]:
    es.indices.refresh(index=[SYNC_JOBS_INDEX, CONNECTORS_INDEX])
    return es.count(index=SYNC_JOBS_INDEX)["count"], es.count(index=CONNECTORS_INDEX)["count"]


# Bodies that are not JSON: what a page may send without asking first


@pytest.mark.parametrize("content_type", [None, "text/plain;charset=UTF-8",
                                          "application/x-www-form-urlencoded"])
@pytest.mark.parametrize("path", ["/_connector/_sync_job", "/_connector"])
def test_a_body_without_a_json_content_type_is_406_and_writes_nothing(
        served, http, es, connector, path, content_type):
    url, credentials = served
    before = counts(es)
    headers = {"Content-Type": content_type} if content_type else {}

    response = call(http, url, "POST", path, body=b'{"id": "cross-site"}', headers=headers,
                    credentials=credentials)

    assert response.status == 406
    assert response.json()["error"]["reason"] == (
        f"Content-Type header [{content_type or ''}] is not supported")
    assert counts(es) == before


def test_a_bodyless_put_sent_as_octet_stream_still_works(served, http, es, connector, api):
    url, credentials = served
    job_id = api.new_job(connector)
    api.claim(job_id)

    response = call(http, url, "PUT", f"/_connector/_sync_job/{job_id}/_check_in",
                    headers={"Content-Type": "application/octet-stream"}, credentials=credentials)

    assert response.status == 200, response.data


# Writes from other origins


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/_connector/_sync_job", b'{"id": "cross-site"}'),
    ("POST", "/_connector", b'{"index_name": "search-x", "service_type": "x"}'),
    ("POST", "/_connector/_sync_job/_stale/_error?older_than=1s", None),
    ("PUT", "/_connector/cross-site/_check_in", None),
    ("PUT", f"/{INDEX}/_doc/1", b'{"n": 1}'),
    ("DELETE", "/_connector/cross-site", None),
], ids=["create job", "create connector", "fail stale jobs", "check in", "forwarded write",
        "delete connector"])
def test_a_write_from_another_origin_is_403_in_every_auth_mode(served, http, es, connector,
                                                              method, path, body):
    url, credentials = served
    before = counts(es)

    response = call(http, url, method, path, body=body, credentials=credentials,
                    headers={"Origin": FOREIGN, "Content-Type": "application/json"})

    assert response.status == 403
    assert response.json()["error"]["type"] == "security_exception"
    assert counts(es) == before
    assert not es.indices.exists(index=INDEX)
    assert es.get(index=CONNECTORS_INDEX, id="cross-site")["_source"].get("deleted") is not True


def test_a_write_from_the_services_own_origin_is_served(served, http, es, connector):
    url, credentials = served
    host = url.removeprefix("http://")

    response = call(http, url, "POST", "/_connector/_sync_job", body=b'{"id": "cross-site"}',
                    credentials=credentials,
                    headers={"Origin": url, "Host": host, "Content-Type": "application/json"})

    assert response.status == 201, response.data


def test_a_read_from_another_origin_is_answered_without_letting_the_page_read_it(served, http):
    url, credentials = served

    response = call(http, url, "GET", "/_connector/_sync_job", credentials=credentials,
                    headers={"Origin": FOREIGN})

    assert response.status == 200
    assert "Access-Control-Allow-Origin" not in response.headers


def test_an_origin_listed_in_cors_allowed_origins_may_write(elasticsearch_url, http, es, connector):
    with production_server(elasticsearch_url, workers=1, threads=4,
                           env={"CORS_ALLOWED_ORIGINS": LISTED}) as url:
        response = call(http, url, "POST", "/_connector/_sync_job", body=b'{"id": "cross-site"}',
                        headers={"Origin": LISTED, "Content-Type": "application/json"})

    assert response.status == 201, response.data
    assert response.headers["Access-Control-Allow-Origin"] == LISTED


# Host names: DNS rebinding


def test_a_rebinding_name_gets_nothing_not_even_forwarded_documents(served, http, es, connector):
    url, credentials = served
    port = url.rsplit(":", 1)[1]

    forwarded = call(http, url, "GET", f"/{CONNECTORS_INDEX}/_doc/cross-site",
                     credentials=credentials, headers={"Host": f"{REBIND}:{port}"})
    own = call(http, url, "GET", "/_connector/cross-site", credentials=credentials,
               headers={"Host": f"{REBIND}:{port}"})

    assert (forwarded.status, own.status) == (400, 400)
    assert REBIND in forwarded.json()["error"]["reason"]
    assert "_source" not in forwarded.json()


def test_a_rebinding_page_cannot_pass_as_the_services_own_origin(served, http, es, connector):
    url, credentials = served
    port = url.rsplit(":", 1)[1]
    before = counts(es)

    response = call(http, url, "POST", "/_connector/_sync_job", body=b'{"id": "cross-site"}',
                    credentials=credentials,
                    headers={"Host": f"{REBIND}:{port}", "Origin": f"http://{REBIND}:{port}",
                             "Content-Type": "application/json"})

    assert response.status == 400
    assert counts(es) == before


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "10.1.2.3", "svc.example",
                                  "SVC.example"])
def test_ip_addresses_localhost_and_allowed_hosts_are_answered(served, http, host):
    url, credentials = served
    port = url.rsplit(":", 1)[1]

    response = call(http, url, "GET", "/_connector/_sync_job", credentials=credentials,
                    headers={"Host": f"{host}:{port}"})

    assert response.status == 200, response.data


def test_health_refuses_a_rebinding_name_too(served, http):
    url, _ = served

    response = call(http, url, "GET", "/_connector_service/health", headers={"Host": REBIND})

    assert response.status == 400
