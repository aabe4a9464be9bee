"""A node of a three-node cluster dies under load, or is restarted in turn, while two replicas
of the service (as scripts/serve runs it) serve 32 racing claimers and the workers that won:
no claim is doubled, no acknowledged write is lost, and the service serves on by itself.

The load (tests.support.failover_load) is bounded by counts and every wait by generous timeouts, so a
slow, shared machine makes the test slower, never wrong. What is asserted are invariants of the
stored documents against the answers given, and when 503s were allowed: only while the
sync-jobs index had no primary, a window measured by watching the cluster state, and printed.
"""

import signal
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
import urllib3
from elasticsearch import Elasticsearch

from app.storage import CONCRETE_SYNC_JOBS_INDEX, SYNC_JOBS_INDEX
from tests.support.api_client import error_type
from tests.support.failover_load import (
    CLAIMERS,
    PrimaryWatch,
    Recorder,
    broken_promises,
    new_load,
    stored_jobs,
)
from tests.support.live_server import production_server
from tests.support.nodes import LocalNode

WARM_ROUNDS = 4
# Rounds answered with the node gone before it is started again; the load goes on meanwhile.
ROUNDS_WITHOUT_THE_NODE = 8
ROUNDS_AFTER_ITS_RETURN = 4
MAX_ROUNDS = 200
# The watch looks this often; a 503 may be answered this much after the window it belongs to.
WATCH_SECONDS = 0.1


@pytest.fixture(scope="module")
def replicas(cluster):
    """Two replicas of the service, each a granian server with one worker (scripts/serve's
    count on two cores), both listing the three nodes."""
    with ExitStack() as stack:
        yield [stack.enter_context(production_server(cluster.url, workers=1)) for _ in range(2)]


def green(es: Elasticsearch) -> None:
    health = es.cluster.health(index=CONCRETE_SYNC_JOBS_INDEX, wait_for_status="green",
                               wait_for_nodes=3, timeout="120s")
    assert health["status"] == "green", health


def primary_holder(cluster, es: Elasticsearch):
    """The node holding the sync-jobs primary, and its node id."""
    node_id = PrimaryWatch(cluster.urls, CONCRETE_SYNC_JOBS_INDEX).primary_node()
    name = es.nodes.info(node_id=node_id, metric="_none")["nodes"][node_id]["name"]
    return cluster.node_named(name), node_id


def serving_again(replicas: list[str]) -> list[dict]:
    """Each replica's health report, without any restart of the service."""
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=30))
    return [http.request("GET", f"{url}/_connector_service/health").json() for url in replicas]


@dataclass
class Outcome:
    recorder: Recorder
    stored: dict[str, dict]
    lost_at: float  # when the node was taken down
    back: float | None  # when another node first held a started primary after that

    @property
    def window(self) -> float | None:
        return None if self.back is None else self.back - self.lost_at


def through_a_lost_node(cluster, es: Elasticsearch, replicas: list[str], case: str,
                        take_down: Callable[[LocalNode], None], capsys) -> Outcome:
    """Runs the load; takes the node holding the sync-jobs primary down mid-load, and starts it
    again while the load goes on; returns every answer and the stored jobs, and prints the
    window without a primary and the answers' counts."""
    green(es)
    load, recorder = new_load(replicas, case.split()[0])
    load.run_rounds(WARM_ROUNDS)
    node, node_id = primary_holder(cluster, es)
    survivors = [other.url for other in cluster.nodes if other is not node]
    watch = PrimaryWatch(survivors, CONCRETE_SYNC_JOBS_INDEX, interval=WATCH_SECONDS).start()
    try:
        with load.in_background(MAX_ROUNDS):
            load.wait_for_rounds(WARM_ROUNDS + 2)
            lost_at = time.time()
            take_down(node)
            load.wait_for_rounds(load.rounds + ROUNDS_WITHOUT_THE_NODE)
            node.start()
            cluster.wait_until_joined()
            load.wait_for_rounds(load.rounds + ROUNDS_AFTER_ITS_RETURN)
        green(es)
    finally:
        watch.stop()
        load.stop()
    outcome = Outcome(recorder, stored_jobs(es, SYNC_JOBS_INDEX, load.jobs), lost_at,
                      watch.back_after(lost_at, node_id))
    report(capsys, case, outcome)
    assert len(outcome.stored) == len(load.jobs) >= WARM_ROUNDS + ROUNDS_WITHOUT_THE_NODE
    assert len(recorder.of("claim")) >= CLAIMERS * len(load.jobs)
    return outcome


def report(capsys, case: str, outcome: Outcome) -> None:
    counts: dict[str, dict[int, int]] = {}
    for answer in outcome.recorder.answers:
        by_status = counts.setdefault(answer.operation, {})
        by_status[answer.status] = by_status.get(answer.status, 0) + 1
    with capsys.disabled():
        shown = "not measured" if outcome.window is None else f"{outcome.window:.2f} s"
        print(f"\n[{case}] no primary for the sync-jobs index: {shown}; answers: {counts}")


def test_a_killed_primary_node_doubles_no_claim_and_loses_no_acknowledged_write(
        cluster, cluster_es, replicas, capsys):
    outcome = through_a_lost_node(cluster, cluster_es, replicas, "kill -9",
                                  lambda node: node.signal(signal.SIGKILL), capsys)

    assert outcome.back is not None, "no other node held a started primary after the kill"
    assert broken_promises(outcome.recorder, outcome.stored) == []
    # Every failure is a 503 in Elasticsearch's envelope, and each one was in flight while
    # the index had no primary.
    failures = [answer for answer in outcome.recorder.answers
                if answer.status >= 500 or answer.status == 0]
    assert all(answer.status == 503 for answer in failures), failures
    assert all(error_type(answer.body) == "service_unavailable_exception" for answer in failures)
    outside = [answer for answer in failures if answer.answered < outcome.lost_at
               or answer.sent > outcome.back + WATCH_SECONDS]
    assert outside == [], outside
    assert [health["status"] for health in serving_again(replicas)] == ["green", "green"]


def test_a_rolling_restart_answers_no_5xx_at_all(cluster, cluster_es, replicas, capsys):
    # SIGTERM: the node hands its work over and leaves.
    outcome = through_a_lost_node(cluster, cluster_es, replicas, "rolling restart",
                                  LocalNode.stop, capsys)

    assert broken_promises(outcome.recorder, outcome.stored) == []
    assert [answer for answer in outcome.recorder.answers
            if answer.status >= 500 or answer.status == 0] == []
    assert [health["status"] for health in serving_again(replicas)] == ["green", "green"]
