"""PUT _connector/<connector_id>/<field> — the connector update routes: _configuration, _pipeline,
_scheduling, _filtering (+ _validation, _activate), _status, _error, _name, _index_name,
_service_type, _native, _api_key_id and _features."""

import pytest

from app.storage import CONNECTORS_INDEX
from tests.support.api_client import error_type
from tests.support.stored import instant, stored_connector

CONNECTOR = "test-connector"
T1, T2 = "2023-05-25T12:30:00.000Z", "2024-01-02T03:04:05.678Z"

PIPELINE = {"extract_binary_content": True, "name": "test-pipeline", "reduce_whitespace": True,
            "run_ml_inference": False}
RULE = {"created_at": T1, "field": "title", "id": "rule-1", "order": 2, "policy": "exclude",
        "rule": "contains", "updated_at": T1, "value": "draft"}
SNIPPET = {"created_at": T1, "updated_at": T1, "value": {"query": "select *"}}
VALIDATION = {"errors": [], "state": "valid"}
RULES = {"advanced_snippet": SNIPPET, "rules": [RULE], "validation": VALIDATION}

# Each route with a body it accepts, and how the reference words "not found" on it: routes
# that read the connector first say `connector [<id>] not found`; routes that send a bare
# update get Elasticsearch's `[<id>]: document missing`.
LOOKUP, UPDATE = "resource_not_found_exception", "document_missing_exception"
ROUTES = [
    ("_configuration", {"configuration": {"field": {"label": "Field", "value": 1}}}, LOOKUP),
    ("_configuration", {"values": {}}, LOOKUP),
    ("_pipeline", {"pipeline": PIPELINE}, UPDATE),
    ("_scheduling", {"scheduling": {"full": {"enabled": True, "interval": "1 0 0 * * ?"}}}, UPDATE),
    ("_filtering", {"filtering": [{"active": RULES, "draft": RULES}]}, UPDATE),
    ("_filtering", {"rules": [RULE]}, LOOKUP),
    ("_filtering/_validation", {"validation": VALIDATION}, LOOKUP),
    ("_filtering/_activate", None, LOOKUP),
    ("_status", {"status": "needs_configuration"}, LOOKUP),
    ("_error", {"error": "some error"}, UPDATE),
    ("_name", {"name": "new name"}, UPDATE),
    ("_index_name", {"index_name": "search-2-test"}, LOOKUP),
    ("_service_type", {"service_type": "even-better-connector"}, LOOKUP),
    ("_native", {"is_native": False}, LOOKUP),
    ("_api_key_id", {"api_key_id": "key-id"}, UPDATE),
    ("_features", {"features": {"document_level_security": {"enabled": True}}}, UPDATE),
]
ROUTE_IDS = [f"{route}-{i}" for i, (route, _, _) in enumerate(ROUTES)]
BODY_ROUTES = sorted({route for route, body, _ in ROUTES if body is not None})


@pytest.fixture
def connector_id(api):
    """The reference YAML tests' setup connector."""
    return api.create_connector(CONNECTOR, index_name="search-1-test", language="pl")


def stored(es) -> dict:
    return stored_connector(es, CONNECTOR)


def update(api, route: str, body=None, expect: int = 200):
    return api.update_connector(CONNECTOR, route, body, expect=expect)


# Every route


@pytest.mark.parametrize(("route", "body", "kind"), ROUTES, ids=ROUTE_IDS)
def test_every_route_answers_404_for_an_unknown_connector_and_creates_nothing(
        api, es, route, body, kind):
    answer = api.update_connector("test-non-existent-connector", route, body, expect=404)
    assert error_type(answer) == kind
    assert answer["error"]["reason"] == (
        "connector [test-non-existent-connector] not found" if kind == LOOKUP
        else "[test-non-existent-connector]: document missing")
    assert not es.exists(index=CONNECTORS_INDEX, id="test-non-existent-connector")


def test_every_route_answers_404_for_a_soft_deleted_connector_and_changes_nothing(
        api, es, connector_id):
    # Deliberate difference: the reference's bare-update routes would modify it.
    api.delete_connector(connector_id)
    before = stored(es)
    for route, body, kind in ROUTES:
        answer = update(api, route, body, expect=404)
        assert error_type(answer) == kind, route
    assert stored(es) == before


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_every_route_with_a_body_refuses_a_missing_unknown_or_non_object_one(api, es, connector_id,
                                                                             route):
    before = stored(es)
    missing = update(api, route, expect=400)
    assert error_type(missing) == "parse_exception"
    assert missing["error"]["reason"] == "request body is required"
    unknown = update(api, route, {"surprise": 1}, expect=400)
    assert error_type(unknown) == "x_content_parse_exception"
    assert unknown["error"]["reason"].endswith("unknown field [surprise]")
    not_an_object = api.call("PUT", f"/_connector/{CONNECTOR}/{route}", raw=b"[1]",
                             headers={"Content-Type": "application/json"}, expect=400)
    assert error_type(not_an_object) == "x_content_parse_exception"
    assert stored(es) == before


# Malformed or invalid bodies, route by route: 400, and nothing stored changes.
MALFORMED = [
    ("_configuration", {}, "action_request_validation_exception",
     "Validation Failed: 1: [configuration] and [values] cannot both be null.;"),
    ("_configuration", {"configuration": {}, "values": {}}, "action_request_validation_exception",
     "Validation Failed: 1: [configuration] and [values] cannot both be provided in the same "
     "request.;"),
    ("_configuration", {"configuration": None}, "x_content_parse_exception",
     "[connector_update_configuration_request] configuration doesn't support values of type: "
     "VALUE_NULL"),
    ("_configuration", {"configuration": {"f": {"value": 1}}}, "x_content_parse_exception",
     "[connector_update_configuration_request] failed to parse field [configuration]"),
    ("_configuration", {"configuration": {"f": {"label": "F", "display": "slider"}}},
     "x_content_parse_exception",
     "[connector_update_configuration_request] failed to parse field [configuration]"),
    ("_configuration", {"configuration": {"f": {"label": "F", "type": "STR"}}},
     "x_content_parse_exception",
     "[connector_update_configuration_request] failed to parse field [configuration]"),
    ("_configuration", {"configuration": {"f": {"label": "F", "value": [1]}}},
     "x_content_parse_exception",
     "[connector_update_configuration_request] failed to parse field [configuration]"),
    ("_configuration", {"configuration": {"f": "text"}}, "x_content_parse_exception",
     "[connector_update_configuration_request] failed to parse field [configuration]"),
    ("_configuration", {"values": "text"}, "x_content_parse_exception",
     "[connector_update_configuration_request] values doesn't support values of type: VALUE_STRING"),
    ("_pipeline", {"pipeline": {**PIPELINE, "reduce_whitespace": None}}, "x_content_parse_exception",
     "[connector_update_pipeline_request] failed to parse field [pipeline]"),
    ("_pipeline", {"pipeline": {k: v for k, v in PIPELINE.items() if k != "reduce_whitespace"}},
     "x_content_parse_exception", "[connector_update_pipeline_request] failed to parse field [pipeline]"),
    ("_pipeline", {"pipeline": "test-pipeline"}, "x_content_parse_exception",
     "[connector_update_pipeline_request] pipeline doesn't support values of type: VALUE_STRING"),
    ("_pipeline", {}, "illegal_argument_exception", "Required [pipeline]"),
    ("_scheduling", {"scheduling": {}}, "action_request_validation_exception",
     "Validation Failed: 1: [scheduling] object needs to define at least one schedule type: "
     "[full | incremental | access_control];"),
    ("_scheduling", {"scheduling": {"full": {"enabled": True, "interval": "61 0 0 * * ?"}}},
     "x_content_parse_exception", "[connector_update_scheduling_request] failed to parse field "
                                  "[scheduling]"),
    ("_scheduling", {"scheduling": {"full": {"enabled": True}}}, "x_content_parse_exception",
     "[connector_update_scheduling_request] failed to parse field [scheduling]"),
    ("_scheduling", {"scheduling": {"full": {"enabled": "sometimes", "interval": "0 0 0 * * ?"}}},
     "x_content_parse_exception", "[connector_update_scheduling_request] failed to parse field "
                                  "[scheduling]"),
    ("_scheduling", {}, "illegal_argument_exception", "Required [scheduling]"),
    ("_filtering", {}, "action_request_validation_exception",
     "Validation Failed: 1: [advanced_snippet] and [rules] cannot be both [null].;"),
    ("_filtering", {"filtering": [], "rules": []}, "action_request_validation_exception",
     "Validation Failed: 1: If [filtering] is specified, [rules] and [advanced_snippet] should not "
     "be present in the request body.;"),
    ("_filtering", {"filtering": [{"active": RULES}]}, "x_content_parse_exception",
     "[connector_update_filtering_request] failed to parse field [filtering]"),
    ("_filtering", {"rules": [{**RULE, "policy": "maybe"}]}, "x_content_parse_exception",
     "[connector_update_filtering_request] failed to parse field [rules]"),
    ("_filtering", {"rules": [{**RULE, "rule": "CONTAINS"}]}, "x_content_parse_exception",
     "[connector_update_filtering_request] failed to parse field [rules]"),
    ("_filtering", {"rules": [{**RULE, "order": "first"}]}, "x_content_parse_exception",
     "[connector_update_filtering_request] failed to parse field [rules]"),
    ("_filtering", {"rules": [{**RULE, "created_at": "last week"}]}, "x_content_parse_exception",
     "[connector_update_filtering_request] failed to parse field [rules]"),
    ("_filtering", {"advanced_snippet": {"value": "select *"}}, "x_content_parse_exception",
     "[connector_update_filtering_request] failed to parse field [advanced_snippet]"),
    ("_filtering", {"rules": {"id": "x"}}, "x_content_parse_exception",
     "[connector_update_filtering_request] rules doesn't support values of type: START_OBJECT"),
    ("_filtering/_validation", {}, "illegal_argument_exception", "Required [validation]"),
    ("_filtering/_validation", {"validation": {"errors": [], "state": "fine"}},
     "x_content_parse_exception",
     "[connector_update_filtering_validation] failed to parse field [validation]"),
    ("_filtering/_validation", {"validation": {"state": "valid"}}, "x_content_parse_exception",
     "[connector_update_filtering_validation] failed to parse field [validation]"),
    ("_filtering/_validation", {"validation": {"errors": [{"ids": ["a"]}], "state": "invalid"}},
     "x_content_parse_exception",
     "[connector_update_filtering_validation] failed to parse field [validation]"),
    ("_status", {}, "action_request_validation_exception",
     "Validation Failed: 1: [status] cannot be [null].;"),
    ("_status", {"status": "bogus"}, "x_content_parse_exception",
     "[connector_update_status_request] failed to parse field [status]"),
    ("_status", {"status": None}, "x_content_parse_exception",
     "[connector_update_status_request] status doesn't support values of type: VALUE_NULL"),
    ("_error", {}, "illegal_argument_exception", "Required [error]"),
    ("_error", {"error": {"field_1": "test", "field_2": "something"}}, "x_content_parse_exception",
     "[connector_update_error_request] error doesn't support values of type: START_OBJECT"),
    ("_name", {}, "action_request_validation_exception",
     "Validation Failed: 1: [name] and [description] cannot both be [null]. Please provide a value "
     "for at least one of them.;"),
    ("_name", {"name": None, "description": None}, "action_request_validation_exception",
     "Validation Failed: 1: [name] and [description] cannot both be [null]. Please provide a value "
     "for at least one of them.;"),
    ("_name", {"name": 42}, "x_content_parse_exception",
     "[connector_update_name_request] name doesn't support values of type: VALUE_NUMBER"),
    ("_index_name", {}, "illegal_argument_exception", "Required [index_name]"),
    ("_index_name", {"index_name": {"field_1": "test"}}, "x_content_parse_exception",
     "[connector_update_index_name_request] index_name doesn't support values of type: START_OBJECT"),
    ("_index_name", {"index_name": "_invalid-index-name"}, "action_request_validation_exception",
     "Validation Failed: 1: [_invalid-index-name] InvalidIndexNameException[Invalid index name "
     "[_invalid-index-name], must not start with '_', '-', or '+'];"),
    ("_index_name", {"index_name": ""}, "action_request_validation_exception",
     "Validation Failed: 1: [] InvalidIndexNameException[Invalid index name [], must not be empty];"),
    ("_service_type", {}, "illegal_argument_exception", "Required [service_type]"),
    ("_service_type", {"service_type": ""}, "action_request_validation_exception",
     'Validation Failed: 1: [service_type] cannot be [null] or [""].;'),
    ("_service_type", {"service_type": {"field_1": "test"}}, "x_content_parse_exception",
     "[connector_update_service_type_request] service_type doesn't support values of type: "
     "START_OBJECT"),
    ("_native", {}, "illegal_argument_exception", "Required [is_native]"),
    ("_native", {"is_native": "no"}, "x_content_parse_exception",
     "[connector_update_native_request] failed to parse field [is_native]"),
    ("_native", {"is_native": None}, "x_content_parse_exception",
     "[connector_update_native_request] is_native doesn't support values of type: VALUE_NULL"),
    ("_api_key_id", {}, "action_request_validation_exception",
     "Validation Failed: 1: [api_key_id] and [api_key_secret_id] cannot both be [null]. Please "
     "provide a value for at least one of them.;"),
    ("_api_key_id", {"api_key_id": 7}, "x_content_parse_exception",
     "[connector_update_api_key_id_request] api_key_id doesn't support values of type: "
     "VALUE_NUMBER"),
    # The reference answers 500 to the next two.
    ("_features", {}, "action_request_validation_exception",
     "Validation Failed: 1: [features] cannot be [null].;"),
    ("_features", {"features": {"incremental_sync": {}}}, "x_content_parse_exception",
     "[connector_update_features_request] failed to parse field [features]"),
    ("_features", {"featuresss": {"not_a_feature": 12423}}, "x_content_parse_exception",
     "[connector_update_features_request] unknown field [featuresss]"),
    ("_features", {"features": {"incremental_sync": {"enabled": "on"}}}, "x_content_parse_exception",
     "[connector_update_features_request] failed to parse field [features]"),
]


@pytest.mark.parametrize("route", sorted({route for route, *_ in MALFORMED}))
def test_malformed_bodies_are_400_in_the_reference_words_and_change_nothing(api, es, connector_id,
                                                                            route):
    # One connector per route, every malformed body of the route against it.
    before = stored(es)
    for case, kind, reason in [(body, kind, reason) for r, body, kind, reason in MALFORMED
                               if r == route]:
        answer = update(api, route, case, expect=400)
        assert (error_type(answer), answer["error"]["reason"]) == (kind, reason), case
    assert stored(es) == before


def test_a_nested_problem_names_its_path_in_the_causes(api, connector_id):
    answer = update(api, "_scheduling", {"scheduling": {"full": {
        "enabled": True, "interval": "61 0 0 * * ?"}}}, expect=400)
    cause = answer["error"]["caused_by"]
    assert cause["reason"] == "[connector_scheduling] failed to parse field [full]"
    assert cause["caused_by"]["reason"] == "[schedule_config] failed to parse field [interval]"
    assert cause["caused_by"]["caused_by"]["reason"] == "invalid cron expression [61 0 0 * * ?]"


def test_a_missing_required_field_is_named_in_the_cause(api, connector_id):
    body = {"pipeline": {k: v for k, v in PIPELINE.items() if k != "reduce_whitespace"}}
    answer = update(api, "_pipeline", body, expect=400)
    assert answer["error"]["caused_by"] == {"type": "illegal_argument_exception",
                                            "reason": "Required [reduce_whitespace]"}


# _configuration


def test_configuration_replaces_the_whole_map_and_sets_configured(api, es, connector_id):
    update(api, "_configuration", {"configuration": {"old": {"label": "Old", "value": 1}}})
    before = stored(es)
    answer = update(api, "_configuration", {"configuration": {
        "some_field": {"label": "Very important field", "value": 123, "unknown_key": "dropped"}}})
    assert answer == {"result": "updated"}
    after = stored(es)
    assert after == {**before, "status": "configured", "configuration": {"some_field": {
        "default_value": None, "label": "Very important field", "required": False,
        "sensitive": False, "value": 123}}}


def test_configuration_stores_every_field_of_a_definition(api, es, connector_id):
    definition = {
        "category": "auth", "default_value": "x", "depends_on": [{"field": "mode", "value": True}],
        "display": "DROPDOWN", "label": "Mode", "options": [{"label": "A", "value": "a"},
                                                            {"label": "One", "value": 1}],
        "order": 3, "placeholder": "pick one", "required": True, "sensitive": "true",
        "tooltip": "the mode", "type": "list", "ui_restrictions": ["advanced"],
        "validations": [{"constraint": [1, "b"], "type": "INCLUDED_IN"},
                        {"constraint": 10, "type": "less_than"}],
        "value": {"nested": "object"},
    }
    update(api, "_configuration", {"configuration": {"mode": definition}})
    assert stored(es)["configuration"]["mode"] == {
        **definition, "display": "dropdown", "sensitive": True,
        "validations": [{"constraint": [1, "b"], "type": "included_in"},
                        {"constraint": 10, "type": "less_than"}]}


def test_configuration_again_with_the_same_map_still_answers_updated(api, connector_id):
    body = {"configuration": {"field": {"label": "Field", "value": 1}}}
    update(api, "_configuration", body)
    assert update(api, "_configuration", body) == {"result": "updated"}


def test_configuration_values_set_only_the_values_of_known_fields(api, es, connector_id):
    update(api, "_configuration", {"configuration": {
        "host": {"label": "Host", "value": "a", "tooltip": "where"},
        "port": {"label": "Port", "value": 1}}})
    before = stored(es)
    assert update(api, "_configuration", {"values": {"host": "b"}}) == {"result": "updated"}
    after = stored(es)
    assert after["configuration"] == {
        **before["configuration"], "host": {**before["configuration"]["host"], "value": "b"}}
    assert {k: v for k, v in after.items() if k != "configuration"} == {
        k: v for k, v in before.items() if k != "configuration"}


def test_configuration_values_put_a_created_connector_in_configured(api, es, connector_id):
    es.update(index=CONNECTORS_INDEX, id=CONNECTOR, refresh=True,
              doc={"configuration": {"host": {"label": "Host", "value": "a"}}})
    update(api, "_configuration", {"values": {"host": "b"}})
    assert stored(es)["status"] == "configured"


def test_configuration_values_that_change_nothing_answer_noop(api, connector_id):
    update(api, "_configuration", {"configuration": {"host": {"label": "Host", "value": "a"}}})
    assert update(api, "_configuration", {"values": {"host": "a"}}) == {"result": "noop"}


def test_configuration_values_for_unknown_fields_are_400_and_change_nothing(api, es, connector_id):
    update(api, "_configuration", {"configuration": {"host": {"label": "Host", "value": "a"}}})
    before = stored(es)
    answer = update(api, "_configuration", {"values": {"host": "b", "nope": 1}}, expect=400)
    assert error_type(answer) == "status_exception"
    assert answer["error"]["reason"] == (
        "Unknown [configuration] fields in the request payload: [nope]. Remove them from request "
        "or register their schema first.")
    assert stored(es) == before


# _pipeline


def test_pipeline_is_stored_and_answers_updated(api, es, connector_id):
    before = stored(es)
    assert update(api, "_pipeline", {"pipeline": {**PIPELINE, "ignored": 1}}) == {"result": "updated"}
    assert stored(es) == {**before, "pipeline": PIPELINE}
    assert api.get_connector(CONNECTOR)["pipeline"] == PIPELINE


def test_pipeline_again_replaces_its_values_and_the_same_again_is_noop(api, es, connector_id):
    update(api, "_pipeline", {"pipeline": PIPELINE})
    changed = {**PIPELINE, "name": "other-pipeline", "run_ml_inference": True}
    assert update(api, "_pipeline", {"pipeline": changed}) == {"result": "updated"}
    assert stored(es)["pipeline"] == changed
    assert update(api, "_pipeline", {"pipeline": changed}) == {"result": "noop"}


def test_pipeline_booleans_may_be_strings(api, es, connector_id):
    update(api, "_pipeline", {"pipeline": {**PIPELINE, "reduce_whitespace": "false"}})
    assert stored(es)["pipeline"]["reduce_whitespace"] is False


# _scheduling


def test_scheduling_of_all_three_types(api, es, connector_id):
    before = stored(es)
    schedules = {"access_control": {"enabled": True, "interval": "1 0 0 * * ?"},
                 "full": {"enabled": False, "interval": "2 0 0 * * ?"},
                 "incremental": {"enabled": False, "interval": "3 0 0 * * ?"}}
    assert update(api, "_scheduling", {"scheduling": schedules}) == {"result": "updated"}
    assert stored(es) == {**before, "scheduling": schedules}


def test_scheduling_of_one_type_keeps_the_others(api, es, connector_id):
    update(api, "_scheduling", {"scheduling": {"incremental": {"enabled": True,
                                                               "interval": "3 0 0 * * ?"}}})
    assert stored(es)["scheduling"] == {
        "access_control": {"enabled": False, "interval": "0 0 0 * * ?"},
        "full": {"enabled": False, "interval": "0 0 0 * * ?"},
        "incremental": {"enabled": True, "interval": "3 0 0 * * ?"}}


def test_scheduling_of_access_control_alone_is_accepted(api, es, connector_id):
    # Deliberate difference: the reference's check forgets access_control and refuses this.
    update(api, "_scheduling", {"scheduling": {"access_control": {"enabled": True,
                                                                  "interval": "0 0 12 * * ?"}}})
    assert stored(es)["scheduling"]["access_control"] == {"enabled": True,
                                                          "interval": "0 0 12 * * ?"}


def test_scheduling_stores_the_interval_upper_cased(api, es, connector_id):
    update(api, "_scheduling", {"scheduling": {"full": {"enabled": True,
                                                        "interval": "0 0 0 ? * mon-fri"}}})
    assert stored(es)["scheduling"]["full"]["interval"] == "0 0 0 ? * MON-FRI"


def test_scheduling_that_changes_nothing_answers_noop(api, connector_id):
    body = {"scheduling": {"full": {"enabled": False, "interval": "0 0 0 * * ?"}}}
    assert update(api, "_scheduling", body) == {"result": "noop"}


# _filtering: the whole list


def test_filtering_list_replaces_the_stored_list_with_domain_default(api, es, connector_id):
    before = stored(es)
    entry = {"domain": "TEST", "active": RULES, "draft": {**RULES, "extra": "dropped"}}
    assert update(api, "_filtering", {"filtering": [entry, entry]}) == {"result": "updated"}
    expected_entry = {"active": RULES, "domain": "DEFAULT", "draft": RULES}
    assert stored(es) == {**before, "filtering": [expected_entry, expected_entry]}


def test_filtering_list_fills_missing_timestamps_with_now(api, es, connector_id):
    rule = {k: v for k, v in RULE.items() if k not in ("created_at", "updated_at")}
    rules = {"advanced_snippet": {"value": []}, "rules": [rule], "validation": VALIDATION}
    update(api, "_filtering", {"filtering": [{"active": rules, "draft": rules}]})
    active = stored(es)["filtering"][0]["active"]
    snippet, stored_rule = active["advanced_snippet"], active["rules"][0]
    assert snippet["created_at"] == snippet["updated_at"] and instant(snippet["created_at"])
    assert stored_rule["created_at"] == stored_rule["updated_at"] and instant(stored_rule["updated_at"])


def test_filtering_list_may_be_empty(api, es, connector_id):
    update(api, "_filtering", {"filtering": []})
    assert stored(es)["filtering"] == []


# _filtering: a new draft


def test_draft_rules_are_sorted_the_default_rule_last_and_marked_edited(api, es, connector_id):
    before = stored(es)
    old_entry = before["filtering"][0]
    default_created = old_entry["draft"]["rules"][0]["created_at"]
    given_default = {**old_entry["draft"]["rules"][0], "order": 0}
    second = {**RULE, "id": "rule-2", "order": 1}
    answer = update(api, "_filtering", {"rules": [RULE, given_default, second]})
    assert answer == {"result": "updated"}
    entry = stored(es)["filtering"][0]
    assert entry["active"] == old_entry["active"]
    assert entry["domain"] == "DEFAULT"
    assert entry["draft"] == {
        "advanced_snippet": old_entry["draft"]["advanced_snippet"],
        "rules": [second, RULE, {"created_at": default_created, "field": "_", "id": "DEFAULT",
                                 "order": 3, "policy": "include", "rule": "regex",
                                 "updated_at": default_created, "value": ".*"}],
        "validation": {"errors": [], "state": "edited"},
    }


def test_draft_rules_without_the_default_rule_get_a_new_one(api, es, connector_id):
    update(api, "_filtering", {"rules": [{**RULE, "policy": "INCLUDE"}]})
    rules = stored(es)["filtering"][0]["draft"]["rules"]
    assert rules[0] == {**RULE, "policy": "include"}
    assert (rules[1]["id"], rules[1]["order"]) == ("DEFAULT", 3)
    assert rules[1]["created_at"] == rules[1]["updated_at"] and instant(rules[1]["created_at"])


def test_empty_draft_rules_leave_only_the_default_rule(api, es, connector_id):
    update(api, "_filtering", {"rules": []})
    rules = stored(es)["filtering"][0]["draft"]["rules"]
    assert [(rule["id"], rule["order"]) for rule in rules] == [("DEFAULT", 0)]


def test_a_draft_snippet_alone_keeps_the_draft_rules(api, es, connector_id):
    old_draft = stored(es)["filtering"][0]["draft"]
    update(api, "_filtering", {"advanced_snippet": SNIPPET})
    draft = stored(es)["filtering"][0]["draft"]
    assert draft == {"advanced_snippet": SNIPPET, "rules": old_draft["rules"],
                     "validation": {"errors": [], "state": "edited"}}


def test_a_draft_keeps_only_the_first_filtering_entry(api, es, connector_id):
    update(api, "_filtering", {"filtering": [{"active": RULES, "draft": RULES}] * 2})
    update(api, "_filtering", {"advanced_snippet": {"value": {}}})
    assert len(stored(es)["filtering"]) == 1


def test_a_draft_for_a_connector_without_filtering_is_400(api, es, connector_id):
    # The reference answers 500 here.
    update(api, "_filtering", {"filtering": []})
    answer = update(api, "_filtering", {"rules": []}, expect=400)
    assert error_type(answer) == "status_exception"
    assert stored(es)["filtering"] == []


# _filtering/_validation and _filtering/_activate


def test_validation_sets_only_the_draft_validation(api, es, connector_id):
    update(api, "_filtering", {"rules": [RULE]})
    before = stored(es)
    validation = {"errors": [{"ids": ["rule-1"], "messages": ["too broad"]}], "state": "INVALID"}
    assert update(api, "_filtering/_validation", {"validation": validation}) == {"result": "updated"}
    entry = before["filtering"][0]
    assert stored(es) == {**before, "filtering": [{**entry, "draft": {
        **entry["draft"], "validation": {**validation, "state": "invalid"}}}]}


def test_activate_copies_a_valid_draft_to_active(api, es, connector_id):
    update(api, "_filtering", {"rules": [RULE], "advanced_snippet": SNIPPET})
    update(api, "_filtering/_validation", {"validation": VALIDATION})
    before = stored(es)
    assert update(api, "_filtering/_activate") == {"result": "updated"}
    draft = before["filtering"][0]["draft"]
    assert stored(es) == {**before, "filtering": [{"active": draft, "domain": "DEFAULT",
                                                   "draft": draft}]}


def test_activate_of_an_already_active_draft_answers_noop(api, connector_id):
    assert update(api, "_filtering/_activate") == {"result": "noop"}


@pytest.mark.parametrize("state", ["edited", "invalid"])
def test_activate_of_a_draft_that_is_not_valid_is_400_and_changes_nothing(api, es, connector_id,
                                                                          state):
    update(api, "_filtering", {"rules": [RULE]})
    update(api, "_filtering/_validation", {"validation": {"errors": [], "state": state}})
    before = stored(es)
    answer = update(api, "_filtering/_activate", expect=400)
    assert error_type(answer) == "status_exception"
    assert answer["error"]["reason"] == (
        "Filtering draft needs to be validated by the connector service before activation. "
        f"Current filtering draft validation state [{state}] is not equal to [valid].")
    assert stored(es) == before


def test_activate_with_a_body_is_400(api, es, connector_id):
    before = stored(es)
    answer = update(api, "_filtering/_activate", {"force": True}, expect=400)
    assert error_type(answer) == "illegal_argument_exception"
    assert stored(es) == before


# _status


@pytest.mark.parametrize(("path", "final"), [
    (["needs_configuration"], "needs_configuration"),
    (["NEEDS_CONFIGURATION", "Configured", "connected", "error", "configured"], "configured"),
])
def test_status_moves_along_allowed_transitions(api, es, connector_id, path, final):
    before = stored(es)
    for status in path:
        assert update(api, "_status", {"status": status}) == {"result": "updated"}
    assert stored(es) == {**before, "status": final}


def test_status_to_the_same_allowed_status_answers_noop(api, es, connector_id):
    update(api, "_status", {"status": "needs_configuration"})
    update(api, "_status", {"status": "configured"})
    assert update(api, "_status", {"status": "configured"}) == {"result": "noop"}


@pytest.mark.parametrize("target", ["created", "configured", "connected"])
def test_status_refuses_transitions_the_protocol_does_not_allow(api, es, connector_id, target):
    before = stored(es)
    answer = update(api, "_status", {"status": target}, expect=400)
    assert error_type(answer) == "status_exception"
    reason = (f"Invalid transition attempt from [created] to [{target}]. Such a status "
              "transition is not supported by the Connector Protocol.")
    assert answer["error"]["reason"] == reason
    assert answer["error"]["caused_by"] == {
        "type": "connector_invalid_status_transition_exception", "reason": reason}
    assert answer["error"]["root_cause"] == [{"type": "status_exception", "reason": reason}]
    assert stored(es) == before


# _error


def test_error_is_stored_and_puts_the_connector_in_error(api, es, connector_id):
    before = stored(es)
    assert update(api, "_error", {"error": "some error"}) == {"result": "updated"}
    assert stored(es) == {**before, "error": "some error", "status": "error"}
    assert api.get_connector(CONNECTOR)["error"] == "some error"


@pytest.mark.parametrize("cleared", [None, ""])
def test_error_null_or_empty_clears_it_and_puts_the_connector_in_connected(api, es, connector_id,
                                                                           cleared):
    update(api, "_error", {"error": "some error"})
    assert update(api, "_error", {"error": cleared}) == {"result": "updated"}
    after = stored(es)
    assert ("error" in after, after["error"], after["status"]) == (True, cleared, "connected")


# _name


def test_name_and_description_are_stored(api, es, connector_id):
    before = stored(es)
    answer = update(api, "_name", {"name": "new name", "description": "new description"})
    assert answer == {"result": "updated"}
    assert stored(es) == {**before, "name": "new name", "description": "new description"}


def test_a_null_name_or_description_is_left_as_it_was(api, es, connector_id):
    update(api, "_name", {"name": "kept", "description": "first"})
    update(api, "_name", {"name": None, "description": "second"})
    after = stored(es)
    assert (after["name"], after["description"]) == ("kept", "second")
    assert update(api, "_name", {"description": "second"}) == {"result": "noop"}


# _index_name


def test_index_name_is_stored_and_the_status_kept(api, es, connector_id):
    before = stored(es)
    assert update(api, "_index_name", {"index_name": "search-2-test"}) == {"result": "updated"}
    assert stored(es) == {**before, "index_name": "search-2-test"}
    assert stored(es)["status"] == "created"


def test_index_name_null_detaches_the_index_and_frees_it(api, es, connector_id):
    assert update(api, "_index_name", {"index_name": None}) == {"result": "updated"}
    after = stored(es)
    assert "index_name" in after and after["index_name"] is None
    assert api.get_connector(CONNECTOR)["index_name"] is None
    api.put_connector("test-connector-2", expect=201, index_name="search-1-test")


def test_index_name_unchanged_answers_noop(api, es, connector_id):
    before = stored(es)
    assert update(api, "_index_name", {"index_name": "search-1-test"}) == {"result": "noop"}
    assert stored(es) == before


def test_index_name_used_by_another_connector_is_400_and_changes_nothing(api, es, connector_id):
    api.create_connector("test-connector-2", index_name="search-2-test")
    before = stored(es)
    answer = update(api, "_index_name", {"index_name": "search-2-test"}, expect=400)
    assert error_type(answer) == "status_exception"
    assert answer["error"]["reason"] == "Index name [search-2-test] is used by another connector."
    assert stored(es) == before


def test_index_name_in_use_is_checked_before_the_connector_is_looked_up(api, connector_id):
    answer = api.update_connector("test-non-existent-connector", "_index_name",
                                  {"index_name": "search-1-test"}, expect=400)
    assert error_type(answer) == "status_exception"


def test_index_name_of_a_native_connector_needs_the_content_prefix(api, es):
    api.create_connector("native", index_name="content-search-1-test", is_native=True)
    before = stored_connector(es, "native")
    answer = api.update_connector("native", "_index_name", {"index_name": "search-2"}, expect=400)
    assert error_type(answer) == "status_exception"
    assert answer["error"]["reason"] == (
        "Index attached to an Elastic-managed connector must start with the prefix: [content-]. "
        "The index name in the payload [search-2] doesn't comply with this requirement.")
    assert stored_connector(es, "native") == before
    api.update_connector("native", "_index_name", {"index_name": "content-search-2"})


# _service_type


def test_service_type_of_a_created_connector_keeps_it_created(api, es, connector_id):
    before = stored(es)
    answer = update(api, "_service_type", {"service_type": "even-better-connector"})
    assert answer == {"result": "updated"}
    assert stored(es) == {**before, "service_type": "even-better-connector"}


@pytest.mark.parametrize("status", ["configured", "connected", "error", "needs_configuration"])
def test_service_type_of_any_other_connector_needs_configuration_again(api, es, connector_id,
                                                                       status):
    es.update(index=CONNECTORS_INDEX, id=CONNECTOR, doc={"status": status}, refresh=True)
    update(api, "_service_type", {"service_type": "even-better-connector"})
    assert stored(es)["status"] == "needs_configuration"


# _native


def test_native_toggles_on_a_content_index(api, es):
    api.create_connector("native", index_name="content-search-1-test")
    before = stored_connector(es, "native")
    assert api.update_connector("native", "_native", {"is_native": True}) == {"result": "updated"}
    assert stored_connector(es, "native") == {**before, "is_native": True}
    assert api.update_connector("native", "_native", {"is_native": "false"}) == {"result": "updated"}
    assert stored_connector(es, "native") == before


def test_native_needs_a_content_index_and_changes_nothing_otherwise(api, es, connector_id):
    before = stored(es)
    answer = update(api, "_native", {"is_native": True}, expect=400)
    assert error_type(answer) == "status_exception"
    assert answer["error"]["reason"] == (
        "The index name [search-1-test] attached to the connector [test-connector] must start with "
        "the required prefix: [content-] to be Elastic-managed. Please update the attached index "
        "first to comply with this requirement.")
    assert stored(es) == before


def test_native_without_an_index_is_allowed(api, es):
    api.put_connector("no-index", expect=201)
    api.update_connector("no-index", "_native", {"is_native": True})
    assert stored_connector(es, "no-index")["is_native"] is True


def test_native_moves_a_connected_connector_back_to_configured(api, es, connector_id):
    es.update(index=CONNECTORS_INDEX, id=CONNECTOR, doc={"status": "connected"}, refresh=True)
    update(api, "_native", {"is_native": False})
    assert stored(es)["status"] == "configured"


# _api_key_id


def test_api_key_ids_are_stored_and_a_null_one_left_as_it_was(api, es, connector_id):
    before = stored(es)
    body = {"api_key_id": "my-api-key-id", "api_key_secret_id": "my-secret-id"}
    assert update(api, "_api_key_id", body) == {"result": "updated"}
    assert stored(es) == {**before, **body}
    update(api, "_api_key_id", {"api_key_id": "other-id", "api_key_secret_id": None})
    assert stored(es) == {**before, **body, "api_key_id": "other-id"}


# _features


def test_features_are_stored(api, es, connector_id):
    features = {"document_level_security": {"enabled": True},
                "incremental_sync": {"enabled": False},
                "native_connector_api_keys": {"enabled": True},
                "sync_rules": {"advanced": {"enabled": False}, "basic": {"enabled": True}}}
    before = stored(es)
    assert update(api, "_features", {"features": {**features, "unknown": {"enabled": True}}}) == {
        "result": "updated"}
    assert stored(es) == {**before, "features": features}


def test_features_merge_into_the_stored_ones(api, es, connector_id):
    update(api, "_features", {"features": {"document_level_security": {"enabled": True}}})
    update(api, "_features", {"features": {"native_connector_api_keys": {"enabled": True}}})
    assert stored(es)["features"] == {"document_level_security": {"enabled": True},
                                      "native_connector_api_keys": {"enabled": True}}
    answer = update(api, "_features", {"features": {"document_level_security": {"enabled": True}}})
    assert answer == {"result": "noop"}
