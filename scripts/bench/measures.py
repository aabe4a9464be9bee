"""What the benchmark measures with: percentiles, timings, CPU and memory of processes, the node's
request counters and the machine's facts."""

import math
import os
import platform
import time
from importlib.metadata import version as package_version
from pathlib import Path

from elasticsearch import Elasticsearch

TARGETS = {"latency_ratio": 1.3, "throughput_ratio": 0.75, "scale_ratio": 1.2, "list_p50_ms": 50.0,
           "summary_p50_ms": 50.0,
           # The service's CPU per call against the node's for the same state change sent
           # directly; the node's CPU per call through the service against the same.
           "service_cpu_ratio": 1.5, "es_cpu_ratio": 1.2}


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def timed(call, *args) -> float:
    """Milliseconds one call took."""
    start = time.perf_counter()
    call(*args)
    return (time.perf_counter() - start) * 1000


def fmt_ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def machine_facts(admin: Elasticsearch) -> dict:
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem_kb = next((int(line.split()[1]) for line in meminfo.splitlines()
                   if line.startswith("MemTotal:")), 0)
    node = next(iter(admin.nodes.info(node_id="_local", metric="jvm")["nodes"].values()))
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "os": f"{platform.system()} {platform.release()}",
        "cpu": _cpu_model(),
        "es_version": node["version"],
        "es_heap": f"{node['jvm']['mem']['heap_max_in_bytes'] / 1024 ** 3:.1f} GiB",
        "python": platform.python_version(),
        "client": f"elasticsearch-py {package_version('elasticsearch')}",
        "granian": package_version("granian"),
    }


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def load_average() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


def route_requests(node: dict) -> dict[str, int]:
    """Requests per REST route from one node's http stats, the stats calls themselves left out."""
    return {route: stats["requests"]["count"]
            for route, stats in node["http"].get("routes", {}).items() if "stats" not in route}


def node_counters(admin: Elasticsearch, concrete: str) -> dict[str, int]:
    """Requests per REST route (the node's own statistics) and refreshes of the jobs index."""
    http = next(iter(admin.nodes.stats(node_id="_local", metric="http")["nodes"].values()))
    counters = route_requests(http)
    refresh = admin.indices.stats(index=concrete, metric="refresh")["_all"]["total"]["refresh"]
    counters["refresh:external"] = refresh["external_total"]
    return counters


def node_work(admin: Elasticsearch) -> dict[str, int]:
    """What the node did so far (`_nodes/_local/stats/http,indices`): requests per REST route,
    and its shard operations: documents indexed, updates found to be noops, real-time gets (an
    update's own read of the document included), refreshes and search queries."""
    node = next(iter(admin.nodes.stats(node_id="_local", metric="http,indices")["nodes"]
                     .values()))
    work = route_requests(node)
    indices = node["indices"]
    work.update({"indexed": indices["indexing"]["index_total"],
                 "noop": indices["indexing"]["noop_update_total"],
                 "gets": indices["get"]["total"], "refreshes": indices["refresh"]["total"],
                 "searches": indices["search"]["query_total"]})
    return work


def cpu_seconds(pids: list[int]) -> float:
    """CPU time so far of every thread of these processes (Linux schedstat)."""
    return sum(seconds for pid in pids for _, seconds in thread_cpu(pid))


def cpu_seconds_by_thread_name(pid: int) -> dict[str, float]:
    """CPU time so far of one process's threads, summed by thread name (Linux comm)."""
    found: dict[str, float] = {}
    for name, seconds in thread_cpu(pid, named=True):
        found[name] = found.get(name, 0.0) + seconds
    return found


def thread_cpu(pid: int, named: bool = False) -> list[tuple[str, float]]:
    """(name, CPU seconds so far) of each thread of a process, from /proc/<pid>/task/*/schedstat
    (nanoseconds); the name only when `named`. A thread that ended meanwhile is left out."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            name = (task / "comm").read_text().strip() if named else ""
            found.append((name, int((task / "schedstat").read_text().split()[0]) / 1e9))
        except (OSError, ValueError, IndexError):
            pass
    return found


def memory_mib(pids: list[int]) -> list[tuple[float, float]]:
    """(resident, peak resident) MiB of each process, from /proc/<pid>/status."""
    found = []
    for pid in pids:
        try:
            status = dict(line.split(":", 1) for line in
                          Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
            found.append((int(status["VmRSS"].split()[0]) / 1024,
                          int(status["VmHWM"].split()[0]) / 1024))
        except (OSError, KeyError, ValueError):
            pass  # the process ended meanwhile
    return found


def elasticsearch_pid(admin: Elasticsearch) -> int:
    return next(iter(admin.nodes.info(node_id="_local", metric="process")["nodes"]
                     .values()))["process"]["id"]


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found
