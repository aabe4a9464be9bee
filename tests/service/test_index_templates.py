"""Index templates from index_templates/ are installed, versioned, and shape new indices."""

from app.storage import CONCRETE_SYNC_JOBS_INDEX, SYNC_JOBS_INDEX
from app.storage.layout import load_index_templates


def test_templates_are_installed_with_their_version(app, es):
    components, index_templates = load_index_templates()
    for name, body in components.items():
        installed = es.cluster.get_component_template(name=name)["component_templates"][0]
        assert installed["component_template"]["version"] == body["version"]
    for name, body in index_templates.items():
        installed = es.indices.get_index_template(name=name)["index_templates"][0]
        assert installed["index_template"]["version"] == body["version"]
        assert installed["index_template"]["_meta"]["managed_by"] == "connector-sync-jobs"


def test_installing_again_changes_nothing(app):
    outcome = app.extensions["connector_storage"].layout.install_index_templates()
    assert set(outcome.values()) == {"current"}


def test_an_older_installed_version_is_replaced(app, es):
    _, index_templates = load_index_templates()
    es.indices.put_index_template(name="elastic-connectors-sync-jobs",
                                  body={**index_templates["elastic-connectors-sync-jobs"], "version": 1})
    outcome = app.extensions["connector_storage"].layout.install_index_templates()
    assert outcome["elastic-connectors-sync-jobs"] == "updated"
    installed = es.indices.get_index_template(name="elastic-connectors-sync-jobs")
    assert installed["index_templates"][0]["index_template"]["version"] == 3


def test_sync_jobs_index_has_reference_mappings_and_alias(app, es):
    mapping = es.indices.get_mapping(index=CONCRETE_SYNC_JOBS_INDEX)[CONCRETE_SYNC_JOBS_INDEX]
    properties = mapping["mappings"]["properties"]
    assert mapping["mappings"]["dynamic"] == "false"
    assert properties["status"]["type"] == "keyword"
    assert properties["indexed_document_count"]["type"] == "integer"
    assert properties["cancelation_requested_at"]["type"] == "date"
    assert properties["connector"]["properties"]["id"]["type"] == "keyword"
    aliases = es.indices.get_alias(index=CONCRETE_SYNC_JOBS_INDEX)
    assert SYNC_JOBS_INDEX in aliases[CONCRETE_SYNC_JOBS_INDEX]["aliases"]
    settings = es.indices.get_settings(index=CONCRETE_SYNC_JOBS_INDEX)
    assert settings[CONCRETE_SYNC_JOBS_INDEX]["settings"]["index"]["hidden"] == "true"
