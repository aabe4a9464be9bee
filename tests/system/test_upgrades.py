"""Upgrades while serving, in the order the README recommends.

1. An older release of the service left its layout (index templates of version 2, a sync-jobs
   mapping without the fields later releases added) and its jobs on a three-node 8.19 cluster.
2. This release starts, as two replicas as scripts/serve runs them: it upgrades the templates
   and the indices' mappings in place, and the older jobs read back identical.
3. The cluster is upgraded to this run's 9.x line one node at a time (SIGTERM, then the newer
   distribution on the same data), as Elasticsearch's own rolling-upgrade tests do, while the
   replicas serve 32 racing claimers and the workers that won (tests.support.failover_load): the cluster
   is of mixed versions for two minutes, no claim is doubled, no acknowledged write is lost, and no
   answer is a 5xx.

One upgrade is run for the module (the `upgrade` fixture); each test asserts one of its
outcomes. It runs on the 9.x line: the data of an 8.19 release published after that 9.x
(8.19.21) cannot be opened by it, so the cluster starts on OLDER_ELASTICSEARCH.
"""

import json
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from app import create_app
from app.storage import CONCRETE_SYNC_JOBS_INDEX, SYNC_JOBS_INDEX
from app.storage.layout import TEMPLATES_DIR, load_index_templates
from tests.support.api_client import ApiClient
from tests.support.failover_load import Recorder, broken_promises, new_load, stored_jobs
from tests.support.live_server import HttpClient, production_server
from tests.support.nodes import LocalCluster, es_version

OLDER_ELASTICSEARCH = "8.19.4"
OLDER_LAYOUT_VERSION = 2
# The sync-jobs fields the older layout does not map: only cancel writes them.
FIELDS_ADDED_SINCE = ("cancelation_requested_at", "canceled_at")
WARM_ROUNDS = 4
# After each of the first two nodes, the mixed cluster serves the load at least this long.
MIXED_SECONDS_PER_NODE = 60
ROUNDS_PER_NODE = 6
MAX_ROUNDS = 5000

pytestmark = pytest.mark.skipif(
    not es_version().startswith("9."),
    reason=f"the rolling upgrade goes from {OLDER_ELASTICSEARCH} to the 9.x line; it runs in "
           f"that line's run (this one is {es_version()})")


def older_layout(directory: Path) -> Path:
    """index_templates/ as an older release shipped it: version 2, fewer sync-job fields."""
    directory.mkdir()
    for path in TEMPLATES_DIR.glob("*.json"):
        body = json.loads(path.read_text())
        body["version"] = OLDER_LAYOUT_VERSION
        mappings = body.get("template", {}).get("mappings", {})
        if "_meta" in mappings:
            mappings["_meta"]["version"] = OLDER_LAYOUT_VERSION
        for name in FIELDS_ADDED_SINCE:
            if SYNC_JOBS_INDEX in body.get("template", {}).get("aliases", {}):
                del mappings["properties"][name]
        (directory / path.name).write_text(json.dumps(body))
    return directory


def older_release(cluster_url: str, layout: Path) -> ApiClient:
    """The service as a release with the older layout ran it (in process: this module's own
    code on that layout)."""
    app = create_app({"ELASTICSEARCH_URL": cluster_url, "INSTALL_TEMPLATES_ON_START": False})
    app.extensions["connector_storage"].layout.templates_dir = layout
    return ApiClient(app.test_client())


def installed_layout(es: Elasticsearch) -> dict:
    """Each of our templates' installed version, and the sync-jobs index's mapping."""
    components, index_templates = load_index_templates()
    versions = {name: es.cluster.get_component_template(name=name)["component_templates"][0][
        "component_template"]["version"] for name in components}
    versions.update({name: es.indices.get_index_template(name=name)["index_templates"][0][
        "index_template"]["version"] for name in index_templates})
    mapping = es.indices.get_mapping(index=CONCRETE_SYNC_JOBS_INDEX)[CONCRETE_SYNC_JOBS_INDEX]
    return {"versions": versions, "mappings": mapping["mappings"]}


def node_versions(es: Elasticsearch) -> list[str]:
    nodes = es.nodes.info(node_id="_all", metric="_none")["nodes"]
    return sorted(node["version"] for node in nodes.values())


@dataclass
class Upgrade:
    layout_left: dict = field(default_factory=dict)  # by the older release
    layout_upgraded: dict = field(default_factory=dict)  # once this release served
    older_connector: dict = field(default_factory=dict)  # as the older release answered it
    older_connector_after: dict = field(default_factory=dict)  # by this release, after it all
    older_jobs: dict = field(default_factory=dict)  # as the older release answered them
    older_jobs_served: dict = field(default_factory=dict)  # by this release, before the cluster
    older_jobs_after: dict = field(default_factory=dict)  # by this release, after it
    versions_before: list = field(default_factory=list)
    versions_after: list = field(default_factory=list)
    mixed_seconds: float = 0.0
    rounds_mixed: int = 0
    recorder: Recorder = field(default_factory=Recorder)
    jobs: list = field(default_factory=list)
    stored: dict = field(default_factory=dict)
    health: list = field(default_factory=list)


def read_jobs(api: ApiClient, job_ids) -> dict:
    return {job_id: api.get_sync_job(job_id) for job_id in job_ids}


def serve_for(load, seconds: float, rounds: int) -> None:
    """Until the load has gone on for `seconds` and at least `rounds` more rounds."""
    until, target = time.monotonic() + seconds, load.rounds + rounds
    while time.monotonic() < until or load.rounds < target:
        load.wait_for_rounds(load.rounds + 1)


@pytest.fixture(scope="module")
def upgrade(tmp_path_factory):
    target = es_version()
    outcome = Upgrade()
    cluster = LocalCluster("upgrade", version=OLDER_ELASTICSEARCH, heap="320m")
    with ExitStack() as stack:
        stack.callback(cluster.remove)
        cluster.start()
        es = stack.enter_context(Elasticsearch(cluster.urls, request_timeout=60, max_retries=3))
        outcome.versions_before = node_versions(es)

        # 1. The older release: its layout and jobs.
        older = older_release(cluster.url, older_layout(tmp_path_factory.mktemp("older") / "t"))
        connector = older.create_connector("upgraded-connector", index_name="search-upgraded")
        job_ids = [older.new_job(connector) for _ in range(3)]
        older.claim(job_ids[0], worker_hostname="older-worker")
        older.check_in(job_ids[0])
        older.set_stats(job_ids[0], indexed_document_count=7, indexed_document_volume=70)
        outcome.older_jobs = read_jobs(older, job_ids)
        outcome.older_connector = older.get_connector(connector)
        outcome.layout_left = installed_layout(es)

        # 2. This release, as two replicas.
        replicas = [stack.enter_context(production_server(cluster.url, workers=1))
                    for _ in range(2)]
        served = ApiClient(HttpClient(replicas[0]))
        outcome.older_jobs_served = read_jobs(served, job_ids)
        outcome.layout_upgraded = installed_layout(es)

        # 3. The rolling upgrade, under load.
        load, outcome.recorder = new_load(replicas, "upgrade")
        try:
            load.run_rounds(WARM_ROUNDS)
            with load.in_background(MAX_ROUNDS):
                mixed_from = None
                for node in cluster.nodes:
                    load.wait_for_rounds(load.rounds + 2)
                    node.upgrade(target)
                    cluster.wait_until_joined()
                    if mixed_from is None:
                        mixed_from, rounds_from = time.monotonic(), load.rounds
                    if node is not cluster.nodes[-1]:
                        serve_for(load, MIXED_SECONDS_PER_NODE, ROUNDS_PER_NODE)
                    else:
                        outcome.mixed_seconds = time.monotonic() - mixed_from
                        outcome.rounds_mixed = load.rounds - rounds_from
                load.wait_for_rounds(load.rounds + 2)
        finally:
            load.stop()
        es.cluster.health(index=CONCRETE_SYNC_JOBS_INDEX, wait_for_status="green",
                          wait_for_nodes=3, timeout="120s")
        outcome.versions_after = node_versions(es)
        outcome.jobs = list(load.jobs)
        outcome.stored = stored_jobs(es, SYNC_JOBS_INDEX, load.jobs)
        outcome.older_jobs_after = read_jobs(served, job_ids)
        outcome.older_connector_after = served.get_connector(connector)
        outcome.health = [HttpClient(url).open("/_connector_service/health").get_json()
                          for url in replicas]
        yield outcome


def answer_counts(recorder: Recorder) -> dict:
    counts: dict[str, dict[int, int]] = {}
    for answer in recorder.answers:
        by_status = counts.setdefault(answer.operation, {})
        by_status[answer.status] = by_status.get(answer.status, 0) + 1
    return counts


def test_the_older_release_left_an_older_layout(upgrade):
    assert set(upgrade.layout_left["versions"].values()) == {OLDER_LAYOUT_VERSION}
    mappings = upgrade.layout_left["mappings"]
    assert mappings["_meta"]["version"] == OLDER_LAYOUT_VERSION
    assert not set(FIELDS_ADDED_SINCE) & set(mappings["properties"])


def test_this_release_upgrades_templates_and_mappings_in_place(upgrade):
    components, index_templates = load_index_templates()
    assert upgrade.layout_upgraded["versions"] == {
        name: body["version"] for name, body in {**components, **index_templates}.items()}
    mappings = upgrade.layout_upgraded["mappings"]
    assert mappings["_meta"]["version"] == components["elastic-connectors-sync-jobs-mappings"][
        "template"]["mappings"]["_meta"]["version"]
    for name in FIELDS_ADDED_SINCE:
        assert mappings["properties"][name]["type"] == "date"
    assert mappings["dynamic"] == "false"


def test_what_an_older_release_wrote_reads_back_identical_through_the_upgrades(upgrade):
    assert upgrade.older_connector_after == upgrade.older_connector
    assert upgrade.older_jobs_served == upgrade.older_jobs
    assert upgrade.older_jobs_after == upgrade.older_jobs
    claimed = next(iter(upgrade.older_jobs.values()))
    assert (claimed["status"], claimed["worker_hostname"]) == ("in_progress", "older-worker")


def test_the_cluster_was_of_mixed_versions_while_the_load_went_on(upgrade, capsys):
    with capsys.disabled():
        print(f"\n[rolling upgrade {upgrade.versions_before[0]} -> {upgrade.versions_after[0]}] "
              f"mixed versions for {upgrade.mixed_seconds:.0f} s ({upgrade.rounds_mixed} "
              f"rounds); answers: {answer_counts(upgrade.recorder)}")
    assert upgrade.versions_before == [OLDER_ELASTICSEARCH] * 3
    assert upgrade.versions_after == [es_version()] * 3
    assert upgrade.rounds_mixed >= 2 * ROUNDS_PER_NODE
    assert upgrade.mixed_seconds >= 2 * MIXED_SECONDS_PER_NODE


def test_a_rolling_upgrade_doubles_no_claim_and_loses_no_acknowledged_write(upgrade):
    assert len(upgrade.stored) == len(upgrade.jobs) >= WARM_ROUNDS + 3 * ROUNDS_PER_NODE
    assert broken_promises(upgrade.recorder, upgrade.stored) == []


def test_a_rolling_upgrade_answers_no_5xx_and_leaves_both_replicas_green(upgrade):
    assert [answer for answer in upgrade.recorder.answers
            if answer.status >= 500 or answer.status == 0] == []
    assert [health["status"] for health in upgrade.health] == ["green", "green"]
