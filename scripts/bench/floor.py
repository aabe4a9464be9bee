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
"""

import os
import subprocess
import time

from scripts.bench.harness import LOOPBACK, REPO_ROOT, ServiceClient, free_port, progress
from scripts.bench.measures import children, cpu_seconds, percentile

PAUSES = (0.0, 0.0015)


class FloorServer:
    """granian serving scripts/bench/floor_app.py as scripts/serve serves the service (one
    worker, ASGI), on a free loopback port."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.process = subprocess.Popen(
            [str(REPO_ROOT / ".venv" / "bin" / "granian"), "--interface", "asgi",
             "scripts.bench.floor_app:app", "--host", LOOPBACK, "--port", str(self.port),
             "--workers", "1", "--no-access-log"],
            cwd=REPO_ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)

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


def floor(service_url: str, service_pids: list[int], job_id: str, calls: int,
          rounds: int) -> dict:
    """{row: {pause: [ms per call of each round]}}; the rows take turns within each round."""
    server = FloorServer()
    try:
        floor_client, service_client = ServiceClient(server.url), ServiceClient(service_url)
        server.wait_until_up(floor_client)
        floor_pids = children(server.process.pid)

        def get(client, path):
            return lambda: client.request("GET", path, expect=200)

        rows = {
            "granian, the least ASGI app, answered on the event loop":
                (get(floor_client, "/"), floor_pids),
            "granian, the least ASGI app, one round trip to a thread":
                (get(floor_client, "/hop"), floor_pids),
            "the service's live probe (the whole app, no call to Elasticsearch)":
                (get(service_client, "/_connector_service/live"), service_pids),
            "the service's check_in of a claimed job (one guarded update)":
                (lambda: service_client.check_in(job_id), service_pids),
        }
        figures = {row: {pause: [] for pause in PAUSES} for row in rows}
        for turn in range(rounds):
            progress(f"floor: round {turn + 1} of {rounds}")
            for row, (call, pids) in rows.items():
                for pause in PAUSES:
                    figures[row][pause].append(cpu_per_call(call, pids, pause, calls))
        return figures
    finally:
        server.stop()


def report_floor(results: dict) -> list[str]:
    figures = results["floor"]
    lines = ["## Floor: CPU per call of granian alone and of the service, one call at a time "
             f"(median of {len(next(iter(figures.values()))[0.0])} rounds; load "
             f"{results['load_floor']})", "",
             "| server and call | back to back | 1.5 ms apart |", "|---|---:|---:|"]
    for row, by_pause in figures.items():
        cells = " | ".join(f"{percentile(by_pause[pause], 0.5):.2f} ms" for pause in PAUSES)
        lines.append(f"| {row} | {cells} |")
    return lines + [""]
