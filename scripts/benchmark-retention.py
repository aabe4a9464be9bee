#!/usr/bin/env python3
"""Measures the retention policy's first run over a large history, and what it costs the
workers' heartbeats while it runs.

Starts a local Elasticsearch node of its own (tests.support.nodes.LocalNode, removed afterwards),
bulk-loads --jobs past jobs over --connectors connectors (scripts/bench/fixture.py's history: a
year of jobs, 90 % finished), then:

1. baseline: the service under granian (as scripts/serve runs it) without a policy; --threads
   workers check in their running jobs for --baseline-seconds;
2. first run: the service again, with RETENTION_KEEP_LAST=--keep-last, so that one of its worker
   processes runs the policy over the whole backlog (RETENTION_BATCH_SIZE,
   RETENTION_BATCH_PAUSE_SECONDS as given) while the same workers check in; the run's time and
   counts come from its log line;
3. after: the same workers on the same server for --baseline-seconds once the run has ended.

Prints a Markdown table: jobs deleted, the run's time and rate, and check_in p50/p99 before,
during and after the run. Traffic goes to 127.0.0.1 only.

    .venv/bin/python scripts/benchmark-retention.py --jobs 100000 --connectors 1000
"""

import argparse
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from elasticsearch import Elasticsearch  # noqa: E402

from app.storage import SYNC_JOBS_INDEX  # noqa: E402

# The general benchmark's node, service, client and history, used as they are.
from scripts.bench.fixture import Fixture, create_connectors, job_snapshots  # noqa: E402
from scripts.bench.harness import TERMINAL, ServiceClient, ServiceProcess  # noqa: E402
from scripts.bench.measures import machine_facts, percentile  # noqa: E402
from tests.support.nodes import local_node  # noqa: E402

RUN_LINE = re.compile(r"retention policy run (\w+): (\d+) finished sync jobs deleted, (\d+) "
                      r"skipped \(changed since found\) in ([\d.]+) s")


def progress(text: str) -> None:
    print(f"[retention-benchmark] {text}", file=sys.stderr, flush=True)


def heartbeats(http, job_ids: list[str], threads: int, until) -> list[tuple[float, float]]:
    """Workers checking in their jobs, one thread each, until `until()` is true: each
    check-in's (start, seconds)."""
    samples: list[tuple[float, float]] = []
    lock = threading.Lock()

    def work(mine: list[str]) -> None:
        n = 0
        while not until():
            started = time.monotonic()
            http.check_in(mine[n % len(mine)])
            with lock:
                samples.append((started, time.monotonic() - started))
            n += 1

    workers = [threading.Thread(target=work, args=(job_ids[i::threads],)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return samples


def statuses(admin: Elasticsearch) -> dict[str, int]:
    admin.indices.refresh(index=SYNC_JOBS_INDEX)
    found = admin.search(index=SYNC_JOBS_INDEX, size=0, aggs={
        "s": {"terms": {"field": "status", "size": 20}}})
    return {b["key"]: b["doc_count"] for b in found["aggregations"]["s"]["buckets"]}


def run_line(log_path: Path) -> tuple[str, int, int, float] | None:
    for line in log_path.read_text(errors="replace").splitlines():
        match = RUN_LINE.search(line)
        if match:
            outcome, deleted, skipped, seconds = match.groups()
            return outcome, int(deleted), int(skipped), float(seconds)
    return None


def ms(values: list[float], fraction: float) -> str:
    return f"{percentile(values, fraction) * 1000:.2f} ms" if values else "n/a"


def measure(args, es_url: str) -> str:
    admin = Elasticsearch(es_url, request_timeout=120)
    log_dir = Path(tempfile.mkdtemp(prefix="retention-benchmark-"))
    (log_dir / "plain").mkdir()
    (log_dir / "policy").mkdir()
    plain = ServiceProcess(es_url, workers=args.workers, threads=32, access_log=False,
                           extra_env={}, log_dir=log_dir / "plain")
    http = ServiceClient(plain.url)
    try:
        plain.wait_until_healthy(http)
        ids = create_connectors(http, admin, args.connectors)
        fixture = Fixture(admin, ids, job_snapshots(http, admin, ids))
        loaded, load_seconds = fixture.fill_to(args.jobs)
        progress(f"loaded {loaded} jobs in {load_seconds:.0f} s")
        running = fixture.jobs_in("in_progress", args.threads * 4)
        before = statuses(admin)
        _, dry = http.request("GET", f"/_connector/_sync_job/_retention?keep_last={args.keep_last}",
                              expect=200)
        deadline = time.monotonic() + args.baseline_seconds
        baseline = [s for _, s in heartbeats(http, running, args.threads,
                                             lambda: time.monotonic() > deadline)]
        progress(f"baseline: {len(baseline)} check-ins, p50 {ms(baseline, 0.5)}")
    finally:
        plain.stop()

    env = {"RETENTION_KEEP_LAST": str(args.keep_last), "RETENTION_INTERVAL_SECONDS": "10",
           "RETENTION_BATCH_SIZE": str(args.batch_size),
           "RETENTION_BATCH_PAUSE_SECONDS": str(args.pause)}
    policy = ServiceProcess(es_url, workers=args.workers, threads=32, access_log=False,
                            extra_env=env, log_dir=log_dir / "policy")
    http = ServiceClient(policy.url)
    try:
        policy.wait_until_healthy(http)
        limit = time.monotonic() + args.max_seconds
        during = heartbeats(http, running, args.threads,
                            lambda: run_line(policy.log_path) is not None
                            or time.monotonic() > limit)
        ended = time.monotonic()
        # The same server and index once the backlog is gone (later runs find next to nothing).
        deadline = ended + args.baseline_seconds
        settled = [s for _, s in heartbeats(http, running, args.threads,
                                            lambda: time.monotonic() > deadline)]
    finally:
        policy.stop()
    found = run_line(policy.log_path)
    if found is None:
        raise SystemExit(f"no policy run ended within {args.max_seconds} s (log: {policy.log_path})")
    outcome, deleted, skipped, seconds = found
    in_run = [s for started, s in during if started >= ended - seconds]
    after = statuses(admin)
    unfinished = {status: (before.get(status, 0), after.get(status, 0))
                  for status in ("pending", "in_progress", "suspended", "canceling")}
    facts = machine_facts(admin)
    rows = [
        ("jobs loaded, connectors", f"{args.jobs:,}, {args.connectors:,}"),
        ("finished jobs before the run", f"{sum(before.get(s, 0) for s in TERMINAL):,}"),
        ("dry run count (capped at 10,000)", f"{dry['count']:,}"),
        ("policy", f"keep_last={args.keep_last}, batch {args.batch_size}, pause {args.pause} s"),
        ("first run", f"{outcome}: {deleted:,} deleted, {skipped} skipped in {seconds:.1f} s "
                      f"({deleted / seconds:,.0f} jobs/s)" if seconds else outcome),
        ("finished jobs after", f"{sum(after.get(s, 0) for s in TERMINAL):,} "
                                f"({args.connectors:,} connectors × {args.keep_last})"),
        ("unfinished jobs before → after", ", ".join(f"{k} {b}→{a}"
                                                      for k, (b, a) in unfinished.items())),
        (f"check_in p50 / p99, {args.threads} workers, no run ({len(baseline)} calls)",
         f"{ms(baseline, 0.5)} / {ms(baseline, 0.99)}"),
        (f"check_in p50 / p99 during the run ({len(in_run)} calls)",
         f"{ms(in_run, 0.5)} / {ms(in_run, 0.99)}"),
        (f"check_in p50 / p99 after the run, same server ({len(settled)} calls)",
         f"{ms(settled, 0.5)} / {ms(settled, 0.99)}"),
    ]
    admin.close()
    header = (f"Elasticsearch {facts['es_version']} (heap {facts['es_heap']}), "
              f"{facts['cores']} cores, service with {args.workers} granian worker(s)")
    return "\n".join([header, "", "| measure | value |", "|---|---|",
                      *(f"| {name} | {value} |" for name, value in rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--connectors", type=int, default=1000)
    parser.add_argument("--keep-last", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--pause", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=4, help="workers checking in")
    parser.add_argument("--workers", type=int, default=1, help="granian worker processes")
    parser.add_argument("--baseline-seconds", type=float, default=20)
    parser.add_argument("--max-seconds", type=float, default=3600)
    parser.add_argument("--es-heap", default="2g")
    args = parser.parse_args(argv)
    with local_node("retention-benchmark", heap=args.es_heap) as node:
        progress(f"Elasticsearch node of the benchmark's own on {node.url}")
        print(measure(args, node.url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
