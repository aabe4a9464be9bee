"""A scrape merges every granian worker's metrics files while workers come and go.

Files are written as prometheus_client's worker processes write them; the races are made
deterministic: a replacement worker's file caught before it is sized, and a dead worker's live
gauge removed by another worker's scrape between the listing and the removal.
"""

import os
from pathlib import Path

from prometheus_client.mmap_dict import MmapedDict, mmap_key

from app.observability.metrics import forget_dead_workers, worker_metrics

REQUESTS = "connector_service_http_requests"
IN_FLIGHT = "connector_service_http_requests_in_flight"


def write(directory: Path, kind: str, pid: int, name: str, value: float) -> None:
    values = MmapedDict(str(directory / f"{kind}_{pid}.db"))
    values.write_value(mmap_key(name, name, (), (), "help"), value, 0.0)
    values.close()


def figures(directory: Path, alive=lambda pid: True) -> dict[str, float]:
    return {sample.name: sample.value
            for metric in worker_metrics(directory, alive) for sample in metric.samples}


def test_counters_of_every_worker_add_up(tmp_path):
    write(tmp_path, "counter", 101, REQUESTS + "_total", 3)
    write(tmp_path, "counter", 102, REQUESTS + "_total", 4)
    assert figures(tmp_path)[REQUESTS + "_total"] == 7


def test_a_replacement_workers_file_not_yet_sized_is_passed_over(tmp_path):
    write(tmp_path, "counter", 101, REQUESTS + "_total", 3)
    (tmp_path / "counter_102.db").touch()  # created, not yet truncated to its size
    assert figures(tmp_path)[REQUESTS + "_total"] == 3


def test_a_dead_workers_live_gauges_go_and_its_counters_stay(tmp_path):
    write(tmp_path, "counter", 101, REQUESTS + "_total", 3)
    write(tmp_path, "gauge_livesum", 101, IN_FLIGHT, 1)
    write(tmp_path, "gauge_livesum", 102, IN_FLIGHT, 1)
    seen = figures(tmp_path, alive=lambda pid: pid != 101)
    assert seen[REQUESTS + "_total"] == 3 and seen[IN_FLIGHT] == 1
    assert not (tmp_path / "gauge_livesum_101.db").exists()
    assert (tmp_path / "counter_101.db").exists()


def test_a_live_gauge_another_scrape_removed_meanwhile_is_no_error(tmp_path):
    write(tmp_path, "gauge_livesum", 101, IN_FLIGHT, 1)
    dead = tmp_path / "gauge_livesum_101.db"

    def removed_by_the_other_worker(pid):
        os.remove(dead)
        return False

    forget_dead_workers(tmp_path, removed_by_the_other_worker)
    assert not dead.exists()
