"""Phase `cost`: the CPU each call takes, in the service and in Elasticsearch, against the node's
CPU for the same state change sent straight to it.

For each operation, N threads each work on a job (or connector) of their own for a few seconds;
windows through the service alternate with direct windows (S D D S S D ...). Each window counts the
calls, the CPU of every granian process, of the Elasticsearch process (Linux schedstat) and of this
process (the client), and what the node did (`_nodes/_local/stats/http,indices`: requests per
route, documents indexed, gets, refreshes, searches). The direct side makes a real change on every
call: timestamps have millisecond resolution and strictly increase (app.domain.clock.now()), and
the node must count one document indexed per direct call, or the phase stops: a partial update that
changes nothing is a noop the node answers without indexing, far cheaper than a check-in.

The direct side, per operation:

- check_in, stats: one partial update with `if_seq_no`/`if_primary_term` on the version the
  benchmark last wrote, as the service sends for a job it claimed or last wrote;
- claim: get + partial update with `if_seq_no`, `refresh=true`, as the service does for a
  pending job it never saw (the jobs are bulk-loaded);
- create: index the job document, `op_type=create`, `refresh=true`;
- list: the service's search body.

Then check_in at a matched rate: the node's CPU per call depends on how closely calls arrive, so
service windows run again, each followed by a direct window paced at the rate the service window
reached.

With --profile, one more service window of check_in runs under py-spy (`--gil`) on the worker,
not counted in the figures above; scripts/bench/budget.py turns its samples into microseconds per
call for each step of a request.
"""

import itertools
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from scripts.bench.accounting import ROUTE_NAMES, describe_requests
from scripts.bench.budget import budget, report_budget, samples
from scripts.bench.fixture import Fixture
from scripts.bench.harness import BenchmarkError, Sides, in_threads, progress
from scripts.bench.measures import (
    TARGETS,
    cpu_seconds,
    cpu_seconds_by_thread_name,
    node_work,
    verdict,
)

OPERATIONS = ("check_in", "claim", "stats", "create", "list")
SIDES = ("service", "direct")
# The direct client method behind each operation (the service's has the operation's name).
DIRECT_METHOD = {"check_in": "check_in_remembered", "stats": "stats_remembered"}
DIRECT_DESCRIPTION = {
    "check_in": "one partial update (if_seq_no, last_seen)",
    "stats": "one partial update (if_seq_no, the counters and last_seen)",
    "claim": "get + partial update (if_seq_no, refresh=true)",
    "create": "index (op_type=create, refresh=true)",
    "list": "search (the service's body)",
}
# Every claim takes a fresh pending job: enough are loaded for this many claims a second.
CLAIMS_PER_SECOND = 800
# An uncounted window of each side before the counted ones, seconds.
WARM_UP_SECONDS = 1.0
# The first operation's is longer: it warms the node up too. Until its JIT has compiled the
# write path (tens of thousands of updates), an update costs the node twice the CPU or more.
FIRST_WARM_UP_SECONDS = 20.0
# The profiled window lasts at least this long, for enough samples.
PROFILED_SECONDS = 6.0
# The name of granian's Rust runtime threads in a worker (the others run Python).
RUST_THREADS = "tokio-rt-worker"
# Shard operations reported per call, in this order.
SHARD_WORK = ("indexed", "noop", "gets", "refreshes", "searches")


class Load:
    """Calls of one operation by one side, each thread on arguments of its own."""

    def __init__(self, call: Callable[[str], object], arguments: list[Iterator[str]]):
        self.call = call
        self.arguments = arguments

    def warm_up(self) -> None:
        for mine in self.arguments:
            self.call(next(mine))

    def window(self, seconds: float, rate: float | None = None) -> tuple[int, float]:
        """Every thread calling for `seconds` (or until one runs out of arguments), as fast as
        it can or, with `rate`, paced so that all together make `rate` calls a second: calls
        made and seconds taken."""
        count = len(self.arguments)
        counts = [0] * count
        ran_out = threading.Event()
        interval = count / rate if rate else 0.0

        def work(index: int, mine: Iterator[str]) -> None:
            stop_at = time.perf_counter() + seconds
            # The threads' turns spread over the first interval.
            next_at = time.perf_counter() + interval * index / count
            for argument in mine:
                if interval:
                    time.sleep(max(0.0, next_at - time.perf_counter()))
                    next_at += interval
                if ran_out.is_set() or time.perf_counter() >= stop_at:
                    return
                self.call(argument)
                counts[index] += 1
            ran_out.set()

        elapsed = in_threads(work, list(enumerate(self.arguments)), timeout=seconds + 60)
        return sum(counts), elapsed


def loads(op: str, sides: Sides, fixture: Fixture, threads: int, calls_each: int
          ) -> dict[str, Load]:
    """Each side's load of `op`: a job per thread, claimed once during the warm-up, for check_in
    and stats; `calls_each` fresh pending jobs per thread for claim; a connector per thread for
    create and list."""
    found = {}
    for side in SIDES:
        client = getattr(sides, side)
        call = getattr(client, op if side == "service" else DIRECT_METHOD.get(op, op))
        if op in ("check_in", "stats"):
            arguments = [itertools.repeat(job) for job in fixture.jobs_in("in_progress", threads)]
        elif op == "claim":
            jobs = fixture.jobs_in("pending", threads * calls_each)
            arguments = [iter(jobs[i::threads]) for i in range(threads)]
        else:
            arguments = [itertools.repeat(fixture.connector_ids[i % len(fixture.connector_ids)])
                         for i in range(threads)]
        found[side] = Load(call, arguments)
    return found


class Meter:
    """Sums, over windows, the calls, seconds, CPU and the node's work of one side."""

    def __init__(self, fixture: Fixture, service_pids: list[int], es_pid: int):
        self.admin, self.service_pids, self.es_pid = fixture.admin, service_pids, es_pid
        self.calls, self.seconds = 0, 0.0
        self.service_cpu = self.es_cpu = self.client_cpu = 0.0
        self.work: dict[str, int] = {}

    def measure(self, load: Load, seconds: float, rate: float | None = None
                ) -> tuple[int, float, dict[str, int]]:
        """One window of `load`: its calls, its seconds and what the node did meanwhile."""
        before = node_work(self.admin)
        cpu_before = (cpu_seconds(self.service_pids), cpu_seconds([self.es_pid]),
                      time.process_time())
        calls, seconds = load.window(seconds, rate)
        cpu_after = (cpu_seconds(self.service_pids), cpu_seconds([self.es_pid]),
                     time.process_time())
        after = node_work(self.admin)
        delta = {name: count - before.get(name, 0) for name, count in after.items()}
        self.calls += calls
        self.seconds += seconds
        self.service_cpu += cpu_after[0] - cpu_before[0]
        self.es_cpu += cpu_after[1] - cpu_before[1]
        self.client_cpu += cpu_after[2] - cpu_before[2]
        for name, count in delta.items():
            self.work[name] = self.work.get(name, 0) + count
        return calls, seconds, delta

    def figures(self) -> dict:
        calls = max(self.calls, 1)
        return {"calls": self.calls, "rate": self.calls / self.seconds if self.seconds else 0.0,
                "service_cpu": self.service_cpu * 1000 / calls,
                "es_cpu": self.es_cpu * 1000 / calls,
                "client_cpu": self.client_cpu * 1000 / calls,
                "requests": {ROUTE_NAMES.get(route, route): count / calls
                             for route, count in self.work.items()
                             if route.startswith("/") and count},
                "shard": {name: self.work.get(name, 0) / calls for name in SHARD_WORK}}


def require_indexed(op: str, calls: int, delta: dict[str, int]) -> None:
    """Every direct write must have indexed a document: none was a noop."""
    if op != "list" and (delta["indexed"] < calls or delta["noop"]):
        raise BenchmarkError(f"direct {op}: {calls} calls indexed {delta['indexed']} documents "
                             f"({delta['noop']} noops); the baseline must change the job")


def cost(sides: Sides, fixture: Fixture, service_pids: list[int], worker_pid: int, es_pid: int,
         *, threads: int, window: float, rounds: int, profile: tuple[str, str] | None) -> dict:
    """Every operation's figures per side, check_in at a matched rate, and the profile's budget."""
    result: dict = {"threads": threads, "window": window, "rounds": rounds}
    for op in OPERATIONS:
        progress(f"cost: {op}, {threads} threads, {rounds} windows of {window:g} s per side")
        warm_up = FIRST_WARM_UP_SECONDS if op == OPERATIONS[0] else WARM_UP_SECONDS
        side_loads = loads(op, sides, fixture, threads, calls_each=int(
            CLAIMS_PER_SECOND * (window * rounds + warm_up) / threads) + 2)
        meters = {side: Meter(fixture, service_pids, es_pid) for side in SIDES}
        for load in side_loads.values():
            load.warm_up()
            load.window(warm_up)
        for turn in range(rounds * 2):
            side = SIDES[(turn + turn // 2) % 2]  # S D D S S D ...
            calls, _, delta = meters[side].measure(side_loads[side], window)
            if side == "direct":
                require_indexed(op, calls, delta)
        result[op] = {side: meter.figures() for side, meter in meters.items()}
        if op == "check_in":
            result["matched"] = matched_rate(side_loads, fixture, service_pids, es_pid, window,
                                             rounds)
            if profile:
                result["budget"] = profiled_window(side_loads["service"], fixture, service_pids,
                                                   es_pid, worker_pid, window, profile)
    return result


def matched_rate(side_loads: dict[str, Load], fixture: Fixture, service_pids: list[int],
                 es_pid: int, window: float, rounds: int) -> dict:
    """Service windows of check_in again, each followed by a direct window paced at the rate the
    service window reached: the node's CPU per call at the same rate on both sides."""
    progress("cost: check_in at a matched rate, the direct side paced at the service's")
    matched = {side: Meter(fixture, service_pids, es_pid) for side in SIDES}
    for _ in range(rounds):
        calls, seconds, _ = matched["service"].measure(side_loads["service"], window)
        calls, _, delta = matched["direct"].measure(side_loads["direct"], window,
                                                    rate=calls / seconds)
        require_indexed("check_in", calls, delta)
    return {side: meter.figures() for side, meter in matched.items()}


def profiled_window(load: Load, fixture: Fixture, service_pids: list[int], es_pid: int,
                    worker_pid: int, window: float, profile: tuple[str, str]) -> dict:
    """One more service window of check_in with py-spy recording the worker's GIL holder, and the
    worker's CPU split between its Python threads and granian's Rust runtime threads."""
    py_spy, path = profile
    progress(f"cost: profiling the worker (pid {worker_pid}) with {py_spy} into {path}")
    command = [py_spy, "record", "-p", str(worker_pid), "-r", "200", "--format", "raw",
               "-o", path, "--nonblocking", "--gil"]
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # py-spy attaches
    meter = Meter(fixture, service_pids, es_pid)
    main_before, threads_before = cpu_seconds([service_pids[0]]), cpu_seconds_by_thread_name(worker_pid)
    calls, _, _ = meter.measure(load, max(2 * window, PROFILED_SECONDS))
    main_after, threads_after = cpu_seconds([service_pids[0]]), cpu_seconds_by_thread_name(worker_pid)
    recorder.send_signal(signal.SIGINT)
    _, errors = recorder.communicate(timeout=60)
    if recorder.returncode not in (0, -signal.SIGINT) or not Path(path).exists():
        raise BenchmarkError(f"py-spy failed ({recorder.returncode}): {errors.decode()[-500:]}")
    spent = {name: seconds - threads_before.get(name, 0.0)
             for name, seconds in threads_after.items()}
    rust = sum(seconds for name, seconds in spent.items() if name == RUST_THREADS)
    split = {"python": (sum(spent.values()) - rust) * 1000 / calls, "rust": rust * 1000 / calls,
             "main": (main_after - main_before) * 1000 / calls}  # ms per call
    stacks = samples(path)
    return {"command": " ".join(command), "figures": meter.figures(), "split": split,
            "samples": sum(stacks.values()), "steps": budget(stacks, split["python"])}


def ratio_row(label: str, value: float, target: float, below: bool = True) -> str:
    ok = value <= target if below else value >= target
    return f"| {label} | **{value:.2f}** | {'≤' if below else '≥'} {target:g} | {verdict(ok)} |"


def report_cost(results: dict) -> list[str]:
    cost_results = results["cost"]
    threads = cost_results["threads"]
    lines = [f"## CPU per call: the service and the node against the node alone ({threads} "
             f"threads, each on a job or connector of its own; {cost_results['rounds']} windows "
             f"of {cost_results['window']:g} s per side, alternating; load "
             f"{results['load_cost']})", "",
             "CPU from Linux schedstat: every granian process (service) and the Elasticsearch "
             "process (node), divided by the calls of the windows; the client is the benchmark "
             "process. The direct side indexed a document on every write call (checked against "
             "the node's `index_total`).", "",
             "| operation | direct side | calls/s service · direct | CPU service "
             "| CPU node via service · direct | service ÷ node direct (≤ "
             f"{TARGETS['service_cpu_ratio']:g}) | node via service ÷ direct |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for op in OPERATIONS:
        service, direct = cost_results[op]["service"], cost_results[op]["direct"]
        ratio = service["service_cpu"] / direct["es_cpu"]
        lines.append(f"| {op} | {DIRECT_DESCRIPTION[op]} "
                     f"| {service['rate']:.0f} · {direct['rate']:.0f} "
                     f"| {service['service_cpu']:.2f} ms "
                     f"| {service['es_cpu']:.2f} · {direct['es_cpu']:.2f} ms "
                     f"| {ratio:.2f} {verdict(ratio <= TARGETS['service_cpu_ratio'])} "
                     f"| {service['es_cpu'] / direct['es_cpu']:.2f} |")
    lines += ["", "What the node did per call (its own counters): HTTP requests by route, then "
              "documents indexed, noop updates, real-time gets (an update's read of the document "
              "included), refreshes (periodic ones included) and search queries.", "",
              "| operation | requests service · direct | indexed · noop · gets · refreshes · "
              "searches, service | the same, direct |",
              "|---|---|---|---|"]
    for op in OPERATIONS:
        service, direct = cost_results[op]["service"], cost_results[op]["direct"]
        lines.append(f"| {op} | {describe_requests(service['requests'])} · "
                     f"{describe_requests(direct['requests'])} | {shard_work(service)} "
                     f"| {shard_work(direct)} |")
    lines += ["", *report_matched(cost_results), *report_goals(cost_results)]
    if "budget" in cost_results:
        lines += report_budget(cost_results["budget"])
    return lines


def shard_work(figures: dict) -> str:
    return " · ".join(f"{figures['shard'][name]:.2f}" for name in SHARD_WORK)


def report_matched(cost_results: dict) -> list[str]:
    matched = cost_results["matched"]
    lines = ["check_in at a matched rate: service windows again, each followed by a direct "
             "window whose threads are paced at the rate the service window reached.", "",
             "| side | calls/s | CPU service | CPU node |", "|---|---:|---:|---:|"]
    for side in SIDES:
        figures = matched[side]
        service_cpu = f"{figures['service_cpu']:.2f} ms" if side == "service" else ""
        lines.append(f"| {side} | {figures['rate']:.0f} | {service_cpu} "
                     f"| {figures['es_cpu']:.2f} ms |")
    return lines + [""]


def report_goals(cost_results: dict) -> list[str]:
    check_in, matched, threads = (cost_results["check_in"], cost_results["matched"],
                                  cost_results["threads"])
    rates = f"{matched['service']['rate']:.0f} · {matched['direct']['rate']:.0f} calls/s"
    rows = ["| goal (check_in) | ratio | target | |", "|---|---:|---:|---|"]
    for label, cpu, target in (("service CPU ÷ node CPU of the direct update", "service_cpu",
                                "service_cpu_ratio"),
                               ("node CPU via the service ÷ direct", "es_cpu", "es_cpu_ratio")):
        for where, figures in ((f"both {threads} threads", check_in),
                               (f"at a matched rate ({rates})", matched)):
            rows.append(ratio_row(f"{label}, {where}",
                                  figures["service"][cpu] / figures["direct"]["es_cpu"],
                                  TARGETS[target]))
    return [*rows, "", *report_rates(cost_results)]


def report_rates(cost_results: dict) -> list[str]:
    """When the machine's cores are the limit, each side's rate is the inverse of the CPU its
    calls take in all: the service, the node and the client."""
    lines = ["CPU in all per call (service + node + client) against the rates, "
             f"{cost_results['threads']} threads:", "",
             "| operation | CPU in all, service path · direct path | direct path ÷ service path "
             "| calls/s service ÷ direct |", "|---|---:|---:|---:|"]
    for op in OPERATIONS:
        service, direct = cost_results[op]["service"], cost_results[op]["direct"]
        service_path = service["service_cpu"] + service["es_cpu"] + service["client_cpu"]
        direct_path = direct["es_cpu"] + direct["client_cpu"]
        lines.append(f"| {op} | {service_path:.2f} · {direct_path:.2f} ms "
                     f"| {direct_path / service_path:.2f} | {service['rate'] / direct['rate']:.2f} |")
    return lines + [""]
