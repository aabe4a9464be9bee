"""Measures the service against the physical limit: the same state change sent straight to
Elasticsearch by this process, with the same client library and the same refresh policy.

Starts a local Elasticsearch node of its own (tests.support.nodes.LocalNode: free ports, a fresh data
folder, removed afterwards) unless --es-url names one, then the service under its production
server (granian, as scripts/serve runs it) on a free loopback port in front of it, and, in one
run:

- latency: p50/p99 of create, claim, check_in, stats and a filtered list, each service call
  alternated with its direct equivalent in the same loop, so machine drift cancels out;
- where the time goes: the ES requests and refreshes each call causes (the node's route
  statistics) and the CPU it takes in the service, in Elasticsearch and in the client;
- throughput: 32 threads checking in 32 jobs, service and direct windows alternating;
- cost: the CPU per call of the service and of Elasticsearch, for check_in, claim, stats, create
  and list by 16 threads, service windows alternating with direct ones that make the same real
  change, against the node's CPU for that change alone; check_in again with the direct side at
  the service's rate; with --profile, py-spy on the worker turned into microseconds per call for
  each step of a request;
- floor: the CPU per call of granian alone (the least ASGI app, answering on its event loop,
  after one round trip to a thread, and serving check_in on its event loop with one guarded
  update) against the service's live probe and its check_in, one call at a time, back to back
  and 1.5 ms apart; then check_in by 16 threads through that app (with and without the front's
  ids, access line and metrics), through the service and straight to the node;
- scale: check_in and filtered-list p50 at each --jobs size (jobs bulk-loaded directly);
- forwarding: GET /<index>/_doc/<id> through the service vs direct, when app/api/forwarding.py
  exists;
- replicas: a worker's cycle (claim, check_in, stats, check_in) by 32 threads through 1 and 2
  replicas of the service over 1 and 3 nodes (nodes of the phase's own), windows rotating over
  the four, reported as ratios.
- summary: the dashboard's summary at the largest size with a job created before each call,
  counted for the call and as the previous aggregation, with the node's CPU per call; then
  five tabs polling as the page does while jobs are created.

`--auth` measures instead what checking callers with the cluster costs: a secured node of its
own (tests.support.secured.SecuredNode: TLS, file-realm users), the service in front of it three times
(AUTH_MODE=none; elasticsearch with answers remembered; elasticsearch asking on every request),
a read and a worker's heartbeat alternated across the three.

It prints Markdown tables with PASS/FAIL beside each target. It changes only what it creates:
a node given with --es-url must be on loopback and must not hold the connector indices yet
(the run is refused, nothing touched, if it does); the benchmark creates them and deletes them
at the end (unless --keep). Traffic goes to 127.0.0.1 only; every phase is bounded by counts or
by time, and --max-seconds bounds the whole run.

    .venv/bin/python scripts/benchmark.py --quick
    .venv/bin/python scripts/benchmark.py            # 10k and 1M jobs
    .venv/bin/python scripts/benchmark.py --es-url http://127.0.0.1:9206   # a node you started
    .venv/bin/python scripts/benchmark.py --auth       # AUTH_MODE=elasticsearch's cost
    .venv/bin/python scripts/benchmark.py --phases cost --profile /tmp/check_in.prof

The package, one module per phase over a shared harness:

    __main__.py     the command: options, the phases in order, the run around them
    harness.py      the service under granian, its client, the direct client, the two sides
    fixture.py      connectors, bulk-loaded jobs and history; the connector indices' lifecycle
    measures.py     percentiles, timings, CPU, memory, the node's counters, the machine's facts
    accounting.py   where the time goes          latency.py      p50/p99 per operation
    throughput.py   check_in by many threads     forwarding.py   a forwarded GET
    cost.py         CPU per call vs the node's   budget.py       --profile's steps per call
    replicas.py     replicas and nodes           scale.py        p50 per stored-job count
    summary.py      the dashboard's summary      compare.py      --variant
    auth_cost.py    --auth                       report.py       the Markdown report
    floor.py        granian alone vs the service floor_app.py   the least ASGI app
"""
