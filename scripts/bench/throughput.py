"""Phase `throughput`: check_in by many threads, service and direct windows alternating."""

import time

from scripts.bench.fixture import Fixture
from scripts.bench.harness import Sides, in_threads
from scripts.bench.measures import TARGETS, fmt_ms, percentile, timed, verdict


def throughput(sides: Sides, fixture: Fixture, workers: int, window: float,
               rounds: int) -> dict[str, dict]:
    """check_in by `workers` threads, each on its own job, in alternating windows."""
    jobs = {side: fixture.jobs_in("in_progress", workers) for side in ("service", "direct")}
    totals = {side: {"ops": 0, "seconds": 0.0, "latencies": []} for side in jobs}
    for turn in range(rounds * 2):
        side = ("service", "direct")[(turn + turn // 2) % 2]  # S D D S S D ...
        ops, latencies, seconds = check_in_window(getattr(sides, side), jobs[side], window)
        totals[side]["seconds"] += seconds
        totals[side]["ops"] += ops
        totals[side]["latencies"] += latencies
    return totals


def check_in_window(client, job_ids: list[str], window: float) -> tuple[int, list[float], float]:
    """One thread per job checking it in for `window` seconds: calls, their latencies, seconds."""
    latencies: list[list[float]] = [[] for _ in job_ids]
    stop_at = time.perf_counter() + window + 1

    def work(job_id: str, mine: list[float]) -> None:
        while time.perf_counter() < stop_at:
            mine.append(timed(client.check_in, job_id))

    seconds = in_threads(work, list(zip(job_ids, latencies, strict=True)), timeout=window + 60)
    flat = [value for mine in latencies for value in mine]
    return len(flat), flat, seconds


def report_throughput(results: dict, args) -> list[str]:
    tp = results["throughput"]
    rate = {side: tp[side]["ops"] / tp[side]["seconds"] for side in tp}
    ratio = rate["service"] / rate["direct"]
    lines = [f"## Throughput: check_in, {args.workers} threads on {args.workers} jobs "
             f"({args.rounds} windows of {args.window:g} s per side, alternating; load "
             f"{results['load_throughput']})", "",
             "| side | check_ins/s | p50 under load | p99 under load |",
             "|---|---:|---:|---:|"]
    for side in ("service", "direct"):
        values = tp[side]["latencies"]
        lines.append(f"| {side} | {rate[side]:.0f} | {fmt_ms(percentile(values, 0.5))} ms "
                     f"| {fmt_ms(percentile(values, 0.99))} ms |")
    lines.append(f"| **ratio service/direct** | **{ratio:.2f}** | target ≥ {TARGETS['throughput_ratio']:g}: "
                 f"**{verdict(ratio >= TARGETS['throughput_ratio'])}** | |")
    return lines + [""]
