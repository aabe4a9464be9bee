"""Phase floor: what granian itself costs per request, against what the service costs.

One caller, one call at a time, each call either right after the previous answer or 1.5 ms
later (about the node's own time for a heartbeat's update). The CPU per call of each server's
worker (Linux schedstat) is measured for: granian with the least ASGI app
(scripts/bench/floor_app.py) answering on its event loop; the same with one round trip to a
thread, the hand-off the service's front makes; the service's `live` probe (the whole app:
hooks, ids, access line, metrics; no call to Elasticsearch); and the service's check_in of a
claimed job (one guarded update). The pause shows what a CPU left idle between calls costs the
same work once it resumes: caches and the scheduler's wake-up, which a worker's heartbeats,
spaced by the node's answer, always pay.

Then the same heartbeat under the cost phase's load (N threads, each on a job of its own):
the floor app's check_in served on its event loop (one guarded partial update over asyncio
connections, nothing else), the service's check_in, and the raw partial update sent straight to
the node, windows taking turns; the CPU per call of each server and of the node. The floor app
is what the heartbeat would cost served without the front's hand-off, Flask and the blocking
client: the bound on what that change of shape could reach against goal 1.
"""

import itertools
import os
import subprocess
import tempfile
import time

from scripts.bench.cost import WARM_UP_SECONDS, Load, Meter, require_indexed
from scripts.bench.fixture import Fixture
from scripts.bench.harness import LOOPBACK, REPO_ROOT, ServiceClient, Sides, free_port, progress
from scripts.bench.measures import TARGETS, children, cpu_seconds, percentile, verdict

PAUSES = (0.0, 0.0015)


class FloorServer:
    """granian serving scripts/bench/floor_app.py as scripts/serve serves the service (one
    worker, ASGI), on a free loopback port."""

    def __init__(self, es_url: str):
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        # Access lines go to a file, as the service's do in the benchmark.
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [str(REPO_ROOT / ".venv" / "bin" / "granian"), "--interface", "asgi",
             "scripts.bench.floor_app:app", "--host", LOOPBACK, "--port", str(self.port),
             "--workers", "1", "--no-access-log"],
            cwd=REPO_ROOT, env={**os.environ, "FLOOR_ES_URL": es_url, "LOG_FORMAT": "ecs"},
            stdout=self.log, stderr=self.log, start_new_session=True)

    def wait_until_up(self, client: ServiceClient, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if client.pool.request("GET", "/").status == 200:
                    return
            except Exception:
                pass
            time.sleep(0.2)
        raise RuntimeError("the floor server did not start")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def cpu_per_call(call, pids: list[int], pause: float, calls: int) -> float:
    """The servers' CPU per call (ms), calls one at a time with `pause` seconds between."""
    for _ in range(max(20, calls // 10)):
        call()
    before = cpu_seconds(pids)
    for _ in range(calls):
        call()
        if pause:
            time.sleep(pause)
    return (cpu_seconds(pids) - before) * 1000 / calls


def floor(es_url: str, service_url: str, service_pids: list[int], es_pid: int, sides: Sides,
          fixture: Fixture, *, calls: int, rounds: int, threads: int, window: float) -> dict:
    """{"calls": {row: {pause: [ms per call of each round]}}, "loaded": {side: figures}}; the
    rows take turns within each round, and so do the sides' windows."""
    server = FloorServer(es_url)
    try:
        floor_client, service_client = ServiceClient(server.url), ServiceClient(service_url)
        server.wait_until_up(floor_client)
        floor_pids = children(server.process.pid)
        service_job, floor_job = fixture.jobs_in("in_progress", 2)

        def get(client, path):
            return lambda: client.request("GET", path, expect=200)

        rows = {
            "granian, the least ASGI app, answered on the event loop":
                (get(floor_client, "/"), floor_pids),
            "granian, the least ASGI app, one round trip to a thread":
                (get(floor_client, "/hop"), floor_pids),
            "granian, the least ASGI app, check_in on the event loop (one guarded update)":
                (lambda: floor_client.check_in(floor_job), floor_pids),
            "the service's live probe (the whole app, no call to Elasticsearch)":
                (get(service_client, "/_connector_service/live"), service_pids),
            "the service's check_in of a claimed job (one guarded update)":
                (lambda: service_client.check_in(service_job), service_pids),
        }
        figures = {row: {pause: [] for pause in PAUSES} for row in rows}
        for turn in range(rounds):
            progress(f"floor: round {turn + 1} of {rounds}")
            for row, (call, pids) in rows.items():
                for pause in PAUSES:
                    figures[row][pause].append(cpu_per_call(call, pids, pause, calls))
        loaded = heartbeats_under_load(floor_client, floor_pids, service_pids, es_pid, sides,
                                       fixture, threads=threads, window=window, rounds=rounds)
        return {"calls": figures, "loaded": loaded, "threads": threads, "window": window,
                "rounds": rounds}
    finally:
        server.stop()


# The sides of the loaded comparison, in the order of their first windows.
LOADED_SIDES = ("floor app", "floor app, accounted", "service", "direct")
# The node's JIT needs tens of thousands of updates before an update's cost settles.
NODE_WARM_UP_SECONDS = 20.0


def heartbeats_under_load(floor_client: ServiceClient, floor_pids: list[int],
                          service_pids: list[int], es_pid: int, sides: Sides, fixture: Fixture,
                          *, threads: int, window: float, rounds: int) -> dict:
    """check_in from `threads` threads, each on a claimed job of its own, through the floor app,
    through the service and as the raw update straight to the node: {side: Meter figures}."""
    progress(f"floor: check_in under load, {threads} threads, {rounds} windows of {window:g} s "
             "per side")
    calls = {"floor app": floor_client.check_in,
             "floor app, accounted": lambda job: floor_client.request(
                 "PUT", f"/_connector/_sync_job/{job}/_check_in?accounted", expect=200),
             "service": sides.service.check_in, "direct": sides.direct.check_in_remembered}
    loads = {side: Load(call, [itertools.repeat(job)
                               for job in fixture.jobs_in("in_progress", threads)])
             for side, call in calls.items()}
    pids = {"floor app": floor_pids, "floor app, accounted": floor_pids,
            "service": service_pids, "direct": service_pids}
    meters = {side: Meter(fixture, pids[side], es_pid) for side in LOADED_SIDES}
    loads["direct"].window(NODE_WARM_UP_SECONDS)
    for load in loads.values():
        load.warm_up()
        load.window(WARM_UP_SECONDS)
    for turn in range(rounds):
        first = turn % len(LOADED_SIDES)
        for side in LOADED_SIDES[first:] + LOADED_SIDES[:first]:
            made, _, delta = meters[side].measure(loads[side], window)
            if side == "direct":
                require_indexed("check_in", made, delta)
    return {side: meter.figures() for side, meter in meters.items()}


def report_floor(results: dict) -> list[str]:
    floor_results = results["floor"]
    figures = floor_results["calls"]
    lines = ["## Floor: CPU per call of granian alone and of the service, one call at a time "
             f"(median of {len(next(iter(figures.values()))[0.0])} rounds; load "
             f"{results['load_floor']})", "",
             "| server and call | back to back | 1.5 ms apart |", "|---|---:|---:|"]
    for row, by_pause in figures.items():
        cells = " | ".join(f"{percentile(by_pause[pause], 0.5):.2f} ms" for pause in PAUSES)
        lines.append(f"| {row} | {cells} |")
    loaded = floor_results["loaded"]
    direct = loaded["direct"]["es_cpu"]
    lines += ["", f"check_in under load: {floor_results['threads']} threads, each on a claimed "
              f"job of its own; {floor_results['rounds']} windows of {floor_results['window']:g} s "
              "per side, taking turns. The floor app serves it on granian's event loop with one "
              "guarded update over asyncio connections and nothing else.", "",
              "| side | calls/s | CPU server | CPU node | server ÷ node direct (≤ "
              f"{TARGETS['service_cpu_ratio']:g}) |", "|---|---:|---:|---:|---:|"]
    for side in LOADED_SIDES:
        side_figures = loaded[side]
        if side == "direct":
            lines.append(f"| direct (the raw update) | {side_figures['rate']:.0f} | "
                         f"| {direct:.2f} ms | |")
            continue
        ratio = side_figures["service_cpu"] / direct
        lines.append(f"| {side} | {side_figures['rate']:.0f} "
                     f"| {side_figures['service_cpu']:.2f} ms | {side_figures['es_cpu']:.2f} ms "
                     f"| {ratio:.2f} {verdict(ratio <= TARGETS['service_cpu_ratio'])} |")
    return lines + [""]
