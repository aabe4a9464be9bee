"""Sharing a cluster with ES's built-in connector plugin, which owns the same names.

The service shares the indices compatibly: the same names and document shape, templates of
the same registry version (3) that neither side replaces, and a pre-existing `-v1` index is
adopted when its mappings agree. A layout it cannot write to is refused with a message.
"""

import pytest

from app import create_app
from app.storage import CONCRETE_SYNC_JOBS_INDEX, SYNC_JOBS_INDEX
from app.storage.layout import load_index_templates
from tests.support.api_client import ApiClient, error_type


@pytest.fixture
def fresh_service(elasticsearch_url, app, es):
    """A service that has not looked at the cluster yet; the usual layout is restored after."""
    yield lambda: ApiClient(create_app({"ELASTICSEARCH_URL": elasticsearch_url,
                                        "INSTALL_TEMPLATES_ON_START": False}).test_client())
    es.indices.delete(index=[SYNC_JOBS_INDEX, CONCRETE_SYNC_JOBS_INDEX], ignore_unavailable=True)
    storage = app.extensions["connector_storage"]
    storage.layout.ready = False
    storage.layout.install_index_templates()
    storage.ensure_ready()


def builtin_template(version: int) -> dict:
    """The sync-jobs index template as ES's built-in registry installs it (no managed_by)."""
    _, index_templates = load_index_templates()
    body = dict(index_templates["elastic-connectors-sync-jobs"])
    body.update(version=version, _meta={"description": "Built-in template", "managed": True})
    return body


def test_an_older_builtin_template_is_replaced_by_ours(fresh_service, es):
    es.indices.put_index_template(name="elastic-connectors-sync-jobs", body=builtin_template(1))
    service = fresh_service()
    service.new_job(service.create_connector("shared"))
    installed = es.indices.get_index_template(name="elastic-connectors-sync-jobs")
    assert installed["index_templates"][0]["index_template"]["version"] == 3


def test_a_builtin_template_of_our_version_is_kept(fresh_service, es):
    es.indices.put_index_template(name="elastic-connectors-sync-jobs", body=builtin_template(3))
    service = fresh_service()
    service.new_job(service.create_connector("shared"))
    meta = es.indices.get_index_template(name="elastic-connectors-sync-jobs")[
        "index_templates"][0]["index_template"]["_meta"]
    assert "managed_by" not in meta


def test_a_preexisting_v1_index_made_by_someone_else_is_adopted(fresh_service, es):
    es.indices.delete(index=CONCRETE_SYNC_JOBS_INDEX)
    es.indices.delete_index_template(name="elastic-connectors-sync-jobs")
    # As the connectors framework creates it at start-up: an empty body, no template.
    es.indices.create(index=CONCRETE_SYNC_JOBS_INDEX, settings={"index.hidden": True})
    es.indices.put_index_template(name="elastic-connectors-sync-jobs", body=builtin_template(3))

    service = fresh_service()
    job_id = service.new_job(service.create_connector("adopted"))
    assert service.list_sync_jobs()["results"][0]["id"] == job_id
    assert SYNC_JOBS_INDEX in es.indices.get_alias(index=CONCRETE_SYNC_JOBS_INDEX)[
        CONCRETE_SYNC_JOBS_INDEX]["aliases"]
    mapping = es.indices.get_mapping(index=CONCRETE_SYNC_JOBS_INDEX)[CONCRETE_SYNC_JOBS_INDEX]
    assert mapping["mappings"]["properties"]["created_at"]["type"] == "date"


def test_a_v1_index_with_conflicting_mappings_is_refused(fresh_service, es):
    es.indices.delete(index=CONCRETE_SYNC_JOBS_INDEX)
    es.indices.delete_index_template(name="elastic-connectors-sync-jobs")
    es.indices.create(index=CONCRETE_SYNC_JOBS_INDEX, settings={"index.hidden": True},
                      mappings={"properties": {"status": {"type": "text"}}})
    service = fresh_service()
    body = service.call("GET", "/_connector/_sync_job", expect=500)
    assert error_type(body) == "illegal_state_exception"
    assert "status is [text], needs [keyword]" in body["error"]["reason"]
    health = service.call("GET", "/_connector_service/health", expect=503)
    assert "status is [text]" in health["indices"]["problem"]


def test_a_concrete_index_squatting_on_the_alias_name_is_refused(fresh_service, es):
    es.indices.delete(index=CONCRETE_SYNC_JOBS_INDEX)
    es.indices.delete_index_template(name="elastic-connectors-sync-jobs")
    es.indices.create(index=SYNC_JOBS_INDEX, settings={"index.hidden": True})
    service = fresh_service()
    # Every _connector request is refused, the connector's own included.
    refused = service.put_connector("squatted", expect=500, index_name="search-test",
                                    name="squatted", service_type="super-connector")
    assert refused["error"]["type"] == "illegal_state_exception"
    body = service.post_sync_job("squatted", expect=500)
    assert body["error"]["reason"].startswith(
        "[.elastic-connectors-sync-jobs] is a concrete index, but this service needs that name "
        "as the alias of [.elastic-connectors-sync-jobs-v1].")
    # Nothing was written into the squatting index.
    es.indices.refresh(index=SYNC_JOBS_INDEX)
    assert es.count(index=SYNC_JOBS_INDEX)["count"] == 0


def test_a_layout_from_a_newer_release_is_refused_and_left_as_it_is(fresh_service, es):
    _, index_templates = load_index_templates()
    ours = index_templates["elastic-connectors-sync-jobs"]
    newer = {**ours, "version": ours["version"] + 1}
    es.indices.put_index_template(name="elastic-connectors-sync-jobs", body=newer)
    try:
        service = fresh_service()
        refused = service.post_sync_job("any-connector", expect=500)
        assert error_type(refused) == "illegal_state_exception"
        assert refused["error"]["reason"] == (
            "the connector indices have a layout written by a newer release of "
            f"connector-sync-jobs ([elastic-connectors-sync-jobs] is version {newer['version']}, "
            f"this release knows {ours['version']}): this release does not write to a layout "
            "newer than it knows. Run that newer release (or a later one).")
        ready = service.call("GET", "/_connector_service/ready", expect=503)
        assert "newer release" in ready["checks"]["indices"]["reason"]
        installed = es.indices.get_index_template(name="elastic-connectors-sync-jobs")
        assert installed["index_templates"][0]["index_template"]["version"] == newer["version"]
    finally:
        es.indices.put_index_template(name="elastic-connectors-sync-jobs", body=ours)
