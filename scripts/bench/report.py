"""The Markdown report: the machine, then each phase's tables in a fixed order."""

from scripts.bench.accounting import report_accounting
from scripts.bench.compare import report_compare
from scripts.bench.cost import report_cost
from scripts.bench.floor import report_floor
from scripts.bench.forwarding import report_forwarding
from scripts.bench.harness import ServiceProcess
from scripts.bench.latency import report_latency
from scripts.bench.replicas import report_replicas
from scripts.bench.scale import report_scale
from scripts.bench.summary import report_summary
from scripts.bench.throughput import report_throughput


def report_machine(facts: dict, service: ServiceProcess | None, results: dict) -> list[str]:
    if service is None:
        serving = f"- service: granian {facts['granian']}, settings per variant below"
    else:
        env = " ".join(f"{k}={v}" for k, v in service.env_shown.items())
        serving = (f"- service: granian {facts['granian']}, "
                   f"{service.workers} worker(s) x {service.threads} threads, access log "
                   f"{'on' if service.access_log else 'off'}{', ' + env if env else ''}")
    return [
        "## Machine", "",
        f"- {facts['cores']} cores ({facts['cpu']}), {facts['memory_gib']} GiB memory, "
        f"{facts['os']}; shared with other work while this ran",
        f"- load average (1/5/15 min): at start {results['load_start']}, "
        f"at end {results['load_end']}",
        f"- Elasticsearch {facts['es_version']} (heap {facts['es_heap']}), single node on "
        f"127.0.0.1; Python {facts['python']}, {facts['client']}",
        serving, *report_memory(results),
        f"- run: `{results['command']}`, {results['seconds']:.0f} s", ""]


def report_memory(results: dict) -> list[str]:
    memory = results.get("memory")
    if not memory or not memory["workers"]:
        return []
    workers = ", ".join(f"{rss:.0f} MiB (peak {peak:.0f})" for rss, peak in memory["workers"])
    main = " ".join(f"{rss:.0f} MiB" for rss, _ in memory["main"])
    return [f"- service memory at the end of the run (resident): workers {workers}; granian's "
            f"main process {main}"]


def report(facts: dict, service: ServiceProcess | None, args, results: dict) -> str:
    lines = report_machine(facts, service, results)
    if "latency" in results:
        lines += report_latency(results)
    if "accounting" in results:
        lines += report_accounting(results)
    if "throughput" in results:
        lines += report_throughput(results, args)
    if "cost" in results:
        lines += report_cost(results)
    if "floor" in results:
        lines += report_floor(results)
    if results.get("scale"):
        lines += report_scale(results)
    if "forwarding" in results:
        lines += report_forwarding(results)
    if "summary" in results:
        lines += report_summary(results)
    if "replicas" in results:
        lines += report_replicas(results, args)
    if "compare" in results:
        lines += report_compare(results, args)
    return "\n".join(lines)
