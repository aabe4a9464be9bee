"""Several nodes behind one ELASTICSEARCH_URL: calls spread over them, a node that does not
answer is passed over, and only what cannot land twice is sent to the next node
(app.storage.nodes). Against the suite's three-node cluster (the `cluster` fixture); lost
answers come from a relay in front of one real node (tests.support.relay).
"""

import time
import uuid

import pytest
import urllib3
from elasticsearch import Elasticsearch

from app import create_app
from app.storage import CONCRETE_CONNECTORS_INDEX, CONCRETE_SYNC_JOBS_INDEX, SYNC_JOBS_INDEX
from tests.support.api_client import ApiClient, error_type
from tests.support.live_server import production_server, serving
from tests.support.relay import FaultyRelay

# Nothing listens on port 1: a connection there is refused at once.
DEAD = "http://127.0.0.1:1"
HEALTH = "/_connector_service/health"


def service(url: str, **settings) -> ApiClient:
    app = create_app({"ELASTICSEARCH_URL": url, "INSTALL_TEMPLATES_ON_START": False, **settings})
    app.extensions["connector_storage"].ensure_ready()
    return ApiClient(app.test_client())


def new_connector(api: ApiClient, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return api.create_connector(name, index_name=f"search-{name}")


def jobs_of(es: Elasticsearch, connector_id: str) -> list[str]:
    es.indices.refresh(index=SYNC_JOBS_INDEX)
    hits = es.search(index=SYNC_JOBS_INDEX, query={"term": {"connector.id": connector_id}},
                     size=1000, source=False)["hits"]["hits"]
    return sorted(hit["_id"] for hit in hits)


def creating_a_job(method: str, target: str) -> bool:
    return method == "PUT" and target.startswith(f"/{SYNC_JOBS_INDEX}/_doc/")


def copies(es: Elasticsearch, index: str) -> list[dict]:
    table = es.cluster.state(metric="routing_table", index=index)["routing_table"]["indices"]
    return table[index]["shards"]["0"]


# The cluster


def test_the_connector_indices_keep_a_replica_on_another_node(cluster, cluster_es):
    api = service(cluster.url)
    api.new_job(new_connector(api, "replicated"))

    health = cluster_es.cluster.health(index=[CONCRETE_SYNC_JOBS_INDEX, CONCRETE_CONNECTORS_INDEX],
                                       wait_for_status="green", timeout="60s")

    assert (health["status"], health["number_of_nodes"]) == ("green", 3)
    for index in (CONCRETE_SYNC_JOBS_INDEX, CONCRETE_CONNECTORS_INDEX):
        shard = copies(cluster_es, index)
        assert sorted(copy["primary"] for copy in shard) == [False, True]
        assert all(copy["state"] == "STARTED" for copy in shard)
        assert shard[0]["node"] != shard[1]["node"]


# A node that refuses connections


def test_every_call_is_answered_while_a_listed_node_refuses_connections(cluster):
    # Calls alternate between the two listed nodes: the dead one is picked, refuses, and the
    # call goes on to the other; then it is left aside for a while.
    api = service(f"{DEAD},{cluster.urls[0]}")
    connector = new_connector(api, "passed-over")
    job_ids = [api.new_job(connector) for _ in range(4)]

    for job_id in job_ids:
        api.claim(job_id, worker_hostname="worker-1")
        api.check_in(job_id)
        api.set_stats(job_id, indexed_document_count=7)
        assert api.get_sync_job(job_id)["indexed_document_count"] == 7
    api.cancel(job_ids[0])
    listed = api.list_sync_jobs(connector_id=connector, status="in_progress")
    assert listed["count"] == 3


def test_forwarded_requests_pass_over_a_node_that_refuses_connections(cluster, cluster_es):
    index = f"forwarded-{uuid.uuid4().hex[:8]}"
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=30))
    try:
        with production_server(f"{DEAD},{cluster.urls[1]}", workers=1) as url:
            for n in range(4):
                # A body is streamed once: it is sent on only because the dead node never
                # received a byte of it.
                put = http.request("PUT", f"{url}/{index}/_doc/{n}?refresh=true",
                                   json={"n": n})
                assert put.status == 201, put.data
                assert http.request("GET", f"{url}/{index}/_doc/{n}").json()["_source"] == {"n": n}
                assert http.request("HEAD", f"{url}/{index}").status == 200
                found = http.request("POST", f"{url}/{index}/_search",
                                     json={"query": {"match_all": {}}}).json()
                assert found["hits"]["total"]["value"] == n + 1
    finally:
        cluster_es.indices.delete(index=index, ignore_unavailable=True)


# Writes lost on the way: the answer (the node executed it), or the request (it never did)

LOST = ["lose_answer", "drop_request"]


def updating(method: str, target: str) -> bool:
    return method == "POST" and "/_update/" in target


def document_id(target: str) -> str:
    return target.split("?")[0].rsplit("/", 1)[1]


@pytest.mark.parametrize("fault", LOST)
def test_a_create_lost_on_the_way_makes_exactly_one_job(cluster, cluster_es, fault):
    with FaultyRelay(cluster.urls[0], **{fault: creating_a_job}) as relay:
        api = service(f"{relay.url},{cluster.urls[1]}")
        connector = new_connector(api, "lost-create")
        created = []
        while not (relay.lost or relay.dropped) and len(created) < 8:
            created.append(api.new_job(connector))
            # A create is two calls (the connector's read, the write): a third one makes the
            # next write go to the other node, since calls alternate between the nodes.
            api.get_sync_job(created[-1])

    faulted = relay.lost + relay.dropped
    assert faulted, "no create went through the relay"
    # Every create answered 201; the one whose answer or request was lost exists once, under
    # the id its caller was given: the service sent it again to the other node, which either
    # found it there (a conflict on an id no one else knows) or created it.
    assert jobs_of(cluster_es, connector) == sorted(created)
    assert document_id(faulted[0][1]) in created


@pytest.mark.parametrize("fault", LOST)
def test_a_guarded_write_lost_on_the_way_lands_exactly_once(cluster, cluster_es, fault):
    with FaultyRelay(cluster.urls[0], **{fault: updating}) as relay:
        api = service(f"{relay.url},{cluster.urls[1]}")
        connector = new_connector(api, "lost-claim")
        answers = {}
        while not (relay.lost or relay.dropped) and len(answers) < 8:
            job_id = api.new_job(connector)
            answers[job_id] = api.claim(job_id, worker_hostname="worker-1", expect=None)

    faulted = relay.lost + relay.dropped
    assert faulted, "no claim went through the relay"
    # The service read the job again from the other node: it found its claim there (answer
    # lost), or found the job as it was and claimed it again under the same guard (request
    # lost). Either way the claimer is told it won, and the claim was written once.
    assert set(map(str, answers.values())) == {str({"result": "updated"})}
    job = cluster_es.get(index=SYNC_JOBS_INDEX, id=document_id(faulted[0][1]))
    assert (job["_source"]["status"], job["_source"]["worker_hostname"]) == (
        "in_progress", "worker-1")
    assert job["_version"] == 2  # created, claimed


def test_a_guarded_write_lost_twice_answers_503_saying_so(cluster, cluster_es):
    with (FaultyRelay(cluster.urls[0], drop_request=updating) as first,
          FaultyRelay(cluster.urls[1], drop_request=updating) as second):
        api = service(f"{first.url},{second.url}")
        job_id = api.new_job(new_connector(api, "lost-twice"))

        body = api.claim(job_id, worker_hostname="worker-1", expect=503)

    assert error_type(body) == "service_unavailable_exception"
    assert "may or may not have been applied" in body["error"]["reason"]
    assert len(first.dropped + second.dropped) == 2  # sent twice, never more
    assert cluster_es.get(index=SYNC_JOBS_INDEX, id=job_id)["_source"]["status"] == "pending"


def test_a_claim_that_meets_its_own_write_is_told_it_won(cluster, cluster_es):
    # Elasticsearch resends a write to a promoted replica that may already hold it: the second
    # arrival fails with a version conflict against the write the claimer just made.
    with FaultyRelay(cluster.urls[0], repeat=updating) as relay:
        api = service(relay.url)
        job_id = api.new_job(new_connector(api, "own-write"))

        assert api.claim(job_id, worker_hostname="worker-1") == {"result": "updated"}
        api.cancel(job_id)

    assert len(relay.repeated) == 2
    job = cluster_es.get(index=SYNC_JOBS_INDEX, id=job_id)["_source"]
    assert (job["status"], job["worker_hostname"]) == ("canceling", "worker-1")


def test_a_create_that_arrives_twice_makes_one_job(cluster, cluster_es):
    with FaultyRelay(cluster.urls[1], repeat=creating_a_job) as relay:
        api = service(relay.url)
        connector = new_connector(api, "twice")
        job_id = api.new_job(connector)

    assert len(relay.repeated) == 1
    assert jobs_of(cluster_es, connector) == [job_id]


def test_a_read_whose_answer_was_lost_is_read_again_from_the_next_node(cluster):
    reads = lambda method, target: method == "GET" and "/_doc/" in target  # noqa: E731
    api = service(cluster.url)
    job_id = api.new_job(new_connector(api, "lost-read"))
    with FaultyRelay(cluster.urls[2], lose_answer=reads) as relay:
        api = service(f"{relay.url},{cluster.urls[0]}")
        for _ in range(4):
            assert api.get_sync_job(job_id)["status"] == "pending"

    assert relay.lost


def test_a_node_that_holds_its_answer_costs_one_timeout_and_is_then_passed_over(cluster):
    reads = lambda method, target: method == "GET" and "/_doc/" in target  # noqa: E731
    api = service(cluster.url)
    job_id = api.new_job(new_connector(api, "held-read"))
    with FaultyRelay(cluster.urls[1], lose_answer=reads, hold_seconds=30) as relay:
        api = service(f"{relay.url},{cluster.urls[2]}", ELASTICSEARCH_REQUEST_TIMEOUT=1)
        answers = []
        for _ in range(4):
            started = time.monotonic()
            answers.append((api.get_sync_job(job_id, expect=None), time.monotonic() - started))

    held = [(body, seconds) for body, seconds in answers if "error" in body]
    # A timeout is never sent again (the node may still be working on it): the caller waits
    # one timeout, and later calls go to the other node while the slow one is left aside.
    assert len(held) == 1 == len(relay.lost)
    assert error_type(held[0][0]) == "service_unavailable_exception"
    assert held[0][1] < 1 + 1.5
    assert all(body["id"] == job_id for body, _ in answers if "error" not in body)


# Health


def test_health_names_every_node_and_which_of_them_answer(cluster):
    api = service(f"{DEAD},{cluster.url}")

    report = api.call("GET", HEALTH)

    assert report["status"] == "yellow"  # still 200: the service serves
    nodes = report["elasticsearch"]["nodes"]
    assert [node["url"] for node in nodes] == sorted([DEAD, *cluster.urls])
    dead = nodes.pop([node["url"] for node in nodes].index(DEAD))
    assert dead["answers"] is False and "NewConnectionError" in dead["reason"]
    assert sorted((node["url"], node["answers"], node["name"]) for node in nodes) == sorted(
        (node.url, True, node.name) for node in cluster.nodes)


def test_health_is_green_when_every_node_answers_and_red_when_none_does(cluster):
    assert service(cluster.url).call("GET", HEALTH)["status"] == "green"
    nowhere = create_app({"ELASTICSEARCH_URL": f"{DEAD},http://127.0.0.1:2",
                          "INSTALL_TEMPLATES_ON_START": False, "ELASTICSEARCH_REQUEST_TIMEOUT": 2})
    report = ApiClient(nowhere.test_client()).call("GET", HEALTH, expect=503)
    assert report["status"] == "red"
    assert [node["answers"] for node in report["elasticsearch"]["nodes"]] == [False, False]


def test_a_node_that_answers_503_is_reported_and_reads_pass_it_over(cluster):
    # A node cut off from the master, or a proxy before a dead node, answers 503.
    def unavailable(environ, start_response):
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
        return [b"no healthy upstream"]

    writer = service(cluster.urls[0])
    job_id = writer.new_job(new_connector(writer, "beside-a-503"))
    with serving(unavailable) as elsewhere:
        api = service(f"{cluster.urls[0]},{elsewhere}")
        for _ in range(4):
            assert api.get_sync_job(job_id)["status"] == "pending"
            assert api.list_sync_jobs(connector_id=job_id)["count"] == 0
        report = api.call("GET", HEALTH)

    assert report["status"] == "yellow"
    assert {node["url"]: node["answers"] for node in report["elasticsearch"]["nodes"]} == {
        cluster.urls[0]: True, elsewhere: False}


def test_a_probe_without_credentials_learns_yellow_and_nothing_else(cluster):
    api = service(f"{DEAD},{cluster.url}", AUTH_MODE="api_key",
                  AUTH_API_KEYS="a2V5LWlkOmtleS1zZWNyZXQ=")

    assert api.call("GET", HEALTH) == {"status": "yellow"}


def test_sniffing_finds_the_nodes_a_single_url_leaves_out(cluster):
    api = service(cluster.urls[0], ELASTICSEARCH_SNIFF=True)

    nodes = api.call("GET", HEALTH)["elasticsearch"]["nodes"]

    assert sorted(node["url"] for node in nodes) == sorted(cluster.urls)
    assert all(node["answers"] for node in nodes)
    api.new_job(new_connector(api, "sniffed"))
