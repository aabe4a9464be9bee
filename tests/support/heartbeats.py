"""The service as scripts/serve runs it (one worker), seen by a worker sending heartbeats:
answers, the access line that says where each was served, and the metrics."""

import json
import time
from contextlib import contextmanager

import urllib3

from tests.support.live_server import production_server

# Headers that differ between any two answers.
PER_ANSWER = {"date", "x-request-id"}
# What the connectors framework sends every 10 s while a sync runs (docs/worker.md).
STATS = {"indexed_document_count": 12, "indexed_document_volume": 3,
         "deleted_document_count": 0, "metadata": {}}


@contextmanager
def served(elasticsearch_url, tmp_path, env=None):
    log_path = tmp_path / "server.log"
    with production_server(elasticsearch_url, workers=1, threads=4, env=env,
                           log_path=log_path) as url:
        yield Service(url, log_path)


class Service:
    def __init__(self, url, log_path):
        self.url, self.log_path = url, log_path
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=30))
        self.sent = 0

    def call(self, method, path, body=None, headers=None):
        """The answer, with an X-Opaque-Id of its own unless `headers` name one."""
        self.sent += 1
        headers = {"X-Opaque-Id": f"call-{self.sent}", **(headers or {})}
        if body is not None:
            headers["Content-Type"] = "application/json"
        return self.http.request(method, self.url + path, headers=headers,
                                 body=json.dumps(body) if body is not None else None)

    def check_in(self, job_id, *, query="", headers=None):
        return self.call("PUT", f"/_connector/_sync_job/{job_id}/_check_in{query}",
                         headers=headers)

    def stats(self, job_id, body=None, *, query="", headers=None, raw=None):
        """`_stats` with `body` as JSON (STATS by default), or with `raw` bytes as they are."""
        path = f"/_connector/_sync_job/{job_id}/_stats{query}"
        if raw is None:
            return self.call("PUT", path, STATS if body is None else body, headers=headers)
        self.sent += 1
        return self.http.request("PUT", self.url + path, body=raw,
                                 headers={"X-Opaque-Id": f"call-{self.sent}", **(headers or {})})

    def claimed_job(self, api, connector_id):
        """A job this service claimed, so the serving process remembers its version."""
        job_id = api.new_job(connector_id)
        claimed = self.call("PUT", f"/_connector/_sync_job/{job_id}/_claim",
                            {"worker_hostname": "worker-1"})
        assert claimed.status == 200, claimed.data
        return job_id

    def access_line(self, answer) -> dict:
        """The access line of the request `answer` answered (its X-Request-Id)."""
        request_id = answer.headers["x-request-id"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for line in self.log_path.read_text().splitlines():
                record = json.loads(line)
                if (record.get("event", {}).get("dataset") == "connector_sync_jobs.access"
                        and record["http"]["request"]["id"] == request_id):
                    return record
            time.sleep(0.05)
        raise AssertionError(f"no access line for {request_id}")

    def served_on(self, answer) -> str:
        return self.access_line(answer)["connector_service"]["served_on"]

    def es_calls(self, answer) -> int:
        return self.access_line(answer)["connector_service"]["elasticsearch"]["calls"]

    def metrics(self) -> str:
        return self.http.request("GET", self.url + "/_connector_service/metrics").data.decode()


def comparable(answer, job_id: str = "") -> tuple:
    """Status, headers and body, with `job_id` in the body written as `<id>` (ids of the same
    length: the answers of two jobs compare)."""
    headers = {name.lower(): value for name, value in answer.headers.items()
               if name.lower() not in PER_ANSWER | {"x-opaque-id"}}
    body = answer.data.replace(job_id.encode(), b"<id>") if job_id else answer.data
    return answer.status, headers, body
