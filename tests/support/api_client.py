"""A small client over the Flask test client whose methods read like the API pages.

Each call checks the expected status (`expect=`) and returns the parsed JSON body; an answer
with another status raises UnexpectedStatus with that answer's body, so a set-up call that
fails says so where it fails, not as a puzzling 404 in the test that relies on it.
"""

import json


class ApiClient:
    def __init__(self, client):
        self.client = client

    def call(self, method: str, path: str, body=None, *, expect: int | None = 200,
             query: dict | None = None, raw: bytes | str | None = None,
             headers: dict | None = None):
        kwargs = {"query_string": query or {}, "headers": headers or {}}
        if raw is not None:
            kwargs["data"] = raw
        elif body is not None:
            kwargs["data"] = json.dumps(body)
            kwargs["content_type"] = "application/json"
        response = self.client.open(path, method=method, **kwargs)
        data = response.get_json(silent=True)
        if expect is not None:
            check_status(method, path, response.status_code, data, expect)
        return data

    # Connectors

    def put_connector(self, connector_id: str, expect: int = 201, **fields):
        return self.call("PUT", f"/_connector/{connector_id}", fields, expect=expect)

    def create_connector(self, connector_id: str, *, index_name="search-test",
                         service_type="super-connector", **fields) -> str:
        """A connector ready to sync, as the reference's YAML tests set one up."""
        body = {"index_name": index_name, "name": "my-connector", "language": "de",
                "is_native": False, "service_type": service_type, **fields}
        body = {key: value for key, value in body.items() if value is not None}
        path = f"/_connector/{connector_id}"
        response = self.client.open(path, method="PUT", data=json.dumps(body),
                                    content_type="application/json")
        check_status("PUT", path, response.status_code, response.get_json(silent=True), 200, 201)
        return connector_id

    def get_connector(self, connector_id: str, expect: int = 200, **query):
        return self.call("GET", f"/_connector/{connector_id}", expect=expect, query=query)

    def last_sync(self, connector_id: str, body: dict, expect: int = 200):
        return self.call("PUT", f"/_connector/{connector_id}/_last_sync", body, expect=expect)

    def list_connectors(self, expect: int = 200, **query):
        return self.call("GET", "/_connector", expect=expect, query=query)

    def delete_connector(self, connector_id: str, expect: int = 200, **query):
        return self.call("DELETE", f"/_connector/{connector_id}", expect=expect, query=query)

    def check_in_connector(self, connector_id: str, expect: int = 200):
        return self.call("PUT", f"/_connector/{connector_id}/_check_in", expect=expect)

    def update_connector(self, connector_id: str, route: str, body: dict | None = None,
                         expect: int = 200):
        """PUT /_connector/<id>/<route> (`_pipeline`, `_filtering/_validation`, ...)."""
        return self.call("PUT", f"/_connector/{connector_id}/{route}", body, expect=expect)

    # Sync jobs

    def post_sync_job(self, connector_id: str, expect: int = 201, **fields):
        return self.call("POST", "/_connector/_sync_job", {"id": connector_id, **fields},
                         expect=expect)

    def new_job(self, connector_id: str, **fields) -> str:
        return self.post_sync_job(connector_id, **fields)["id"]

    def get_sync_job(self, job_id: str, expect: int = 200):
        return self.call("GET", f"/_connector/_sync_job/{job_id}", expect=expect)

    def list_sync_jobs(self, expect: int = 200, **query):
        return self.call("GET", "/_connector/_sync_job", expect=expect, query=query)

    def delete_sync_job(self, job_id: str, expect: int = 200):
        return self.call("DELETE", f"/_connector/_sync_job/{job_id}", expect=expect)

    def check_in(self, job_id: str, expect: int = 200):
        return self.call("PUT", f"/_connector/_sync_job/{job_id}/_check_in", expect=expect)

    def claim(self, job_id: str, worker_hostname="host-name", expect: int = 200, **fields):
        body = {"worker_hostname": worker_hostname, **fields}
        return self.call("PUT", f"/_connector/_sync_job/{job_id}/_claim", body, expect=expect)

    def cancel(self, job_id: str, expect: int = 200):
        return self.call("PUT", f"/_connector/_sync_job/{job_id}/_cancel", expect=expect)

    def set_error(self, job_id: str, error="something broke", expect: int = 200):
        return self.call("PUT", f"/_connector/_sync_job/{job_id}/_error", {"error": error},
                         expect=expect)

    def set_stats(self, job_id: str, expect: int = 200, **stats):
        body = {"deleted_document_count": 0, "indexed_document_count": 0,
                "indexed_document_volume": 0, **stats}
        return self.call("PUT", f"/_connector/_sync_job/{job_id}/_stats", body, expect=expect)


class UnexpectedStatus(AssertionError):
    """A call answered with another status than the test expected."""


def check_status(method: str, path: str, status: int, body, *expected: int) -> None:
    if status not in expected:
        wanted = " or ".join(str(code) for code in expected)
        raise UnexpectedStatus(f"{method} {path} answered {status}, expected {wanted}: {body}")


def error_type(body: dict) -> str:
    """The `type` of an Elasticsearch error envelope, after checking the envelope's shape."""
    assert set(body) == {"error", "status"}, body
    error = body["error"]
    assert error["root_cause"][0]["type"] and error["reason"], body
    return error["type"]
