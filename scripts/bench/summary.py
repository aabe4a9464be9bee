"""Phase `summary`: the dashboard's summary at the largest size, and tabs polling it under writes."""

import threading
import time
from datetime import datetime

from app.storage import SYNC_JOBS_INDEX
from scripts.bench.fixture import Fixture
from scripts.bench.harness import Sides
from scripts.bench.measures import TARGETS, cpu_seconds, fmt_ms, node_counters, percentile, timed, verdict

# How the page asks while auto-refreshing (app/static/dashboard.js): every interval, figures up
# to two intervals old.
DASHBOARD_INTERVAL = 5
DASHBOARD_TABS = 5


def previous_summary_body() -> dict:
    """The summary's one aggregation before it moved to a collapsed search and a composite
    aggregation: terms on connector.id ordered by the latest created_at, with terms on status
    and top_hits below (global ordinals that every refresh invalidates)."""
    return {"size": 0, "aggs": {
        "statuses": {"terms": {"field": "status", "size": 20}},
        "connector_count": {"cardinality": {"field": "connector.id", "precision_threshold": 40000}},
        "connectors": {"terms": {"field": "connector.id", "size": 1000,
                                 "order": [{"last_created_at": "desc"}, {"_key": "asc"}]},
                       "aggs": {"last_created_at": {"max": {"field": "created_at"}},
                                "statuses": {"terms": {"field": "status", "size": 20}},
                                "last_sync_job": {"top_hits": {"size": 1, "sort": [
                                    {"created_at": {"order": "desc"}}]}}}}}}


def summary_at_scale(sides: Sides, fixture: Fixture, es_pid: int, samples: int,
                     window: float) -> dict:
    """The summary with a job created through the service before each call (so every call
    follows a refresh): counted for the call (max_age=0) and the previous aggregation sent
    directly, alternated, each with the node's CPU for it; then the dashboard's load, tabs
    polling as the page does while jobs are created."""
    http, admin = sides.service, fixture.admin
    times = {"fresh": [], "previous": []}
    cpu = {"fresh": [], "previous": []}
    for i in range(samples):
        for side in (("fresh", "previous") if i % 2 == 0 else ("previous", "fresh")):
            http.create(fixture.connector_ids[i % len(fixture.connector_ids)])
            before = cpu_seconds([es_pid])
            if side == "fresh":
                took = timed(http.summary)
            else:
                took = timed(lambda: admin.search(index=SYNC_JOBS_INDEX,
                                                  body=previous_summary_body(),
                                                  request_cache=False))
            cpu[side].append((cpu_seconds([es_pid]) - before) * 1000)
            times[side].append(took)

    # The dashboard: tabs polling every DASHBOARD_INTERVAL s (staggered), a job created every
    # 0.5 s; each answer's age is checked against what the page asks for.
    concrete = fixture.concrete_jobs_index()
    max_age = 2 * DASHBOARD_INTERVAL
    served: list[tuple[float, float]] = []  # (milliseconds, age of the figures in seconds)
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.wait(0.5):
            http.create(fixture.connector_ids[i % len(fixture.connector_ids)])
            i += 1

    def tab(offset: float):
        if stop.wait(offset):
            return
        while not stop.is_set():
            started = time.perf_counter()
            body = http.summary(max_age)
            took = (time.perf_counter() - started) * 1000
            age = time.time() - datetime.fromisoformat(body["as_of"].replace("Z", "+00:00")).timestamp()
            served.append((took, age))
            stop.wait(DASHBOARD_INTERVAL)

    http.summary()  # the first tab's first call counts now, as the page's first load does
    searches_before = node_counters(admin, concrete).get("/{index}/_msearch", 0)
    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=tab, args=(k * DASHBOARD_INTERVAL / DASHBOARD_TABS,))
        for k in range(DASHBOARD_TABS)]
    for thread in threads:
        thread.start()
    time.sleep(window)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    computed = node_counters(admin, concrete).get("/{index}/_msearch", 0) - searches_before
    return {"stored": fixture.count(), "times": times, "cpu": cpu, "served": served,
            "computed": computed, "max_age": max_age, "window": window}


def report_summary(results: dict) -> list[str]:
    summary = results["summary"]
    times, cpu, served = summary["times"], summary["cpu"], summary["served"]
    lines = [f"## The dashboard's summary at {summary['stored']:,} jobs "
             f"({results['connector_count']:,} connectors)", "",
             f"A job created through the service before each call, so each call follows a refresh; "
             f"{len(times['fresh'])} calls of each, alternated.", "",
             "| | p50 | p99 | Elasticsearch CPU per call, p50 |", "|---|---:|---:|---:|"]
    names = {"fresh": "summary counted for the call (`max_age=0`): collapse + composite, one _msearch",
             "previous": "the previous aggregation (terms + top_hits), sent directly"}
    for side in ("fresh", "previous"):
        lines.append(f"| {names[side]} | {fmt_ms(percentile(times[side], 0.5))} ms "
                     f"| {fmt_ms(percentile(times[side], 0.99))} ms "
                     f"| {fmt_ms(percentile(cpu[side], 0.5))} ms |")
    latencies = [took for took, _ in served]
    oldest = max((age for _, age in served), default=0.0)
    p50 = percentile(latencies, 0.5) if latencies else float("nan")
    per_answer = len(served) / summary["computed"] if summary["computed"] else float("inf")
    lines += ["", f"Dashboard load: {DASHBOARD_TABS} tabs each asking every {DASHBOARD_INTERVAL} s "
              f"with `max_age={summary['max_age']}s` (as the page does), a job created every 0.5 s, "
              f"for {summary['window']:.0f} s: {len(served)} answers, p50 {fmt_ms(p50)} ms, "
              f"p99 {fmt_ms(percentile(latencies, 0.99)) if latencies else '—'} ms; oldest figures "
              f"served {oldest:.1f} s old (the page allows {summary['max_age']} s and shows `as_of`); "
              f"{summary['computed']} summaries computed, one per {per_answer:.1f} answers.", "",
              f"Summary p50 at {summary['stored']:,} jobs with jobs being created, as the page asks: "
              f"{fmt_ms(p50)} ms, target ≤ 50 ms: {verdict(p50 <= TARGETS['summary_p50_ms'])}; "
              f"figures within the page's age: {verdict(oldest <= summary['max_age'])}", ""]
    return lines
