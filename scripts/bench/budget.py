"""Phase cost's --profile: py-spy's samples of the worker's GIL holder as microseconds per call
for each step of a request.

py-spy (`record --gil --format raw`) writes one stack a line, outermost frame first, each frame
`function (file:line)`, then how many samples it had. Each sample goes to the first step below
whose test its stack passes; a step's microseconds per call are its share of the samples times
the CPU per call of the worker's Python threads (granian's Rust runtime threads, named
`tokio-rt-worker`, do the HTTP work outside the GIL and are counted apart).
"""

import collections
from pathlib import Path


def _has(*parts: str):
    return lambda stack: any(part in frame for frame in stack for part in parts)


def _all(*tests):
    return lambda stack: all(test(stack) for test in tests)


def _not(test):
    return lambda stack: not test(stack)


ACCESS_LINE = _has("log_request (app/observability/requests.py")
ENCODING = _has("Handler.emit (", "Formatter.format (", "ecs_logging/")
DISPATCH = _has("Flask.dispatch_request (")
HAND_OFF = ("the event loop: the hand-off to an app thread and back, ASGI receive and send "
            "(asyncio, the pool, app/front)")
# (step, test), first match wins: the steps inside others come before them. A step may have
# several tests.
STEPS = (
    ("metric updates (prometheus_client, the multiprocess files)",
     _has("prometheus_client/", "app/observability/metrics.py")),
    ("access line: the JSON encoding and write (ECS formatter, handler)",
     _all(ACCESS_LINE, ENCODING)),
    ("access line: the log record", ACCESS_LINE),
    ("the request's ids and context (app/observability: arrived, begin and finish hooks)",
     _has("arrived (app/observability/", "begin_request (app/observability/",
          "finish_request (app/observability/", "app/observability/context.py")),
    ("the auth decision (app/auth)", _has("app/auth/")),
    ("body reading and marshmallow loading", _has("marshmallow/", "app/schemas/",
                                                   "app/api/bodies.py", "json_body (")),
    ("the ES client's transport (elasticsearch-py, elastic-transport, app/storage/wire, urllib3)",
     _has("elasticsearch/", "elastic_transport/", "app/storage/instrumented.py",
          "app/storage/nodes.py", "app/storage/wire.py", "urllib3/", "http/client.py",
          "email/")),
    ("the answer's serialization (jsonify, response shaping)",
     _has("flask/json/", "jsonify (", "app/api/responses.py")),
    ("WSGI environ building (app/front/wsgi.py build_environ)", _has("build_environ (")),
    ("the route's own work (view, guard, job change, clock)", DISPATCH),
    # The app thread waking the loop up (the answer handed back) is the hand-off's.
    (HAND_OFF, _has("call_soon_threadsafe (", "Exchange.push (")),
    ("Flask request setup and teardown (request context, hooks, werkzeug)",
     _all(_has("Exchange.run ("), _not(DISPATCH))),
    (HAND_OFF, _has("asyncio/", "concurrent/futures/", "app/front/", "granian/", "threading.py")),
    ("unattributed (stacks py-spy read only in part)", lambda stack: True),
)


def samples(path: str) -> collections.Counter:
    """Samples per stack, each stack a tuple of frames, outermost first."""
    stacks: collections.Counter = collections.Counter()
    # Lines end with "\n" only: a frame's name may hold what str.splitlines() also splits at.
    for line in Path(path).read_text().split("\n"):
        if line.strip():
            stack, count = line.rsplit(" ", 1)
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def budget(stacks: collections.Counter, python_cpu_per_call: float
           ) -> list[tuple[str, float, float]]:
    """(step, share of the samples, microseconds per call) for every step, in STEPS's order."""
    counts = dict.fromkeys((name for name, _ in STEPS), 0)
    for stack, count in stacks.items():
        name = next(name for name, test in STEPS if test(stack))
        counts[name] += count
    total = sum(counts.values()) or 1
    return [(name, count / total, count / total * python_cpu_per_call * 1000)
            for name, count in counts.items()]


def report_budget(profile: dict) -> list[str]:
    figures, split = profile["figures"], profile["split"]
    lines = [f"Where the service's CPU goes per check_in (one more service window under py-spy, "
             f"not counted above: {figures['rate']:.0f} calls/s, {figures['service_cpu']:.2f} ms "
             f"of service CPU per call; {profile['samples']:,} GIL samples):", "",
             f"    {profile['command']}", "",
             "| step | share of the GIL samples | µs per call |", "|---|---:|---:|"]
    for name, share, micros in profile["steps"]:
        lines.append(f"| {name} | {share:.1%} | {micros:.0f} |")
    lines += [f"| the worker's Python threads in all (the steps above) | | "
              f"{split['python'] * 1000:.0f} |",
              f"| granian's Rust runtime threads (HTTP, sockets; outside the GIL) | | "
              f"{split['rust'] * 1000:.0f} |",
              f"| granian's main process | | {split['main'] * 1000:.0f} |", ""]
    return lines
