"""The command: its options, the phases in order, and the run around them."""

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from elasticsearch import Elasticsearch

from app.config import Config
from app.storage import connect
from scripts.bench import __doc__ as CONTENTS
from scripts.bench.accounting import ACCOUNTING_CALLS, where_time_goes
from scripts.bench.auth_cost import auth_cost
from scripts.bench.compare import compare
from scripts.bench.cost import cost
from scripts.bench.fixture import (
    Fixture,
    create_connectors,
    delete_connector_indices,
    job_snapshots,
    refuse_existing_connector_indices,
    require_loopback,
)
from scripts.bench.floor import floor
from scripts.bench.forwarding import forwarding
from scripts.bench.harness import (
    DirectClient,
    ServiceClient,
    ServiceProcess,
    Sides,
    check_same_answers,
    progress,
)
from scripts.bench.latency import latency
from scripts.bench.measures import children, elasticsearch_pid, load_average, machine_facts, memory_mib
from scripts.bench.replicas import replicas_phase
from scripts.bench.report import report
from scripts.bench.scale import at_scale
from scripts.bench.summary import summary_at_scale
from scripts.bench.throughput import throughput
from tests.support.nodes import local_node

PHASES = ("accounting", "latency", "throughput", "cost", "floor", "forwarding", "replicas",
          "scale", "summary")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=CONTENTS.split("\n\n")[0])
    parser.add_argument("--es-url", default=None,
                        help="a loopback node without the connector indices (default: a node of "
                             "the benchmark's own, removed at the end)")
    parser.add_argument("--es-heap", default="2g", help="heap of the benchmark's own node")
    parser.add_argument("--jobs", default=None,
                        help="comma-separated stored-job counts for the scale phase "
                             "(default 10000,1000000; --quick: 1000,10000)")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--phases", default=",".join(PHASES),
                        help=f"which phases to run (default all: {','.join(PHASES)})")
    parser.add_argument("--samples", type=int, help="latency calls per operation and side "
                                                    "(default 300; --quick: 100)")
    parser.add_argument("--connectors", type=int, default=100)
    parser.add_argument("--workers", type=int, default=32, help="threads in the throughput phase")
    parser.add_argument("--window", type=float, help="seconds per throughput window")
    parser.add_argument("--rounds", type=int, help="throughput and cost windows per side")
    parser.add_argument("--cost-threads", type=int, default=16,
                        help="threads in the cost phase, each on a job of its own")
    parser.add_argument("--cost-window", type=float,
                        help="seconds per cost window (default 3; --quick: 1.5)")
    parser.add_argument("--profile", type=Path, metavar="FILE",
                        help="cost phase: record the worker with py-spy --gil during one more "
                             "check_in window into FILE (py-spy's raw format) and report the "
                             "microseconds per call of each step")
    parser.add_argument("--py-spy", default=shutil.which("py-spy"),
                        help="the py-spy program for --profile (default: py-spy on PATH; it "
                             "must be allowed to read the worker's memory)")
    parser.add_argument("--summary-window", type=float,
                        help="seconds of dashboard load in the summary phase (default 60; "
                             "--quick: 15)")
    # scripts/serve's defaults: one worker per two cores (at most 4), 32 threads each.
    parser.add_argument("--server-workers", type=int,
                        default=int(os.environ.get("WEB_CONCURRENCY",
                                                   min(((os.cpu_count() or 1) + 1) // 2, 4))))
    parser.add_argument("--server-threads", type=int,
                        default=int(os.environ.get("WEB_THREADS", 32)))
    parser.add_argument("--no-access-log", action="store_true",
                        help="run the server without scripts/serve's access log")
    parser.add_argument("--service-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the service (repeatable)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=SPEC",
                        help="compare service settings instead of running the phases (give two "
                             "or more): SPEC is comma-separated workers=N, threads=N, "
                             "access_log=off or ENV_NAME=VALUE; empty: scripts/serve's")
    parser.add_argument("--max-seconds", type=int, default=3600, help="bound on the whole run")
    parser.add_argument("--keep", action="store_true",
                        help="with --es-url: keep the connector indices and their jobs at the end")
    parser.add_argument("--output", type=Path, help="also write the report to this file")
    parser.add_argument("--auth", action="store_true",
                        help="measure AUTH_MODE=elasticsearch's cost on a secured node of the "
                             "benchmark's own instead of the phases")
    args = parser.parse_args(argv)
    args.phases = set(args.phases.split(","))
    if args.phases - set(PHASES):
        parser.error(f"unknown phases: {', '.join(sorted(args.phases - set(PHASES)))}")
    if len(args.variant) == 1:
        parser.error("--variant compares settings: give two or more")
    quick = args.quick
    args.jobs = sorted(int(n) for n in (args.jobs or ("1000,10000" if quick else "10000,1000000"))
                       .split(","))
    args.samples = args.samples or (100 if quick else 300)
    args.window = args.window or (3.0 if quick else 5.0)
    args.rounds = args.rounds or (2 if quick else 3)
    args.summary_window = args.summary_window or (15.0 if quick else 60.0)
    args.cost_window = args.cost_window or (1.5 if quick else 3.0)
    if args.profile and not args.py_spy:
        parser.error("--profile needs py-spy: put it on PATH or name it with --py-spy")
    return args


def on_alarm(signum, frame):
    raise TimeoutError("the benchmark ran past --max-seconds")


def run_phases(args, admin: Elasticsearch, service: ServiceProcess, results: dict,
               deadline: float) -> None:
    http = ServiceClient(service.url)
    service.wait_until_healthy(http)
    progress(f"service up on {service.url} (server log {service.log_path})")
    # The direct side's client is built as the service builds its own.
    config = Config.from_env().override({"ELASTICSEARCH_URL": args.es_url, **service.extra_env})
    fixture = Fixture(admin, create_connectors(http, admin, args.connectors))
    fixture.snapshots = job_snapshots(http, admin, fixture.connector_ids)
    sides = Sides(http, DirectClient(connect(config).client, fixture.snapshots,
                                           fixture.tokens))
    warmup = max(10, args.samples // 10)
    results["scale"] = {}

    def measure_scale(size: int) -> None:
        loaded = fixture.fill_to(size)
        progress(f"{fixture.count():,} jobs stored (bulk-loaded {loaded[0]:,} in "
                 f"{loaded[1]:.1f} s)")
        check_same_answers(sides, fixture.connector_ids)
        if "scale" in args.phases:
            results["scale"][size] = {"load": loaded, "load_avg": load_average(),
                                      "stored": fixture.count(),
                                      "p50": at_scale(sides, fixture, args.samples, warmup)}

    # The smallest size first, before the other phases add their jobs to the index.
    measure_scale(args.jobs[0])
    if "accounting" in args.phases:
        progress("counting requests and CPU per call")
        es_pid = elasticsearch_pid(admin)
        results["accounting"] = where_time_goes(sides, fixture, children(service.process.pid),
                                                es_pid, calls=ACCOUNTING_CALLS)
    if "latency" in args.phases:
        progress(f"latency: {args.samples} calls of each operation and side")
        results["load_latency"] = load_average()
        results["latency_jobs"] = fixture.count()
        results["latency"] = latency(sides, fixture, args.samples, warmup, deadline)
    if "throughput" in args.phases:
        progress(f"throughput with {args.workers} threads")
        results["load_throughput"] = load_average()
        results["throughput"] = throughput(sides, fixture, args.workers, args.window, args.rounds)
    if "cost" in args.phases:
        progress(f"CPU per call with {args.cost_threads} threads")
        results["load_cost"] = load_average()
        workers = children(service.process.pid)
        profile = (args.py_spy, str(args.profile)) if args.profile else None
        results["cost"] = cost(sides, fixture, [service.process.pid, *workers], workers[0],
                               elasticsearch_pid(admin), threads=args.cost_threads,
                               window=args.cost_window, rounds=args.rounds, profile=profile)
    if "floor" in args.phases:
        progress("floor: granian alone and the service, one call at a time and under load")
        results["load_floor"] = load_average()
        results["floor"] = floor(args.es_url, service.url, children(service.process.pid),
                                 elasticsearch_pid(admin), sides, fixture,
                                 calls=args.samples * 2, rounds=args.rounds,
                                 threads=args.cost_threads, window=args.cost_window)
    if "forwarding" in args.phases:
        results["forwarding"] = forwarding(sides, admin, args.samples, warmup)
    if "replicas" in args.phases:
        progress("replicas: starting a node and a three-node cluster of the phase's own")
        with ExitStack() as stack:
            results["replicas"] = replicas_phase(args, stack)
    for size in args.jobs[1:] if "scale" in args.phases else []:
        if time.monotonic() > deadline:
            progress(f"out of time before {size:,} jobs")
            break
        measure_scale(size)
    if "summary" in args.phases:
        fixture.fill_to(args.jobs[-1])
        progress(f"summary at {fixture.count():,} jobs")
        es_pid = elasticsearch_pid(admin)
        results["connector_count"] = len(fixture.connector_ids)
        results["summary"] = summary_at_scale(sides, fixture, es_pid,
                                              samples=min(args.samples, 60),
                                              window=args.summary_window)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.auth:
        text = auth_cost(args)
        print(text)
        if args.output:
            args.output.write_text(text + "\n")
        return 0
    if args.es_url:
        require_loopback(args.es_url)
        return benchmark(args, argv)
    with local_node("benchmark", heap=args.es_heap) as node:
        progress(f"Elasticsearch node of the benchmark's own on {node.url}")
        args.es_url = node.url
        return benchmark(args, argv)


def benchmark(args, argv) -> int:
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(args.max_seconds)
    started = time.monotonic()
    results: dict = {"command": " ".join(["scripts/benchmark.py", *(argv or sys.argv[1:])]),
                     "load_start": load_average()}
    admin = Elasticsearch(args.es_url, request_timeout=300)
    facts = machine_facts(admin)
    refuse_existing_connector_indices(admin, args.es_url)
    service = None
    try:
        if args.variant:
            compare(args, admin, results)
        else:
            service = ServiceProcess(
                args.es_url, workers=args.server_workers, threads=args.server_threads,
                access_log=not args.no_access_log,
                extra_env=dict(pair.split("=", 1) for pair in args.service_env),
                log_dir=Path(tempfile.mkdtemp(prefix="benchmark-")),
                )
            run_phases(args, admin, service, results, deadline=started + args.max_seconds - 60)
            results["memory"] = {"main": memory_mib([service.process.pid]),
                                 "workers": memory_mib(children(service.process.pid))}
    finally:
        if service is not None:
            service.stop()
        signal.alarm(0)
    if service is not None:
        shutil.rmtree(service.log_path.parent, ignore_errors=True)  # kept when the run failed
    results["load_end"] = load_average()
    results["seconds"] = time.monotonic() - started
    text = report(facts, service, args, results)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    if not args.keep:
        delete_connector_indices(admin)
    return 0


if __name__ == "__main__":
    sys.exit(main())
