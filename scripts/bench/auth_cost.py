"""--auth: what checking callers with the cluster costs, on a secured node of the run's own."""

import json
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import urllib3

from scripts.bench.harness import WORKER_HOSTNAME, BenchmarkError, ServiceClient, ServiceProcess, progress
from scripts.bench.measures import fmt_ms, load_average, percentile

# --auth: the service's settings compared, in front of a secured node.
AUTH_VARIANTS = {
    "AUTH_MODE=none": {"AUTH_MODE": "none"},
    "elasticsearch, answers remembered (AUTH_CACHE_SECONDS=30)": {"AUTH_MODE": "elasticsearch"},
    "elasticsearch, asked every request (AUTH_CACHE_SECONDS=0)":
        {"AUTH_MODE": "elasticsearch", "AUTH_CACHE_SECONDS": "0"},
}


def auth_cost(args) -> str:
    """p50/p99 of a job read and a heartbeat (check_in) through each AUTH_VARIANTS service, the
    calls alternated across them so the machine's drift falls on all three alike."""
    from tests.support.secured import SecuredNode

    node = SecuredNode("benchmark-auth")
    services: dict[str, ServiceProcess] = {}
    progress("starting a secured node of the benchmark's own")
    node.start()
    try:
        log_dir = Path(tempfile.mkdtemp(prefix="benchmark-auth-"))
        for name, env in AUTH_VARIANTS.items():
            services[name] = ServiceProcess(
                node.url, workers=1, threads=args.server_threads, access_log=False,
                extra_env={**node.service_settings(), **env},
                log_dir=Path(tempfile.mkdtemp(dir=log_dir)))
        headers = node.headers("manager")
        pools = {}
        for name, service in services.items():
            service.wait_until_healthy(ServiceClient(service.url))
            parts = urlsplit(service.url)
            pools[name] = urllib3.HTTPConnectionPool(parts.hostname, parts.port, retries=False,
                                                     headers=headers)
        json_headers = {**headers, "Content-Type": "application/json"}
        next(iter(pools.values())).request("PUT", "/_connector/bench-auth", headers=json_headers,
                                           body=json.dumps({"index_name": "search-bench-auth",
                                                            "service_type": "dir"}))
        calls = {}
        for name, pool in pools.items():
            # A job of each setting's own, claimed through it: the heartbeat then skips its read
            # as a worker's does (the process remembers the version it wrote).
            job = json.loads(pool.request("POST", "/_connector/_sync_job", headers=json_headers,
                                          body=json.dumps({"id": "bench-auth"})).data)["id"]
            pool.request("PUT", f"/_connector/_sync_job/{job}/_claim", headers=json_headers,
                         body=json.dumps({"worker_hostname": WORKER_HOSTNAME}))
            calls[name] = {"read (GET job)": ("GET", f"/_connector/_sync_job/{job}"),
                           "heartbeat (check_in)": ("PUT", f"/_connector/_sync_job/{job}/_check_in")}
        kinds = list(next(iter(calls.values())))
        times = {(call, name): [] for call in kinds for name in pools}
        warmup = max(10, args.samples // 10)
        progress(f"auth: {args.samples} calls of each kind and setting")
        for round_ in range(warmup + args.samples):
            for call in kinds:
                for name, pool in pools.items():
                    method, path = calls[name][call]
                    started = time.perf_counter()
                    answer = pool.request(method, path)
                    elapsed = time.perf_counter() - started
                    if answer.status != 200:
                        raise BenchmarkError(f"{name}: {method} {path} answered {answer.status}")
                    if round_ >= warmup:
                        times[(call, name)].append(elapsed)
        lines = [f"Secured Elasticsearch {node.version} (TLS), the service with one granian "
                 f"worker per setting, {args.samples} calls each, load {load_average()}.", "",
                 "| call | setting | p50 | p99 | p50 ÷ none |", "|---|---|---:|---:|---:|"]
        for call in kinds:
            base = percentile(times[(call, "AUTH_MODE=none")], 0.5)
            for name in pools:
                values = times[(call, name)]
                lines.append(f"| {call} | {name} | {fmt_ms(percentile(values, 0.5) * 1000)} ms | "
                             f"{fmt_ms(percentile(values, 0.99) * 1000)} ms | "
                             f"{percentile(values, 0.5) / base:.2f} |")
        shutil.rmtree(log_dir, ignore_errors=True)
        return "\n".join(lines)
    finally:
        for service in services.values():
            service.stop()
        node.remove()
