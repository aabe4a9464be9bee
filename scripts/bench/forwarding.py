"""Phase `forwarding`: a GET /<index>/_doc/<id> through the service vs direct."""

import os

from elasticsearch import Elasticsearch

from scripts.bench.harness import REPO_ROOT, Sides
from scripts.bench.measures import TARGETS, fmt_ms, percentile, timed, verdict


def forwarding(sides: Sides, admin: Elasticsearch, samples: int, warmup: int) -> dict | None:
    """GET /<index>/_doc/<id> through the service vs direct; None when nothing forwards."""
    if not (REPO_ROOT / "app" / "api" / "forwarding.py").exists():
        return None
    index = f"bench-forwarding-{os.getpid()}"
    # op_type=create: an index of that name already there is not this run's to fill or delete.
    admin.index(index=index, id="1", document={"message": "forwarded"}, refresh=True,
                op_type="create")
    times = {"service": [], "direct": []}
    for i in range(samples + warmup):
        for side, client in sides.pair(i):
            took = timed(client.forwarded_get, index, "1")
            if i >= warmup:
                times[side].append(took)
    admin.indices.delete(index=index)
    return times


def report_forwarding(results: dict) -> list[str]:
    fwd = results["forwarding"]
    lines = ["## Forwarded request: GET /<index>/_doc/<id>", ""]
    if fwd is None:
        return lines + ["Not measured: app/api/forwarding.py does not exist.", ""]
    s50, d50 = percentile(fwd["service"], 0.5), percentile(fwd["direct"], 0.5)
    return lines + ["| p50 service | p50 direct | added | ratio | target ≤ 1.3 |",
                    "|---:|---:|---:|---:|---|",
                    f"| {fmt_ms(s50)} ms | {fmt_ms(d50)} ms | {fmt_ms(s50 - d50)} ms "
                    f"| {s50 / d50:.2f} | {verdict(s50 / d50 <= TARGETS['latency_ratio'])} |", ""]
