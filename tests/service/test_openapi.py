"""The OpenAPI document: valid OpenAPI 3, one operation per route the app serves, generated
from the views' own contracts (tests/service/test_openapi_fuzz.py checks the live answers against it)."""

import json

import pytest
import schemathesis
from flask import Blueprint, jsonify
from werkzeug.routing import PathConverter

from app import create_app
from app.api import openapi
from app.api.requests import rest
from app.schemas.sync_jobs import ClaimSyncJobSchema

NO_NODE = {"ELASTICSEARCH_URL": "http://127.0.0.1:1", "INSTALL_TEMPLATES_ON_START": False}


def served_operations(app) -> set[tuple[str, str]]:
    """(path, method) of every rule, but static files and catch-alls, as the document names them."""
    return {(openapi.openapi_path(rule), method.lower())
            for rule in app.url_map.iter_rules()
            if not any(isinstance(c, PathConverter) for c in rule._converters.values())
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def documented_operations(document: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item}


def refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


@pytest.fixture(scope="module")
def document():
    return openapi.build(create_app(NO_NODE))


def test_document_is_valid_openapi_3(document):
    schemathesis.openapi.from_dict(document).validate()

    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "connector-sync-jobs"


def test_every_reference_in_the_document_resolves(document):
    schemas = document["components"]["schemas"]

    missing = {ref for ref in refs(document) if ref.rpartition("/")[2] not in schemas}

    assert missing == set()


def test_document_lists_every_route_of_the_url_map():
    app = create_app(NO_NODE)

    document = openapi.build(app)

    assert documented_operations(document) == served_operations(app)
    assert ("/_connector/_sync_job/{job_id}/_claim", "put") in documented_operations(document)
    assert ("/_connector_service/openapi.json", "get") in documented_operations(document)


def test_document_is_served_at_connector_service_openapi_json(client, app):
    response = client.get("/_connector_service/openapi.json")

    assert response.status_code == 200
    assert response.get_json() == json.loads(json.dumps(openapi.build(app)))


def test_route_added_later_is_documented_without_an_edit_and_catch_all_is_not():
    app = create_app(NO_NODE)
    extra = Blueprint("extra", __name__)

    @extra.put("/_connector/<connector_id>/_made_up")
    @rest(body=ClaimSyncJobSchema())
    def made_up(connector_id: str, body):
        """Made up for this test."""
        return jsonify(result="updated")

    @extra.route("/<path:path>", methods=["GET", "POST"])
    def forward(path: str):
        return jsonify()

    app.register_blueprint(extra)

    document = openapi.build(app)

    operation = document["paths"]["/_connector/{connector_id}/_made_up"]["put"]
    assert operation["summary"] == "Made up for this test."
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ClaimSyncJob"}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/JsonObject"}
    assert not [path for path in document["paths"] if "path" in path]


def test_request_body_comes_from_the_views_schema(document):
    claim = document["paths"]["/_connector/_sync_job/{job_id}/_claim"]["put"]
    body_schema = document["components"]["schemas"]["ClaimSyncJob"]

    assert claim["requestBody"]["required"] is True
    assert body_schema["required"] == ["worker_hostname"]
    assert body_schema["additionalProperties"] is False
    assert body_schema["properties"]["sync_cursor"]["type"] == "object"


def test_query_parameters_come_from_the_views_query_schema(document):
    parameters = {p["name"]: p for p in document["paths"]["/_connector/_sync_job"]["get"]["parameters"]}

    assert {"from", "size", "connector_id", "status", "job_type"} <= set(parameters)
    assert parameters["from"]["schema"]["minimum"] == 0
    assert "in_progress" in parameters["status"]["schema"]["items"]["enum"]


def test_path_ids_are_documented_as_elasticsearch_ids(document):
    (job_id,) = document["paths"]["/_connector/_sync_job/{job_id}"]["get"]["parameters"]

    assert job_id["in"] == "path" and job_id["required"] is True
    assert job_id["schema"]["minLength"] == 1 and job_id["schema"]["maxLength"] == 512


def test_success_bodies_are_documented_per_route(document):
    def schema_of(path, method, status):
        content = document["paths"][path][method]["responses"][status]["content"]
        return content["application/json"]["schema"]["$ref"].rpartition("/")[2]

    assert schema_of("/_connector/_sync_job", "post", "201") == "Id"
    assert schema_of("/_connector/_sync_job", "get", "200") == "SyncJobList"
    assert schema_of("/_connector/_sync_job/{job_id}", "get", "200") == "SyncJob"
    assert schema_of("/_connector/_sync_job/{job_id}/_cancel", "put", "200") == "Result"


def test_every_error_response_is_the_error_envelope(document):
    errors = [(path, method, status, response)
              for path, item in document["paths"].items()
              for method, operation in item.items()
              for status, response in operation["responses"].items()
              if int(status) >= 400 and (path, status) not in (
                  ("/_connector_service/health", "503"), ("/_connector_service/ready", "503"))]

    assert errors
    assert {response["content"]["application/json"]["schema"]["$ref"]
            for _, _, _, response in errors} == {"#/components/schemas/ErrorEnvelope"}
    envelope = document["components"]["schemas"]["ErrorEnvelope"]
    assert envelope["required"] == ["error", "status"]


def test_probes_and_metrics_are_documented_with_their_bodies(document):
    paths = document["paths"]
    ready = paths["/_connector_service/ready"]["get"]["responses"]
    assert ready["503"]["content"]["application/json"]["schema"] == ready["200"]["content"][
        "application/json"]["schema"]
    assert "200" in paths["/_connector_service/live"]["get"]["responses"]
    metrics = paths["/_connector_service/metrics"]["get"]["responses"]["200"]["content"]
    assert set(metrics) == {"text/plain", "application/openmetrics-text"}


def test_document_without_auth_has_no_security_and_no_401(document):
    statuses = {status for item in document["paths"].values() for operation in item.values()
                for status in operation["responses"]}

    assert "securitySchemes" not in document.get("components", {})
    assert "401" not in statuses


@pytest.mark.parametrize(("mode", "settings", "scheme"), [
    ("api_key", {"AUTH_API_KEYS": "k1"}, {"type": "apiKey", "in": "header",
                                          "name": "Authorization"}),
    ("basic", {"AUTH_BASIC_USERS": "u:p"}, {"type": "http", "scheme": "basic"}),
])
def test_document_with_auth_declares_the_scheme_and_401_on_every_operation(mode, settings, scheme):
    document = openapi.build(create_app({**NO_NODE, "AUTH_MODE": mode, **settings}))

    (declared,) = document["components"]["securitySchemes"].values()
    operations = [operation for item in document["paths"].values() for operation in item.values()]
    assert {key: declared[key] for key in scheme} == scheme
    assert all("401" in operation["responses"] for operation in operations)
    assert all(operation["security"] for operation in operations)
