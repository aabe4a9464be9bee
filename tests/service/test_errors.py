"""Every failure answers in Elasticsearch's error envelope, including ES being unreachable."""

import pytest

from tests.support.api_client import error_type


def test_unknown_route_is_404_in_envelope(api):
    body = api.call("GET", "/_connector/_sync_job/x/_nope", expect=404)
    assert error_type(body) == "resource_not_found_exception"
    assert body["status"] == 404


def test_wrong_method_is_405_in_envelope(client):
    response = client.post("/_connector/_sync_job/some-id/_check_in")
    assert response.status_code == 405
    assert error_type(response.get_json()) == "method_not_allowed_exception"
    assert "PUT" in response.headers["Allow"]


def test_malformed_json_is_400_parse_error(api):
    body = api.call("POST", "/_connector/_sync_job", raw="{not json",
                    headers={"Content-Type": "application/json"}, expect=400)
    assert error_type(body) == "x_content_parse_exception"


def test_unsupported_content_type_is_406(api):
    body = api.call("POST", "/_connector/_sync_job", raw="id=abc",
                    headers={"Content-Type": "application/x-www-form-urlencoded"}, expect=406)
    assert error_type(body) == "media_type_header_exception"


def test_missing_body_where_one_is_required_is_400(api):
    body = api.call("POST", "/_connector/_sync_job", expect=400)
    assert error_type(body) == "parse_exception"
    assert body["error"]["reason"] == "request body is required"


def test_body_on_a_route_that_takes_none_is_400(api):
    body = api.call("GET", "/_connector/_sync_job/abc", {"a": 1}, expect=400)
    assert error_type(body) == "illegal_argument_exception"
    assert body["error"]["reason"] == (
        "request [GET /_connector/_sync_job/abc] does not support having a body")


def test_unknown_query_parameter_is_400(api):
    body = api.call("GET", "/_connector/_sync_job", query={"sise": "1"}, expect=400)
    assert body["error"]["reason"] == (
        "request [/_connector/_sync_job] contains unrecognized parameter: [sise]")


def test_empty_octet_stream_body_counts_as_no_body(api):
    body = api.call("PUT", "/_connector/_sync_job/missing-job/_check_in", raw=b"",
                    headers={"Content-Type": "application/octet-stream"}, expect=404)
    assert error_type(body) == "resource_not_found_exception"


def test_responses_carry_the_elastic_product_header(client):
    response = client.get("/_connector/_sync_job")
    assert response.headers["X-Elastic-Product"] == "Elasticsearch"


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/_connector/_sync_job", None),
    ("GET", "/_connector/_sync_job/abc", None),
    ("POST", "/_connector/_sync_job", {"id": "connector"}),
    ("PUT", "/_connector/_sync_job/abc/_check_in", None),
    ("PUT", "/_connector/_sync_job/abc/_claim", {"worker_hostname": "w"}),
    ("PUT", "/_connector/abc/_last_sync", {"last_sync_error": "e"}),
    ("GET", "/", None),
])
def test_unreachable_elasticsearch_is_503_in_envelope(unreachable_client, method, path, body):
    response = unreachable_client.open(path, method=method, json=body)
    assert response.status_code == 503
    assert error_type(response.get_json()) == "service_unavailable_exception"


def test_health_reports_unreachable_elasticsearch(unreachable_client):
    response = unreachable_client.get("/_connector_service/health")
    assert response.status_code == 503
    assert response.get_json()["elasticsearch"]["reachable"] is False
