"""Phase `latency`: p50/p99 of every operation, service and direct alternated in one loop."""

import time

from scripts.bench.fixture import Fixture
from scripts.bench.harness import Sides
from scripts.bench.measures import TARGETS, fmt_ms, percentile, timed, verdict

# The latency phase also runs check_in and stats on jobs the service never saw.
LATENCY_OPERATIONS = ("create", "claim", "check_in", "stats", "check_in_cold", "stats_cold", "list")
# The client method behind each latency operation.
METHOD = {"check_in_cold": "check_in", "stats_cold": "stats"}
LABEL = {"check_in": "check_in (a worker's heartbeat: the job was claimed through the service)",
         "stats": "stats (the same, on a claimed job)",
         "check_in_cold": "check_in, cold (a bulk-loaded job the service never saw)",
         "stats_cold": "stats, cold (the same)"}
# What each operation costs the node when sent directly: the same state change as the service's.
DIRECT_DESCRIPTION = {
    "create": "index (op_type=create, refresh=true)",
    "claim": "get + update (if_seq_no, refresh=true)",
    "check_in": "get + update (if_seq_no)",
    "stats": "get + update (if_seq_no)",
    "check_in_cold": "get + update (if_seq_no)",
    "stats_cold": "get + update (if_seq_no)",
    "list": "search (same body)",
}


def latency(sides: Sides, fixture: Fixture, samples: int, warmup: int,
            deadline: float) -> dict[tuple[str, str], list[float]]:
    """Every operation, service and direct alternated within one loop.

    check_in and stats go to jobs claimed before the loop, each side through itself, as a
    worker heartbeats the job it claimed; `*_cold` go to bulk-loaded jobs the service never
    saw. Also in the loop: check_in as one guarded update on remembered tokens (direct), and
    the floor of any call through the service, a 404 it answers without Elasticsearch."""
    total = samples + warmup
    jobs = {side: {op: fixture.jobs_in("pending" if op in ("claim", "check_in", "stats")
                                       else "in_progress", total)
                   for op in ("claim", "check_in", "stats", "check_in_cold", "stats_cold")}
            for side in ("service", "direct")}
    for side, client in sides.pair(0):
        for job_id in jobs[side]["check_in"] + jobs[side]["stats"]:
            client.claim(job_id)
    remembered = fixture.jobs_in("in_progress", total)
    times: dict[tuple[str, str], list[float]] = {(op, side): [] for op in LATENCY_OPERATIONS
                                                  for side in ("service", "direct")}
    times[("check_in", "remembered")] = []
    times[("list", "floor")] = []
    for i in range(total):
        if time.monotonic() > deadline:
            break
        connector_id = fixture.connector_ids[i % len(fixture.connector_ids)]
        for op in LATENCY_OPERATIONS:
            calls = [(side, getattr(client, METHOD.get(op, op)),
                      connector_id if op in ("create", "list") else jobs[side][op][i])
                     for side, client in sides.pair(i)]
            if op == "check_in":
                calls.insert(i % 3, ("remembered", sides.direct.check_in_remembered,
                                     remembered[i]))
            if op == "list":
                calls.insert(i % 3, ("floor", sides.service.unrouted, connector_id))
            for side, call, argument in calls:
                took = timed(call, argument)
                if i >= warmup:
                    times[(op, side)].append(took)
    return times


def report_latency(results: dict) -> list[str]:
    lat = results["latency"]
    samples = len(lat[("create", "service")])
    lines = [f"## Latency at {results['latency_jobs']:,} stored jobs ({samples} calls each, "
             f"service and direct alternated; load {results['load_latency']})", "",
             "| operation | direct equivalent | p50 service | p50 direct | p50 ratio "
             "| p99 service | p99 direct | p99 ratio | target p50 ratio ≤ 1.3 |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for op in LATENCY_OPERATIONS:
        s, d = lat[(op, "service")], lat[(op, "direct")]
        s50, d50, s99, d99 = (percentile(s, 0.5), percentile(d, 0.5), percentile(s, 0.99),
                              percentile(d, 0.99))
        lines.append(f"| {LABEL.get(op, op)} | {DIRECT_DESCRIPTION[op]} | {fmt_ms(s50)} ms "
                     f"| {fmt_ms(d50)} ms | {s50 / d50:.2f} | {fmt_ms(s99)} ms | {fmt_ms(d99)} ms "
                     f"| {s99 / d99:.2f} | {verdict(s50 / d50 <= TARGETS['latency_ratio'])} |")
    one_trip = percentile(lat[("check_in", "remembered")], 0.5)
    direct = percentile(lat[("check_in_cold", "direct")], 0.5)
    floor = percentile(lat[("list", "floor")], 0.5)
    list_direct = percentile(lat[("list", "direct")], 0.5)
    lines += ["", f"check_in as one guarded update on remembered tokens (direct, in the same loop; "
              f"what the service sends for a heartbeat): p50 {fmt_ms(one_trip)} ms, "
              f"{one_trip / direct:.2f} of get + update.", "",
              f"The floor of any call through the service (a 404 it answers without "
              f"Elasticsearch, in the same loop): p50 {fmt_ms(floor)} ms, "
              f"{floor / list_direct:.2f} of the direct list's p50."]
    return lines + [""]
