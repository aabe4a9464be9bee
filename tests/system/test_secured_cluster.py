"""A secured cluster end to end: TLS to Elasticsearch, the service's own least-privilege user,
and AUTH_MODE left unset, so the cluster authenticates every caller and each route checks the
cluster privilege the built-in connector API requires (`monitor_connector` to read,
`manage_connector` to write). Over real HTTP against the service as scripts/serve runs it, in
front of the suite's secured node (tests/support/secured.py)."""

import json

import pytest
import urllib3
from elasticsearch import AuthorizationException, Elasticsearch

from app.storage import (
    CONCRETE_CONNECTORS_INDEX,
    CONCRETE_SYNC_JOBS_INDEX,
    CONNECTORS_INDEX,
    SYNC_JOBS_INDEX,
)
from tests.support.api_client import ApiClient, error_type
from tests.support.live_server import HttpClient
from tests.support.secured import SERVICE_USER, basic, password_of
from tests.support.stored import stored_connector, stored_job

CONNECTOR = "secured-connector"
CHALLENGES = ['Basic realm="security", charset="UTF-8"', 'Bearer realm="security"', "ApiKey"]
READ_PRIVILEGES = "[monitor_connector,manage_connector,manage,all]"
WRITE_PRIVILEGES = "[manage_connector,manage,all]"
A = "cluster:admin/xpack/connector/"


@pytest.fixture
def as_user(secured_node, secured_url, secured_es):
    """An ApiClient over real HTTP that sends one of the node's users' credentials."""

    def client(user: str) -> ApiClient:
        return ApiClient(HttpClient(secured_url, secured_node.headers(user)))

    return client


@pytest.fixture
def job(as_user):
    """A connector and one pending job of it, made by a connector manager."""
    manager = as_user("manager")
    manager.create_connector(CONNECTOR, index_name="search-secured")
    return manager.new_job(CONNECTOR)


def versions(es) -> dict:
    """Every stored document's version: what a refused write must leave alone."""
    found = {}
    for index in (CONNECTORS_INDEX, SYNC_JOBS_INDEX):
        es.indices.refresh(index=index)
        for hit in es.search(index=index, seq_no_primary_term=True, size=100)["hits"]["hits"]:
            found[hit["_id"]] = hit["_seq_no"]
    return found


# The service's own identity


def test_the_service_runs_with_exactly_its_documented_role_and_no_connector_privilege(
        secured_node, secured_es, secured_url):
    service = Elasticsearch(secured_node.url, ca_certs=secured_node.ca_certs,
                            basic_auth=(SERVICE_USER, password_of(SERVICE_USER)))
    with open("roles/connector_sync_jobs.json") as role_file:
        documented = json.load(role_file)

    who = service.security.authenticate()
    granted = service.security.get_user_privileges()
    held = service.security.has_privileges(
        cluster=["monitor_connector", "manage_connector", "manage", "manage_security"],
        index=[{"names": [CONCRETE_SYNC_JOBS_INDEX], "privileges": ["delete_index", "manage"]}])
    service.close()

    assert who["roles"] == ["connector_sync_jobs"]
    assert sorted(granted["cluster"]) == sorted(documented["cluster"])
    assert [(sorted(i["names"]), sorted(i["privileges"])) for i in granted["indices"]] == [
        (sorted(i["names"]), sorted(i["privileges"])) for i in documented["indices"]]
    assert not any(held["cluster"].values()), held
    assert not any(held["index"][CONCRETE_SYNC_JOBS_INDEX].values()), held
    # On a node that had none, that user installed the templates and made both indices.
    aliases = secured_es.indices.get_alias(index=[CONCRETE_CONNECTORS_INDEX, CONCRETE_SYNC_JOBS_INDEX])
    assert CONNECTORS_INDEX in aliases[CONCRETE_CONNECTORS_INDEX]["aliases"]
    assert SYNC_JOBS_INDEX in aliases[CONCRETE_SYNC_JOBS_INDEX]["aliases"]
    health = HttpClient(secured_url, secured_node.headers("reader")).open(
        "/_connector_service/health").get_json()
    assert health["status"] == "green" and health["index_templates"] == {"installed": True}


# manage_connector: the whole life of a job


def test_a_manage_connector_user_drives_a_job_through_its_whole_life(as_user, secured_es):
    manager = as_user("manager")
    manager.create_connector(CONNECTOR, index_name="search-secured")
    job_id = manager.new_job(CONNECTOR, job_type="incremental")
    assert manager.list_sync_jobs(connector_id=CONNECTOR)["count"] == 1

    manager.claim(job_id, worker_hostname="secured-worker", sync_cursor={"page": 1})
    manager.check_in(job_id)
    manager.set_stats(job_id, indexed_document_count=12, indexed_document_volume=1)
    manager.cancel(job_id)
    assert stored_job(secured_es, job_id)["status"] == "canceling"
    manager.set_error(job_id, error="stopped by the operator")
    manager.last_sync(CONNECTOR, {"last_sync_status": "error",
                                  "last_sync_error": "stopped by the operator"})

    stored = stored_job(secured_es, job_id)
    assert (stored["status"], stored["worker_hostname"], stored["indexed_document_count"]) == (
        "error", "secured-worker", 12)
    assert stored_connector(secured_es, CONNECTOR)["last_sync_status"] == "error"
    assert manager.get_sync_job(job_id)["error"] == "stopped by the operator"
    manager.delete_sync_job(job_id)
    manager.delete_connector(CONNECTOR, hard="true")
    assert not secured_es.exists(index=SYNC_JOBS_INDEX, id=job_id)
    assert not secured_es.exists(index=CONNECTORS_INDEX, id=CONNECTOR)


# monitor_connector: reads, and a 403 on every write


READS = ["/_connector/_sync_job", "/_connector/_sync_job/{job}", f"/_connector/{CONNECTOR}",
         "/_connector", "/_connector/_sync_job/_stale", "/_connector_service/sync_job_summary",
         "/_connector/_sync_job/_retention?keep_last=1",
         "/_connector_service/health", "/_connector_service/openapi.json"]


def test_a_monitor_connector_user_reads_jobs_connectors_and_the_summary(as_user, job):
    reader = as_user("reader")

    for path in READS:
        reader.call("GET", path.format(job=job), expect=200)

    assert reader.get_sync_job(job)["status"] == "pending"
    assert reader.list_sync_jobs()["count"] == 1
    assert reader.get_connector(CONNECTOR)["index_name"] == "search-secured"


# Each write route, and the reference action (`*Action.NAME`) it is authorized as.
WRITES = [
    ("POST", "/_connector/_sync_job", {"id": CONNECTOR}, "sync_job/post"),
    ("DELETE", "/_connector/_sync_job/{job}", None, "sync_job/delete"),
    ("PUT", "/_connector/_sync_job/{job}/_check_in", None, "sync_job/check_in"),
    ("PUT", "/_connector/_sync_job/{job}/_claim", {"worker_hostname": "w"}, "sync_job/claim"),
    ("PUT", "/_connector/_sync_job/{job}/_cancel", None, "sync_job/cancel"),
    ("PUT", "/_connector/_sync_job/{job}/_error", {"error": "x"}, "sync_job/update_error"),
    ("PUT", "/_connector/_sync_job/{job}/_stats", {"deleted_document_count": 0,
     "indexed_document_count": 1, "indexed_document_volume": 0}, "sync_job/update_stats"),
    ("PUT", f"/_connector/{CONNECTOR}", {"index_name": "search-other"}, "put"),
    ("PUT", "/_connector", {"index_name": "search-other"}, "put"),
    ("POST", "/_connector", {"index_name": "search-other"}, "post"),
    ("DELETE", f"/_connector/{CONNECTOR}", None, "delete"),
    ("PUT", f"/_connector/{CONNECTOR}/_check_in", None, "update_last_seen"),
    ("PUT", f"/_connector/{CONNECTOR}/_last_sync", {"last_sync_status": "completed"},
     "update_last_sync_stats"),
    ("PUT", f"/_connector/{CONNECTOR}/_error", {"error": "x"}, "update_error"),
    ("PUT", f"/_connector/{CONNECTOR}/_status", {"status": "connected"}, "update_status"),
    ("PUT", f"/_connector/{CONNECTOR}/_configuration", {"values": {}}, "update_configuration"),
    ("PUT", f"/_connector/{CONNECTOR}/_filtering", {"rules": []}, "update_filtering"),
    ("PUT", f"/_connector/{CONNECTOR}/_filtering/_validation",
     {"validation": {"state": "valid", "errors": []}}, "update_filtering/draft_validation"),
    ("PUT", f"/_connector/{CONNECTOR}/_filtering/_activate", None, "update_filtering/activate"),
    ("PUT", f"/_connector/{CONNECTOR}/_index_name", {"index_name": "search-y"},
     "update_index_name"),
    ("PUT", f"/_connector/{CONNECTOR}/_service_type", {"service_type": "dir"},
     "update_service_type"),
    ("PUT", f"/_connector/{CONNECTOR}/_native", {"is_native": False}, "update_native"),
    ("PUT", f"/_connector/{CONNECTOR}/_name", {"name": "n"}, "update_name"),
    ("PUT", f"/_connector/{CONNECTOR}/_api_key_id", {"api_key_id": "k"}, "update_api_key_id"),
    ("PUT", f"/_connector/{CONNECTOR}/_pipeline", {"pipeline": {"name": "p"}}, "update_pipeline"),
    ("PUT", f"/_connector/{CONNECTOR}/_scheduling", {"scheduling": {}}, "update_scheduling"),
    ("PUT", f"/_connector/{CONNECTOR}/_features", {"features": {}}, "update_features"),
    # The service's own writes, each authorized as the reference action it is a variant of.
    ("POST", "/_connector/_sync_job/_stale/_error", None, "sync_job/update_error"),
    ("PUT", f"/_connector/{CONNECTOR}/_sync_job/_cancel", None, "sync_job/cancel"),
    ("POST", "/_connector/_sync_job/_retention/_delete", {"keep_last": 1}, "sync_job/delete"),
]


@pytest.mark.parametrize(("method", "path", "body", "action"), WRITES,
                         ids=[f"{m} {p}" for m, p, _, _ in WRITES])
def test_a_monitor_connector_user_gets_the_clusters_403_on_every_write(
        as_user, secured_es, job, method, path, body, action):
    before = versions(secured_es)

    answer = as_user("reader").call(method, path.format(job=job), body, expect=403)

    assert error_type(answer) == "security_exception"
    assert answer["error"]["reason"] == (
        f"action [{A}{action}] is unauthorized for user [reader] with effective roles "
        f"[connector_reader], this action is granted by the cluster privileges {WRITE_PRIVILEGES}")
    assert answer["status"] == 403
    assert versions(secured_es) == before


def test_a_user_without_connector_privileges_gets_403_on_reads_too(as_user, job):
    nobody = as_user("nobody")

    answer = nobody.call("GET", f"/_connector/_sync_job/{job}", expect=403)

    assert answer["error"]["reason"] == (
        f"action [{A}sync_job/get] is unauthorized for user [nobody] with effective roles "
        f"[no_privileges], this action is granted by the cluster privileges {READ_PRIVILEGES}")
    assert nobody.list_sync_jobs(expect=403)["error"]["reason"].startswith(
        f"action [{A}sync_job/list] is unauthorized for user [nobody]")


def test_the_403_reads_as_the_clusters_own_for_the_same_caller(secured_node, secured_url):
    """The root endpoint needs `monitor` here as in Elasticsearch: the service's refusal and the
    cluster's own (a forwarded `_cluster/health`, also a `monitor` action) differ in the
    action's name alone."""
    reader = HttpClient(secured_url, secured_node.headers("reader"))

    ours = reader.open("/").get_json()
    clusters = reader.open("/_cluster/health").get_json()

    assert ours["status"] == clusters["status"] == 403
    assert ours["error"]["reason"] == clusters["error"]["reason"].replace(
        "cluster:monitor/health", "cluster:monitor/main")
    assert ours["error"]["reason"].endswith("granted by the cluster privileges [monitor,manage,all]")


# Who the caller is: users, service accounts, run-as


def test_a_bearer_service_account_token_is_authenticated_by_the_cluster(secured_node, secured_url,
                                                                       secured_es):
    """A service account whose built-in privileges grant what `manage_connector` grants."""
    service_account = ApiClient(HttpClient(secured_url, secured_node.bearer))

    service_account.put_connector(CONNECTOR, expect=201, index_name="search-secured",
                                  service_type="dir")
    job_id = service_account.new_job(CONNECTOR)

    assert stored_job(secured_es, job_id)["status"] == "pending"


def test_a_service_account_without_connector_privileges_is_named_as_the_cluster_names_it(
        secured_node, secured_url):
    auto_ops = HttpClient(secured_url, {"Authorization": f"Bearer {secured_node.auto_ops_token}"})

    ours = auto_ops.open("/_connector/_sync_job").get_json()
    clusters = auto_ops.open("/_cluster/settings", "PUT", content_type="application/json",
                             data=b'{"persistent": {"cluster.routing.allocation.enable": null}}')

    assert ours["error"]["reason"] == (
        f"action [{A}sync_job/list] is unauthorized for service account [elastic/auto-ops], "
        f"this action is granted by the cluster privileges {READ_PRIVILEGES}")
    assert clusters.status_code == 403
    assert "is unauthorized for service account [elastic/auto-ops], this action is granted" in (
        clusters.get_json()["error"]["reason"])


def test_run_as_is_authorized_as_the_user_run_as(secured_node, secured_url, as_user, job):
    admin_as_reader = HttpClient(secured_url, {**secured_node.headers("admin"),
                                               "es-security-runas-user": "reader"})

    assert admin_as_reader.open(f"/_connector/_sync_job/{job}").status_code == 200
    refused = admin_as_reader.open(f"/_connector/_sync_job/{job}/_cancel", "PUT")
    assert refused.status_code == 403
    assert "for user [reader]" in refused.get_json()["error"]["reason"]


# 401: missing and wrong credentials


WRONG = {
    "no credentials": ({}, "missing authentication credentials for REST request [{uri}]"),
    "wrong password": (basic("reader", "not-the-password"),
                       "unable to authenticate user [reader] for REST request [{uri}]"),
    "unknown user": (basic("mallory", "guess"),
                     "unable to authenticate user [mallory] for REST request [{uri}]"),
    "unknown API key": ({"Authorization": "ApiKey ZmFrZS1pZDpmYWtlLXNlY3JldA=="},
                        "unable to authenticate with provided credentials and anonymous access "
                        "is not allowed for this request"),
    "scheme it does not know": ({"Authorization": "Digest username=reader"},
                                "missing authentication credentials for REST request [{uri}]"),
}


@pytest.mark.parametrize("case", list(WRONG))
@pytest.mark.parametrize("uri", ["/_connector/_sync_job?size=5", "/_connector/_sync_job/_stale",
                                 "/", "/.elastic-connectors/_search"])
def test_missing_or_wrong_credentials_get_the_clusters_401_naming_the_request(
        secured_url, case, uri):
    headers, reason = WRONG[case]

    answer = HttpClient(secured_url, headers).open(uri)

    assert answer.status_code == 401
    assert answer.headers.getlist("WWW-Authenticate") == CHALLENGES
    body = answer.get_json()
    assert error_type(body) == "security_exception"
    assert body["error"]["reason"] == reason.format(uri=uri)
    assert body["error"]["header"] == {"WWW-Authenticate": CHALLENGES}
    assert "not-the-password" not in answer.get_data(as_text=True)
    assert "ZmFrZS1pZDpmYWtlLXNlY3JldA" not in answer.get_data(as_text=True)


def test_a_wrong_password_writes_nothing(secured_url, secured_es, as_user, job):
    before = versions(secured_es)

    answer = HttpClient(secured_url, basic("manager", "wrong")).open(
        f"/_connector/_sync_job/{job}/_cancel", "PUT")

    assert answer.status_code == 401
    assert versions(secured_es) == before


def test_a_probe_without_credentials_learns_the_health_status_alone(secured_url):
    answer = urllib3.request("GET", secured_url + "/_connector_service/health")

    assert (answer.status, json.loads(answer.data)) == (200, {"status": "green"})


# Clients


@pytest.mark.filterwarnings("ignore::elasticsearch.exceptions.GeneralAvailabilityWarning")
def test_the_official_client_passes_the_clusters_credentials_and_raises_on_a_403(
        secured_url, job):
    manager = Elasticsearch(secured_url, basic_auth=("manager", password_of("manager")))
    reader = Elasticsearch(secured_url, basic_auth=("reader", password_of("reader")))

    assert reader.connector.sync_job_get(connector_sync_job_id=job)["status"] == "pending"
    with pytest.raises(AuthorizationException) as refused:
        reader.connector.sync_job_cancel(connector_sync_job_id=job)
    manager.connector.sync_job_cancel(connector_sync_job_id=job)

    assert refused.value.meta.status == 403
    assert "sync_job/cancel] is unauthorized for user [reader]" in str(refused.value)
    assert manager.connector.sync_job_get(connector_sync_job_id=job)["status"] == "canceled"


def test_the_openapi_document_declares_the_clusters_credentials(secured_node, secured_url):
    document = HttpClient(secured_url, secured_node.headers("reader")).open(
        "/_connector_service/openapi.json").get_json()

    assert set(document["components"]["securitySchemes"]) == {"Basic", "ApiKey", "Bearer"}
    claim = document["paths"]["/_connector/_sync_job/{job_id}/_claim"]["put"]
    assert {"401", "403"} <= set(claim["responses"])
