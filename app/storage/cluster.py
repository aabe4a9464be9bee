"""The cluster as a whole: what its root endpoint says, whether it answers, and which of its
nodes do."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import elasticsearch
from elastic_transport import BaseNode, HttpHeaders, NodePool, TransportError
from elasticsearch import Elasticsearch

from app.exceptions import RestError, StorageUnavailable
from app.storage.client_errors import translated_errors

CLUSTER_INFO_SECONDS = 300
# A node slower than this to say its own name counts as not answering.
NODE_PROBE_SECONDS = 2.0


class Cluster:
    def __init__(self, client: Elasticsearch, nodes: NodePool | None = None, *,
                 authorization: str | None = None):
        self.client = client
        self.node_pool = nodes if nodes is not None else client.transport.node_pool
        self.authorization = authorization  # the service's own credentials, for the probes
        self._cluster_info: tuple[float, dict] | None = None
        self._root_endpoint: bool | None = None  # whether the cluster answers GET /

    def info(self) -> dict:
        """The cluster's name, uuid and version block, as ES's root endpoint gives them.

        Cached for CLUSTER_INFO_SECONDS: workers ask at start-up and the version rarely changes.
        """
        cached = self._cluster_info
        if cached and time.monotonic() - cached[0] < CLUSTER_INFO_SECONDS:
            return cached[1]
        with translated_errors():
            info = self._root_info() if self._root_endpoint is not False else None
            if info is None:
                info = self._local_node_info()
        self._cluster_info = (time.monotonic(), info)
        return info

    def _root_info(self) -> dict | None:
        try:
            info = dict(self.client.info().body)
        except elasticsearch.ApiError as err:
            if err.meta.status not in (404, 405):
                raise
            self._root_endpoint = False  # a distribution without it: don't ask again
            return None
        self._root_endpoint = True
        return info

    def _local_node_info(self) -> dict:
        """The root endpoint's answer assembled from the local node's info."""
        nodes = self.client.nodes.info(node_id="_local", metric="_none").body
        node = next(iter(nodes["nodes"].values()))
        state = self.client.cluster.state(metric="metadata", filter_path="metadata.cluster_uuid")
        return {
            "name": node["name"],
            "cluster_name": nodes["cluster_name"],
            "cluster_uuid": state.body["metadata"]["cluster_uuid"],
            "version": {
                "number": node["version"],
                "build_flavor": node.get("build_flavor", "default"),
                "build_type": node.get("build_type", ""),
                "build_hash": node.get("build_hash", ""),
            },
        }

    def ping(self) -> bool:
        try:
            with translated_errors():
                self.client.cluster.health(timeout="1s")
        except (StorageUnavailable, RestError):
            return False
        return True

    def nodes(self) -> list[dict]:
        """Each node the client knows (listed or sniffed; by URL) and whether it answers now,
        asked all at once, each within NODE_PROBE_SECONDS:
        `{"url", "answers": true, "name"}` or `{"url", "answers": false, "reason"}`."""
        nodes = sorted(self.node_pool.all(), key=lambda node: node.base_url)
        with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
            return list(pool.map(self._probe, nodes))

    def _probe(self, node: BaseNode) -> dict:
        headers = HttpHeaders({"accept": "application/json"})
        if self.authorization:
            headers["authorization"] = self.authorization
        report = {"url": node.base_url}
        try:
            answer = node.perform_request("GET", "/_nodes/_local?filter_path=nodes.*.name",
                                          headers=headers, request_timeout=NODE_PROBE_SECONDS)
        except TransportError as err:
            cause = err.errors[0] if err.errors else err
            return {**report, "answers": False, "reason": f"{type(cause).__name__}: {cause}"}
        try:
            if answer.meta.status != 200:
                raise ValueError(f"answered {answer.meta.status}")
            names = [node["name"] for node in json.loads(answer.body)["nodes"].values()]
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            # Something answers at that address, but not as an Elasticsearch node would.
            return {**report, "answers": False, "reason": str(err) or type(err).__name__}
        return {**report, "answers": True, "name": names[0] if names else None}
