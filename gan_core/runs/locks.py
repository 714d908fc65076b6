"""The two locks of a run folder: who trains it, and who may rewrite status.json now.

``trainer.lock``  held (``flock`` LOCK_EX) by the live trainer for its whole life. The kernel
                  drops it when the process dies however it dies, so "is it held?" is the
                  liveness test a pid cannot fool (a pid is reused, a dead trainer's lock is not
                  held). Opened close-on-exec, so no process the trainer starts inherits it.
``.status.lock``  held for each read-modify-write of status.json (milliseconds), so a crash
                  verdict, a resume and the trainer's own updates never overwrite each other.

Both are advisory ``flock`` locks on local files: one machine's processes (and threads, each
with its own open file) exclude each other. Without ``fcntl`` (Windows) they are no-ops.
"""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Iterator

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are then guarded by pids only
    fcntl = None

TRAINER_LOCK = "trainer.lock"
STATUS_LOCK = ".status.lock"
_held = threading.local()  # status locks this thread holds: {path: depth}, so nesting is allowed


class TrainerBusy(Exception):
    """Another live process already trains this run."""


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)


def acquire_trainer_lock(folder: Path) -> int | None:
    """Take ``folder``'s trainer lock for this process's life; returns the fd to keep open
    (closing it releases the lock). Raises TrainerBusy if another process holds it."""
    if fcntl is None:
        return None
    fd = _open(Path(folder) / TRAINER_LOCK)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise TrainerBusy(f"another process is already training {Path(folder).name}") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())  # for people reading the folder; the lock is the truth
    return fd


def release_trainer_lock(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def trainer_lock_held(folder: Path) -> bool:
    """Does a live process hold ``folder``'s trainer lock? (Probes with a non-blocking shared lock.)"""
    path = Path(folder) / TRAINER_LOCK
    if fcntl is None or not path.exists():
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's own lock
    return False


@contextlib.contextmanager
def status_lock(folder: Path) -> Iterator[None]:
    """Exclusive lock for a read-modify-write of ``folder``/status.json. Re-entrant within a thread."""
    key = str(Path(folder).resolve())
    depth = getattr(_held, "depth", None)
    if depth is None:
        depth = _held.depth = {}
    if fcntl is None or depth.get(key):
        depth[key] = depth.get(key, 0) + 1
        try:
            yield
        finally:
            depth[key] -= 1
        return
    fd = _open(Path(folder) / STATUS_LOCK)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        depth[key] = 1
        try:
            yield
        finally:
            depth[key] = 0
    finally:
        os.close(fd)
