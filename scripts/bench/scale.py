"""Phase `scale`: check_in and filtered-list p50 at each number of stored jobs."""

from scripts.bench.fixture import Fixture
from scripts.bench.harness import LIST_SIZE, Sides
from scripts.bench.measures import TARGETS, fmt_ms, percentile, timed, verdict


def at_scale(sides: Sides, fixture: Fixture, samples: int, warmup: int) -> dict:
    """check_in and filtered-list p50 at the index's current size, interleaved."""
    total = samples + warmup
    jobs = {side: fixture.jobs_in("in_progress", total) for side in ("service", "direct")}
    times = {(op, side): [] for op in ("check_in", "list") for side in ("service", "direct")}
    for i in range(total):
        connector_id = fixture.connector_ids[(i * 37) % len(fixture.connector_ids)]
        for op in ("check_in", "list"):
            for side, client in sides.pair(i):
                argument = connector_id if op == "list" else jobs[side][i]
                took = timed(getattr(client, op), argument)
                if i >= warmup:
                    times[(op, side)].append(took)
    return {key: percentile(values, 0.5) for key, values in times.items()}


def report_scale(results: dict) -> list[str]:
    scale = results["scale"]
    sizes = sorted(scale)
    lines = ["## Scale: p50 at each number of stored jobs (service and direct alternated)", "",
             "| stored jobs | bulk load (refresh off, then refreshed) | load avg "
             "| check_in service | check_in direct | list service | list direct |",
             "|---:|---|---|---:|---:|---:|---:|"]
    keys = (("check_in", "service"), ("check_in", "direct"), ("list", "service"),
            ("list", "direct"))
    for size in sizes:
        row = scale[size]
        loaded, seconds = row["load"]
        load_text = (f"{loaded:,} jobs in {seconds:.0f} s ({loaded / seconds:,.0f}/s)"
                     if loaded else "—")
        lines.append(f"| {row['stored']:,} | {load_text} | {row['load_avg']} "
                     + "".join(f"| {fmt_ms(row['p50'][key])} ms " for key in keys) + "|")
    if len(sizes) > 1:
        small, large = scale[sizes[0]]["p50"], scale[sizes[-1]]["p50"]
        # The sizes are minutes apart: the direct ratio shows how much the machine drifted.
        lines += ["", f"| {sizes[-1]:,} / {sizes[0]:,} | service ratio | direct ratio "
                  "| service ÷ direct (drift removed) | target ≤ 1.2: service ratio · drift removed |",
                  "|---|---:|---:|---:|---|"]
        for op in ("check_in", "list"):
            service_ratio = large[(op, "service")] / small[(op, "service")]
            direct_ratio = large[(op, "direct")] / small[(op, "direct")]
            lines.append(f"| {op} p50 | {service_ratio:.2f} | {direct_ratio:.2f} "
                         f"| {service_ratio / direct_ratio:.2f} "
                         f"| {verdict(service_ratio <= TARGETS['scale_ratio'])} · "
                         f"{verdict(service_ratio / direct_ratio <= TARGETS['scale_ratio'])} |")
    largest = scale[sizes[-1]]["p50"][("list", "service")]
    lines += ["", f"Filtered list (connector_id + status, size {LIST_SIZE}) p50 through the "
              f"service at {scale[sizes[-1]]['stored']:,} jobs: {fmt_ms(largest)} ms, target "
              f"≤ 50 ms: {verdict(largest <= TARGETS['list_p50_ms'])}", ""]
    return lines
