"""Phase `replicas`: a worker's cycle through 1 and 2 replicas of the service over 1 and 3 nodes."""

import json
import queue
import shutil
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from app.domain import clock
from app.storage import SYNC_JOBS_INDEX
from scripts.bench.harness import (
    BenchmarkError,
    ServiceClient,
    ServiceProcess,
    new_job,
    progress,
)
from scripts.bench.measures import children, cpu_seconds, fmt_ms, load_average, percentile, timed
from tests.support.nodes import local_cluster, local_node

# The phase's own nodes: the same heap for the single node and each of the three.
REPLICA_PHASE_HEAP = "384m"
# Pending jobs loaded per configuration and window: more than a window can claim here.
JOBS_PER_WINDOW = 2000
# A worker's cycle on one job, each call through the next replica (a round-robin balancer).
CYCLE = ("claim", "check_in", "stats", "check_in")


@dataclass
class Deployment:
    """One Elasticsearch (a node or a cluster) with two replicas of the service before it."""

    name: str
    es_pids: list[int]
    services: list[ServiceProcess]
    clients: list[ServiceClient]
    jobs: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)


def replicas_phase(args, stack: ExitStack) -> dict:
    """The worker's cycle through 1 and 2 replicas over 1 and 3 nodes, the four configurations'
    windows rotating (ABCD, then DCBA, ...) so that the machine's drift falls on all alike."""
    single = stack.enter_context(local_node("replicas-1", heap=REPLICA_PHASE_HEAP))
    cluster = stack.enter_context(local_cluster("replicas-3", heap=REPLICA_PHASE_HEAP))
    deployments = [deploy(args, stack, "1 node", single.url, [single.pid]),
                   deploy(args, stack, "3 nodes", cluster.url, [n.pid for n in cluster.nodes])]
    configurations = [(deployment, replicas) for deployment in deployments for replicas in (1, 2)]
    for deployment in deployments:
        load_pending_jobs(deployment, JOBS_PER_WINDOW * 2 * args.rounds)
    progress(f"replicas: {len(configurations)} configurations, {args.rounds} windows each")
    totals = {(d.name, r): {"requests": 0, "seconds": 0.0, "latencies": [], "service_cpu": 0.0,
                            "es_cpu": 0.0, "client_cpu": 0.0} for d, r in configurations}
    for turn in range(args.rounds):
        for deployment, replicas in configurations[::1 if turn % 2 == 0 else -1]:
            window = cycle_window(deployment, replicas, args.workers, args.window)
            total = totals[(deployment.name, replicas)]
            for key, value in window.items():
                total[key] += value
    return {"configurations": totals, "load": load_average(),
            "service_workers": args.server_workers}


def deploy(args, stack: ExitStack, name: str, es_url: str, es_pids: list[int]) -> Deployment:
    services = []
    for _ in range(2):
        service = ServiceProcess(es_url, workers=args.server_workers, threads=args.server_threads,
                                 access_log=not args.no_access_log, extra_env={},
                                 log_dir=Path(tempfile.mkdtemp(prefix="benchmark-")))
        stack.callback(shutil.rmtree, service.log_path.parent, ignore_errors=True)
        stack.callback(service.stop)
        services.append(service)
    clients = [ServiceClient(service.url) for service in services]
    for service, client in zip(services, clients, strict=True):
        service.wait_until_healthy(client)
    return Deployment(name, es_pids, services, clients)


def load_pending_jobs(deployment: Deployment, count: int) -> None:
    """`count` pending jobs, bulk-loaded, shaped as one created through the service."""
    client = deployment.clients[0]
    client.request("PUT", "/_connector/bench-replicas",
                   {"index_name": "bench-content-replicas", "service_type": "bench"}, expect=None)
    sample = client.create("bench-replicas")
    snapshot = client.request("GET", f"/_connector/_sync_job/{sample}", expect=200)[1]["connector"]
    now = clock.now()
    action = b'{"create":{"_index":"' + SYNC_JOBS_INDEX.encode() + b'"}}\n'
    for start in range(0, count, 2000):
        payload = b"".join(action + json.dumps(new_job(snapshot, now)).encode() + b"\n"
                           for _ in range(min(2000, count - start)))
        status, answer = client.request_raw("POST", "/_bulk?refresh=true", payload)
        if status != 200 or answer.get("errors"):
            raise BenchmarkError(f"could not load pending jobs: {str(answer)[:500]}")
        for item in answer["items"]:
            deployment.jobs.put(item["create"]["_id"])


def cycle_window(deployment: Deployment, replicas: int, threads: int, window: float) -> dict:
    """`threads` workers, each taking a pending job and running CYCLE on it, for `window`
    seconds, through the first `replicas` replicas in turn; what it did and what it cost."""
    clients = deployment.clients[:replicas]
    service_pids = [pid for service in deployment.services[:replicas]
                    for pid in children(service.process.pid)]
    latencies: list[list[float]] = [[] for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)
    stop_at = time.perf_counter() + window + 1
    ran_out = threading.Event()

    def work(n: int) -> None:
        mine = latencies[n]
        barrier.wait()
        while time.perf_counter() < stop_at:
            try:
                job_id = deployment.jobs.get_nowait()
            except queue.Empty:
                ran_out.set()
                return
            for step, operation in enumerate(CYCLE):
                mine.append(timed(getattr(clients[(n + step) % replicas], operation), job_id))

    workers = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(threads)]
    for thread in workers:
        thread.start()
    before = (cpu_seconds(service_pids), cpu_seconds(deployment.es_pids), time.process_time())
    barrier.wait()
    started = time.perf_counter()
    for thread in workers:
        thread.join(timeout=window + 60)
    seconds = time.perf_counter() - started
    after = (cpu_seconds(service_pids), cpu_seconds(deployment.es_pids), time.process_time())
    if ran_out.is_set():
        raise BenchmarkError(f"{deployment.name}: the pending jobs ran out; raise JOBS_PER_WINDOW")
    flat = [value for mine in latencies for value in mine]
    service_cpu, es_cpu, client_cpu = (b - a for a, b in zip(before, after, strict=True))
    return {"requests": len(flat), "seconds": seconds, "latencies": flat,
            "service_cpu": service_cpu, "es_cpu": es_cpu, "client_cpu": client_cpu}


def report_replicas(results: dict, args) -> list[str]:
    phase = results["replicas"]
    rows = phase["configurations"]
    lines = [f"## Several replicas and nodes: a worker's cycle ({' + '.join(CYCLE)}), "
             f"{args.workers} threads, {args.rounds} windows of {args.window:g} s per "
             f"configuration, rotating (load {phase['load']})", "",
             f"Each replica is a granian server with {phase['service_workers']} worker(s); the "
             "calls of a cycle go to the replicas in turn, as a round-robin balancer sends them. "
             "The nodes are the phase's own, 384 MB heap each; with three, the connector indices "
             "have a replica.", "",
             "| Elasticsearch | replicas | requests/s | p50 | p99 | service CPU/request "
             "| Elasticsearch CPU/request | cores busy (service + ES + client) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    rate = {}
    for (name, replicas), row in rows.items():
        rate[(name, replicas)] = row["requests"] / row["seconds"]
        busy = (row["service_cpu"] + row["es_cpu"] + row["client_cpu"]) / row["seconds"]
        lines.append(f"| {name} | {replicas} | {rate[(name, replicas)]:.0f} "
                     f"| {fmt_ms(percentile(row['latencies'], 0.5))} ms "
                     f"| {fmt_ms(percentile(row['latencies'], 0.99))} ms "
                     f"| {row['service_cpu'] * 1000 / row['requests']:.2f} ms "
                     f"| {row['es_cpu'] * 1000 / row['requests']:.2f} ms | {busy:.2f} |")
    lines += ["", "| ratio (requests/s) | value |", "|---|---:|"]
    for name in ("1 node", "3 nodes"):
        lines.append(f"| 2 replicas ÷ 1, on {name} | {rate[(name, 2)] / rate[(name, 1)]:.2f} |")
    for replicas in (1, 2):
        lines.append(f"| 3 nodes ÷ 1 node, {replicas} replica{'s' if replicas > 1 else ''} "
                     f"| {rate[('3 nodes', replicas)] / rate[('1 node', replicas)]:.2f} |")
    return lines + [""]
