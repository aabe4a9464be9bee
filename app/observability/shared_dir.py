"""The directory the worker processes of one server share: their metrics and cached figures.

granian runs several worker processes; Prometheus' client library adds up their metrics from
files in PROMETHEUS_MULTIPROC_DIR, which must be set before the library is imported and must
start empty with each server. Unless the operator sets it, each worker of one granian server
derives the same fresh directory from its parent, the granian main process (its pid and start
time), and removes those of servers that are gone.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "connector-sync-jobs-"


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def prepare_for_workers() -> Path | None:
    """Sets PROMETHEUS_MULTIPROC_DIR for a granian worker (before prometheus_client is
    imported) and returns the directory; None outside granian, where one process serves."""
    given = os.environ.get(ENV)
    if given:
        return Path(given)
    if "granian" not in sys.modules:
        return None
    parent = os.getppid()
    started = process_start(parent)
    if started is None:
        return None
    base = Path(tempfile.gettempdir())
    directory = base / f"{PREFIX}{os.getuid()}-{parent}-{started}"
    try:
        directory.mkdir(mode=0o700, exist_ok=True)
        info = directory.lstat()
    except OSError:
        return None
    if directory.is_symlink() or info.st_uid != os.getuid():
        return None  # not ours: leave metrics per process rather than trust it
    remove_dead_servers(base)
    os.environ[ENV] = str(directory)
    return directory


def remove_dead_servers(base: Path) -> None:
    """Directories of this user's earlier servers whose main process is gone.

    Workers starting together (of one server, or of several) clean up at once: a directory
    another one has just removed is passed over, never an error that stops a worker starting.
    """
    mine = f"{PREFIX}{os.getuid()}-"
    for path in base.glob(f"{mine}*"):
        try:
            pid, started = path.name[len(mine):].split("-")
            if process_start(int(pid)) == started:
                continue
            if path.lstat().st_uid == os.getuid() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
        except (ValueError, OSError):
            continue


def shared_directory() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value) if value else None
