"""Phase `accounting`: where the time goes, the ES requests, refreshes and CPU of each call."""

import time

from scripts.bench.fixture import Fixture
from scripts.bench.harness import Sides
from scripts.bench.measures import cpu_seconds, node_counters

OPERATIONS = ("create", "claim", "check_in", "stats", "list")
# Calls of each operation and side whose requests and CPU are counted.
ACCOUNTING_CALLS = 50
# The node counts requests by route, not by method: a real-time GET and a create with an id the
# service generated (PUT) share `/{index}/_doc/{id}`.
ROUTE_NAMES = {"/{index}/_doc/{id}": "get/put doc", "/{index}/_update/{id}": "update",
               "/{index}/_doc": "index", "/{index}/_search": "search",
               "/{index}/_create/{id}": "index"}


def where_time_goes(sides: Sides, fixture: Fixture, service_pids: list[int], es_pid: int,
                    calls: int) -> dict:
    """Per call, for each operation and side: the ES requests and refreshes it caused (counted
    by the node) and the CPU it took in the service, in Elasticsearch and in this process (the
    client). Sides take turns in quarters, service-direct-direct-service, so that background
    work on the node (merges after the refreshes) falls on both alike."""
    concrete = fixture.concrete_jobs_index()
    jobs = {side: {op: fixture.jobs_in("pending" if op == "claim" else "in_progress", calls)
                   for op in ("claim", "check_in", "stats")} for side in ("service", "direct")}
    quarter = calls // 2
    result = {}
    for op in OPERATIONS:
        totals = {side: {"requests": {}, "refreshes": 0, "cpu": [0.0, 0.0, 0.0]}
                  for side in ("service", "direct")}
        for turn, side in enumerate(("service", "direct", "direct", "service")):
            client, total = getattr(sides, side), totals[side]
            before = node_counters(fixture.admin, concrete)
            cpu_before = (cpu_seconds(service_pids), cpu_seconds([es_pid]), time.thread_time())
            for i in range((turn // 2) * quarter, (turn // 2 + 1) * quarter):
                argument = (fixture.connector_ids[i % len(fixture.connector_ids)]
                            if op in ("create", "list") else jobs[side][op][i])
                getattr(client, op)(argument)
            cpu_after = (cpu_seconds(service_pids), cpu_seconds([es_pid]), time.thread_time())
            after = node_counters(fixture.admin, concrete)
            for route, count in after.items():
                delta = count - before.get(route, 0)
                if route == "refresh:external":
                    total["refreshes"] += delta
                elif delta:
                    name = ROUTE_NAMES.get(route, route)
                    total["requests"][name] = total["requests"].get(name, 0) + delta
            for k, (a, b) in enumerate(zip(cpu_before, cpu_after, strict=True)):
                total["cpu"][k] += b - a
        done = 2 * quarter
        for side, total in totals.items():
            service_cpu, es_cpu, client_cpu = (seconds * 1000 / done for seconds in total["cpu"])
            result[(op, side)] = {
                "requests": {name: count / done for name, count in total["requests"].items()},
                "refreshes": total["refreshes"] / done,
                "service_cpu": service_cpu, "es_cpu": es_cpu, "client_cpu": client_cpu}
    return result


def describe_requests(requests: dict[str, float]) -> str:
    parts = [f"{count:g} {name}" if count != 1 else name
             for name, count in sorted(requests.items())]
    return " + ".join(parts) or "none"


def report_accounting(results: dict) -> list[str]:
    trips = results["accounting"]
    lines = [f"## Where the time goes (per call; {ACCOUNTING_CALLS} calls of each operation and "
             "side, the sides taking turns)", "",
             "ES requests and refreshes as the node counts them; CPU from Linux schedstat of the "
             "server's workers, of the Elasticsearch process and of the benchmark's calling "
             "thread.", "",
             "| operation | ES requests service · direct | refreshes service · direct "
             "| CPU service | CPU Elasticsearch via service · direct "
             "| CPU client via service · direct | CPU in all, service path · direct path |",
             "|---|---|---|---:|---:|---:|---:|"]
    for op in OPERATIONS:
        ts, td = trips[(op, "service")], trips[(op, "direct")]
        service_path = ts["service_cpu"] + ts["es_cpu"] + ts["client_cpu"]
        direct_path = td["es_cpu"] + td["client_cpu"]
        lines.append(
            f"| {op} | {describe_requests(ts['requests'])} · {describe_requests(td['requests'])} "
            f"| {ts['refreshes']:.1f} · {td['refreshes']:.1f} | {ts['service_cpu']:.2f} ms "
            f"| {ts['es_cpu']:.2f} · {td['es_cpu']:.2f} ms "
            f"| {ts['client_cpu']:.2f} · {td['client_cpu']:.2f} ms "
            f"| {service_path:.1f} · {direct_path:.1f} ms |")
    return lines + [""]
