"""A bounded sync-job load through several service replicas, every answer recorded, for the
failover tests (tests/system/test_failover.py).

Each round, one fresh job is created and every claimer races to claim it through its own
replica; a claimer whose answer was a 503 sends its claim again, as a worker would, until it
gets a definite answer. That relies on the claim route's rule for a repeated claim: a claim
repeated by the worker that holds the job, before it reported anything, is answered 200
(`noop`), so a claimer whose first claim landed learns that it holds the job.

The winner hands the job to a reporter, which sends heartbeats and stats, each stats under a
key of its own in `metadata`, and cancels one job in four. At most two rounds overlap, so the
load stays bounded on a small machine whatever the cluster does.
`run_rounds` returns when its rounds are answered; `Recorder` keeps every answer with the
moments it was sent and answered.
"""

import itertools
import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field

import urllib3

CLAIMERS = 32
REPORTERS = 8
# A claimer whose claim answered 503 sends it again, at most this often, this far apart.
CLAIM_ATTEMPTS = 60
CLAIM_RETRY_SECONDS = 0.5
# Everything a round does must be answered within this; far more than any failover takes.
ROUND_SECONDS = 120.0


@dataclass
class Answer:
    operation: str
    job_id: str
    status: int
    body: dict
    sent: float
    answered: float
    worker: str = ""
    detail: dict = field(default_factory=dict)


class Recorder:
    """Every answer, in the order they came; thread-safe."""

    def __init__(self):
        self.answers: list[Answer] = []
        self._lock = threading.Lock()

    def add(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def of(self, operation: str) -> list[Answer]:
        with self._lock:
            return [answer for answer in self.answers if answer.operation == operation]

    def server_errors(self) -> list[Answer]:
        with self._lock:
            return [answer for answer in self.answers if answer.status >= 500]


class Replicas:
    """Sends requests to the service's replicas over HTTP, recording each answer."""

    def __init__(self, urls: list[str], recorder: Recorder):
        self.urls = urls
        self.recorder = recorder
        self.http = urllib3.PoolManager(maxsize=CLAIMERS + REPORTERS, retries=False,
                                        timeout=urllib3.Timeout(total=60))

    def send(self, replica: int, method: str, path: str, body=None, *, operation: str,
             job_id: str = "", worker: str = "", detail: dict | None = None) -> Answer:
        url = self.urls[replica % len(self.urls)] + path
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data else {}
        sent = time.time()
        try:
            response = self.http.request(method, url, body=data, headers=headers)
            status = response.status
            parsed = json.loads(response.data) if response.data else {}
        except urllib3.exceptions.HTTPError as err:
            # The replica itself did not answer: recorded as status 0, which no test accepts.
            status, parsed = 0, {"transport_error": repr(err)}
        answer = Answer(operation, job_id, status, parsed, sent, time.time(), worker,
                        detail or {})
        self.recorder.add(answer)
        return answer


class Load:
    """The claim race with heartbeats, stats and cancels (module docstring)."""

    def __init__(self, replicas: Replicas, connector_id: str):
        self.replicas = replicas
        self.connector_id = connector_id
        self.claim_queues = [queue.Queue() for _ in range(CLAIMERS)]
        self.report_queue: queue.Queue = queue.Queue()
        self.jobs: list[str] = []
        self.outstanding: dict[str, threading.Semaphore] = {}
        self.stopping = threading.Event()
        self.rounds = 0
        self._rounds_done = threading.Condition()
        self._creates = itertools.count()
        self._threads = [threading.Thread(target=self._claimer, args=(n,), daemon=True)
                         for n in range(CLAIMERS)]
        self._threads += [threading.Thread(target=self._reporter, daemon=True)
                          for _ in range(REPORTERS)]
        for thread in self._threads:
            thread.start()

    def run_rounds(self, rounds: int, until: threading.Event | None = None) -> None:
        """Creates up to `rounds` fresh jobs one after another (fewer if `until` is set
        meanwhile), each raced by every claimer, at most two rounds at a time; returns when
        every claim of them and every report on their winners has its answer."""
        previous = None
        for _ in range(rounds):
            if until is not None and until.is_set():
                break
            current = self._round()
            if previous is not None:
                self._wait_round(previous)
                self._count_round()
            previous = current
        if previous is not None:
            self._wait_round(previous)
            self._count_round()
        self.report_queue.join()

    def in_background(self, rounds: int) -> "Background":
        """`run_rounds` in a thread of its own, stopped (after its current round) on leaving."""
        return Background(self, rounds)

    def wait_for_rounds(self, count: int, timeout: float = ROUND_SECONDS * 4) -> None:
        """Until `count` rounds in all have been answered."""
        with self._rounds_done:
            if not self._rounds_done.wait_for(lambda: self.rounds >= count, timeout=timeout):
                raise AssertionError(f"{self.rounds} rounds answered in {timeout} s, not {count}")

    def _count_round(self) -> None:
        with self._rounds_done:
            self.rounds += 1
            self._rounds_done.notify_all()

    def _round(self) -> threading.Semaphore | None:
        replica = next(self._creates)
        for _ in range(CLAIM_ATTEMPTS):
            answer = self.replicas.send(replica, "POST", "/_connector/_sync_job",
                                        {"id": self.connector_id}, operation="create")
            if answer.status == 201:
                break
            time.sleep(CLAIM_RETRY_SECONDS)
        else:
            raise AssertionError(f"no job could be created: {answer}")
        job_id = answer.body["id"]
        self.jobs.append(job_id)
        done = threading.Semaphore(0)
        self.outstanding[job_id] = done
        for claims in self.claim_queues:
            claims.put(job_id)
        return done

    @staticmethod
    def _wait_round(done: threading.Semaphore) -> None:
        deadline = time.monotonic() + ROUND_SECONDS
        for _ in range(CLAIMERS):
            if not done.acquire(timeout=max(deadline - time.monotonic(), 0.1)):
                raise AssertionError(f"a claim race took more than {ROUND_SECONDS} s")

    def _claimer(self, n: int) -> None:
        worker = f"worker-{n}"
        while not self.stopping.is_set():
            try:
                job_id = self.claim_queues[n].get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                answer = self.claim(n, job_id, worker)
                if answer.status == 200:
                    self.report_queue.put((job_id, worker, n))
            finally:
                self.outstanding[job_id].release()

    def claim(self, replica: int, job_id: str, worker: str) -> Answer:
        """Claims until the answer is definite: a 503 leaves the outcome unknown, so the worker
        asks again (the answer a repeated claim gets is the service's rule for lost answers)."""
        path = f"/_connector/_sync_job/{job_id}/_claim"
        for attempt in range(CLAIM_ATTEMPTS):
            answer = self.replicas.send(replica, "PUT", path, {"worker_hostname": worker},
                                        operation="claim", job_id=job_id, worker=worker,
                                        detail={"attempt": attempt})
            if answer.status != 503:
                return answer
            time.sleep(CLAIM_RETRY_SECONDS)
        return answer

    def _reporter(self) -> None:
        while True:
            job_id, worker, replica = self.report_queue.get()
            try:
                self._report(job_id, worker, replica)
            finally:
                self.report_queue.task_done()

    def _report(self, job_id: str, worker: str, replica: int) -> None:
        """What the worker holding a job sends: heartbeats and stats, alternating between the
        replicas as a load balancer would, and a cancel for one job in four (as Kibana would)."""
        base = f"/_connector/_sync_job/{job_id}"
        for k in range(2):
            self.replicas.send(replica + k, "PUT", f"{base}/_check_in", operation="check_in",
                               job_id=job_id, worker=worker)
            key = f"report_{k}"
            self.replicas.send(replica + k + 1, "PUT", f"{base}/_stats",
                               {"deleted_document_count": k, "indexed_document_count": 10 * k,
                                "indexed_document_volume": k, "metadata": {key: k}},
                               operation="stats", job_id=job_id, worker=worker,
                               detail={"key": key, "value": k})
        if self.jobs.index(job_id) % 4 == 0:
            self.replicas.send(replica, "PUT", f"{base}/_cancel", operation="cancel",
                               job_id=job_id, worker=worker)

    def stop(self) -> None:
        self.stopping.set()


def new_load(replicas: list[str], prefix: str) -> tuple[Load, Recorder]:
    """A Load through `replicas` for a connector of its own, and the Recorder of its answers."""
    recorder = Recorder()
    sender = Replicas(replicas, recorder)
    connector = f"{prefix}-{uuid.uuid4().hex[:8]}"
    answer = sender.send(0, "PUT", f"/_connector/{connector}",
                         {"index_name": f"search-{connector}", "service_type": "sharepoint"},
                         operation="put_connector")
    assert answer.status == 201, answer
    return Load(sender, connector), recorder


class Background:
    def __init__(self, load: Load, rounds: int):
        self.until = threading.Event()
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(load, rounds), daemon=True)
        self._thread.start()

    def _run(self, load: Load, rounds: int) -> None:
        try:
            load.run_rounds(rounds, until=self.until)
        except BaseException as err:  # raised again in the test's thread
            self.failure = err

    def __enter__(self) -> "Background":
        return self

    def __exit__(self, *exc) -> None:
        self.until.set()
        self._thread.join(timeout=ROUND_SECONDS * 2)
        if self._thread.is_alive():
            raise AssertionError("the load did not finish its last round")
        if self.failure is not None:
            raise self.failure


class PrimaryWatch:
    """Where the primary of one index is, asked of the surviving nodes every `interval`
    seconds from its own thread: gives the window in which the index had no primary."""

    def __init__(self, urls: list[str], index: str, interval: float = 0.1):
        self.urls, self.index, self.interval = urls, index, interval
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=2))
        self.seen: list[tuple[float, str | None]] = []  # (time, node id of a started primary)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def primary_node(self) -> str | None:
        """The id of the node holding the started primary, as the first node that answers
        sees it (its own cluster state: `local`, so it answers without a master too)."""
        for url in self.urls:
            try:
                response = self.http.request(
                    "GET", f"{url}/_cluster/state/routing_table/{self.index}?local=true")
            except urllib3.exceptions.HTTPError:
                continue
            if response.status != 200:
                continue
            table = json.loads(response.data)["routing_table"]["indices"][self.index]
            for copy in table["shards"]["0"]:
                if copy["primary"] and copy["state"] == "STARTED":
                    return copy["node"]
            return None
        return None

    def start(self) -> "PrimaryWatch":
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.seen.append((time.time(), self.primary_node()))
            time.sleep(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def back_after(self, moment: float, lost_node: str) -> float | None:
        """The first time after `moment` at which a node other than `lost_node` held a
        started primary."""
        return next((seen for seen, node in self.seen
                     if seen > moment and node is not None and node != lost_node), None)


def stored_jobs(es, index: str, job_ids: list[str]) -> dict[str, dict]:
    """The stored documents of `job_ids`, read in real time."""
    docs = es.mget(index=index, ids=job_ids)["docs"]
    return {doc["_id"]: doc["_source"] for doc in docs if doc.get("found")}


def broken_promises(recorder: Recorder, stored: dict[str, dict]) -> list[str]:
    """Every way the stored jobs contradict what the service answered; empty when none does.

    - no job has two claimers that were told they won;
    - a job stored as claimed by a worker was acknowledged to that worker, and to no other
      (the worker whose claim answer was lost learned it holds the job when it asked again);
    - every job was claimed by someone (none is left pending);
    - every acknowledged stats report is in the job's metadata, every acknowledged heartbeat
      or report left `last_seen` at or after the moment it was sent, and every acknowledged
      cancel left the job canceling (or canceled).
    """
    problems = []
    final_claims: dict[tuple[str, str], Answer] = {}
    for answer in recorder.of("claim"):
        final_claims[(answer.job_id, answer.worker)] = answer  # answers come in order
    winners: dict[str, list[str]] = {}
    for (job_id, worker), answer in final_claims.items():
        if answer.status == 200:
            winners.setdefault(job_id, []).append(worker)
        elif answer.status != 400:
            problems.append(f"{job_id}: {worker}'s claim ended without a definite answer: "
                            f"{answer.status} {answer.body}")
    for job_id, job in stored.items():
        told = winners.get(job_id, [])
        if len(told) > 1:
            problems.append(f"{job_id}: {len(told)} claimers were told they won: {told}")
        holder = job.get("worker_hostname")
        if job.get("status") == "pending" or holder is None:
            problems.append(f"{job_id}: never claimed, still {job.get('status')}")
        elif told != [holder]:
            lost = [a for a in recorder.of("claim") if (a.job_id, a.worker, a.status) == (
                job_id, holder, 503)]
            why = (f" ({holder}'s claim landed and its answer was lost; its repeat must be "
                   "answered as a success)") if lost else ""
            problems.append(f"{job_id}: stored as claimed by {holder}, but the claimers told "
                            f"they won were {told}{why}")
    for answer in recorder.of("stats"):
        job = stored.get(answer.job_id, {})
        key, value = answer.detail["key"], answer.detail["value"]
        if answer.status == 200 and job.get("metadata", {}).get(key) != value:
            problems.append(f"{answer.job_id}: acknowledged stats {key}={value} missing")
    for answer in recorder.of("check_in") + recorder.of("stats"):
        last_seen = stored.get(answer.job_id, {}).get("last_seen", "")
        if answer.status == 200 and instant(last_seen) < answer.sent - 0.001:
            problems.append(f"{answer.job_id}: last_seen {last_seen} is older than an "
                            f"acknowledged {answer.operation} sent at {answer.sent}")
    for answer in recorder.of("cancel"):
        job = stored.get(answer.job_id, {})
        if answer.status == 200 and (job.get("status") not in ("canceling", "canceled")
                                     or "cancelation_requested_at" not in job):
            problems.append(f"{answer.job_id}: acknowledged cancel, stored {job.get('status')}")
    return problems


def instant(text: str) -> float:
    """Seconds since the epoch of a stored UTC timestamp."""
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else 0.0
