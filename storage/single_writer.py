"""One scheduler per SQLite file: a lock file beside the database that only one process can
hold. PostgreSQL needs none (its rows are claimed with FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy.engine import make_url


class SchedulerLock:
    """Held by the process that runs the scheduler and the sender, until `release()`."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1


def lock_path(url: str) -> Path | None:
    """The lock file for a SQLite file URL; None for PostgreSQL and in-memory SQLite."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database).resolve().with_name(Path(parsed.database).name + ".scheduler.lock")


def try_lock(url: str) -> SchedulerLock | bool | None:
    """True when no lock is needed (PostgreSQL), the lock when taken, None when another
    process holds it."""
    path = lock_path(url)
    if path is None:
        return True
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return SchedulerLock(path, fd)
