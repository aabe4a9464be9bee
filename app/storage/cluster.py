"""The cluster as a whole: what its root endpoint says, and whether it answers."""

import time

import elasticsearch
from elasticsearch import Elasticsearch

from app.exceptions import RestError, StorageUnavailable
from app.storage.errors import translated_errors

CLUSTER_INFO_SECONDS = 300


class Cluster:
    def __init__(self, client: Elasticsearch):
        self.client = client
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
