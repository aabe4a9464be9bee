"""--variant: service settings compared, each its own server in front of the same node."""

import shutil
import tempfile
from pathlib import Path

from elasticsearch import Elasticsearch

from scripts.bench.fixture import Fixture, create_connectors, job_snapshots
from scripts.bench.harness import ServiceClient, ServiceProcess, progress
from scripts.bench.measures import children, cpu_seconds, fmt_ms, percentile, timed
from scripts.bench.throughput import check_in_window


def parse_variant(text: str) -> tuple[str, dict]:
    """`NAME=SPEC`; SPEC is comma-separated `workers=N`, `threads=N`,
    `access_log=off` or `ENV_NAME=VALUE` (upper case: the service's environment)."""
    name, _, spec = text.partition("=")
    settings: dict = {"env": {}}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        if key.isupper():
            settings["env"][key] = value
        elif key in ("workers", "threads"):
            settings[key] = int(value)
        elif key == "access_log":
            settings["access_log"] = value not in ("off", "false", "0")
        else:
            raise SystemExit(f"--variant {text!r}: unknown setting {key!r}")
    return name, settings


def compare(args, admin: Elasticsearch, results: dict) -> None:
    """Each variant its own server in front of the same node; check_in and list calls rotate
    over the variants in one loop, throughput windows alternate. Reports p50 and the service's
    CPU per call of each."""
    variants = dict(parse_variant(text) for text in args.variant)
    services = {}
    try:
        for name, settings in variants.items():
            services[name] = ServiceProcess(
                args.es_url, workers=settings.get("workers", args.server_workers),
                threads=settings.get("threads", args.server_threads),
                access_log=settings.get("access_log", not args.no_access_log),
                extra_env=settings["env"],
                log_dir=Path(tempfile.mkdtemp(prefix="benchmark-")))
        clients = {name: ServiceClient(service.url) for name, service in services.items()}
        for name, service in services.items():
            service.wait_until_healthy(clients[name])
        first = next(iter(clients.values()))
        fixture = Fixture(admin, create_connectors(first, admin, args.connectors))
        fixture.snapshots = job_snapshots(first, admin, fixture.connector_ids)
        fixture.fill_to(args.jobs[0])
        progress(f"comparing {', '.join(variants)} at {fixture.count():,} jobs")
        pids = {name: children(service.process.pid) for name, service in services.items()}
        names = list(services)
        total = args.samples + max(10, args.samples // 10)
        rows = {name: {"settings": services[name]} for name in names}
        for op in ("check_in", "list"):
            jobs = {name: fixture.jobs_in("in_progress", total) for name in names}
            times = {name: [] for name in names}
            cpu = dict.fromkeys(names, 0.0)
            for i in range(total):
                for name in names[i % len(names):] + names[:i % len(names)]:
                    argument = (fixture.connector_ids[i % len(fixture.connector_ids)]
                                if op == "list" else jobs[name][i])
                    before = cpu_seconds(pids[name])
                    times[name].append(timed(getattr(clients[name], op), argument))
                    cpu[name] += cpu_seconds(pids[name]) - before
            for name in names:
                rows[name][op] = (percentile(times[name][total - args.samples:], 0.5),
                                  cpu[name] * 1000 / total)
        jobs = {name: fixture.jobs_in("in_progress", args.workers) for name in names}
        done = {name: [0, 0.0, 0.0] for name in names}
        for turn in range(args.rounds):
            for name in names[turn % len(names):] + names[:turn % len(names)]:
                before = cpu_seconds(pids[name])
                calls, _, seconds = check_in_window(clients[name], jobs[name], args.window)
                done[name][0] += calls
                done[name][1] += seconds
                done[name][2] += cpu_seconds(pids[name]) - before
        for name, (calls, seconds, cpu_total) in done.items():
            rows[name]["throughput"] = (calls / seconds, cpu_total * 1000 / max(calls, 1))
        results["compare"] = rows
    finally:
        for service in services.values():
            service.stop()
            shutil.rmtree(service.log_path.parent, ignore_errors=True)


def report_compare(results: dict, args) -> list[str]:
    lines = [f"## Service settings compared ({args.samples} calls of each per variant, rotating; "
             f"throughput: {args.workers} threads, {args.rounds} windows of {args.window:g} s "
             "each, alternating)", "",
             "| variant | granian | environment | check_in p50 | service CPU/call | list p50 "
             "| service CPU/call | check_ins/s with 32 threads | service CPU/call |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, row in results["compare"].items():
        service = row["settings"]
        env = " ".join(f"{k}={v}" for k, v in service.env_shown.items()) or "—"
        server = (f"{service.workers}×{service.threads}, access log "
                    f"{'on' if service.access_log else 'off'}")
        (c50, ccpu), (l50, lcpu), (rate, tcpu) = row["check_in"], row["list"], row["throughput"]
        lines.append(f"| {name} | {server} | {env} | {fmt_ms(c50)} ms | {ccpu:.2f} ms "
                     f"| {fmt_ms(l50)} ms | {lcpu:.2f} ms | {rate:.0f} | {tcpu:.2f} ms |")
    return lines + [""]
