"""Figures computed once and shared by every thread and worker process of one server.

Each entry is a file: the time its computation started on the first line, the value as JSON
after it, so an answer can send those bytes as they are. A file lock lets one computation run
at a time per entry, and those who waited for it take its result. Entries never hold secrets:
only figures the service would answer anyway.
"""

import atexit
import fcntl
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Entry:
    raw: bytes  # the value as JSON
    computed_at: float  # epoch seconds at which the computation started
    parsed: Any = field(default=None, repr=False)

    @cached_property
    def value(self) -> Any:
        return self.parsed if self.parsed is not None else json.loads(self.raw)

    def age(self) -> float:
        return max(0.0, time.time() - self.computed_at)


class SharedCache:
    def __init__(self, directory: Path | None = None):
        if directory is None:
            # One process only (tests, `flask run`): a directory of its own, gone at exit.
            directory = Path(tempfile.mkdtemp(prefix="connector-sync-jobs-cache-"))
            atexit.register(shutil.rmtree, directory, True)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory = directory
        self._parsed: dict[str, tuple[int, Entry]] = {}
        self._refreshing: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str, max_age: float, compute: Callable[[], Any], *,
            refresh_ahead: bool = False) -> Entry:
        """An entry at most `max_age` seconds old, computed now if there is none.

        Callers that arrive while it is being computed wait and take that result. With
        `refresh_ahead`, an entry past half its allowed age is still answered, and recomputed
        in the background for the next caller.
        """
        arrived = time.time()
        entry = self._read(key)
        if entry is not None and entry.age() <= max_age:
            if refresh_ahead and entry.age() > max_age / 2:
                self._refresh_in_background(key, compute)
            return entry
        with self._locked(key, blocking=True):
            entry = self._read(key)
            if entry is not None and (entry.computed_at >= arrived or entry.age() <= max_age):
                return entry
            return self._compute(key, compute)

    def _compute(self, key: str, compute: Callable[[], Any]) -> Entry:
        started = time.time()
        value = compute()
        entry = Entry(json.dumps(value, ensure_ascii=False).encode(), started, parsed=value)
        path = self._path(key)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        temporary.write_bytes(f"{started!r}\n".encode() + entry.raw)
        os.replace(temporary, path)
        return entry

    def _refresh_in_background(self, key: str, compute: Callable[[], Any]) -> None:
        with self._guard:
            busy = self._refreshing.setdefault(key, threading.Lock())
        if not busy.acquire(blocking=False):
            return  # this process already refreshes it

        def refresh():
            try:
                with self._locked(key, blocking=False) as acquired:
                    if acquired:  # else another process refreshes it
                        self._compute(key, compute)
            except Exception:
                log.warning("background refresh of %s failed", key, exc_info=True)
            finally:
                busy.release()

        threading.Thread(target=refresh, name=f"refresh-{key}", daemon=True).start()

    def _read(self, key: str) -> Entry | None:
        path = self._path(key)
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            return None
        parsed = self._parsed.get(key)
        if parsed is not None and parsed[0] == stamp:
            return parsed[1]
        try:
            first, _, raw = path.read_bytes().partition(b"\n")
            entry = Entry(raw, float(first))
        except (OSError, ValueError):
            return None
        self._parsed[key] = (stamp, entry)
        return entry

    @contextmanager
    def _locked(self, key: str, *, blocking: bool):
        with open(self.directory / f"{key}.lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"
