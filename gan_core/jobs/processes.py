"""The job's OS processes: are they alive (and really ours), signal them, kill them, reap them.

A pid alone can be reused; a process is taken for the trainer only if its start time
(/proc/<pid>/stat field 22) and the machine's boot id still match what was recorded.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

HOST = socket.gethostname()
CHILDREN: list[subprocess.Popen] = []  # jobs this process started: polled so none stays a zombie


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state letter, process group, start time in ticks since boot) from /proc, or None."""
    try:
        raw = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    return fields[0], int(fields[2]), int(fields[19])


def start_ticks(pid: int) -> int | None:
    stat = proc_stat(pid)
    return stat[2] if stat else None


def boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


HAVE_PROC = Path("/proc/self/stat").exists()


def alive(pid: Any, start: Any = None, not_before: Any = None) -> bool:
    """Is ``pid`` a live process, and the one we recorded (same start time)?

    Without a recorded start tick (a foreground ``train`` run), a process that started
    well after ``not_before`` (the run's start) is a reused pid, not the trainer."""
    if not pid:
        return False
    pid = int(pid)
    if not HAVE_PROC:  # no /proc (macOS): existence only
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    stat = proc_stat(pid)
    if stat is None or stat[0] in "ZXx":  # gone, or a zombie nobody has reaped yet
        return False
    if start is not None:
        return stat[2] == int(start)
    if not_before is not None:
        boot = boot_time()
        if boot is not None and boot + stat[2] / os.sysconf("SC_CLK_TCK") > float(not_before) + 5:
            return False
    return True


def job_alive(status: dict[str, Any]) -> bool:
    if status.get("boot_id") and boot_id() and status["boot_id"] != boot_id():
        return False
    return (alive(status.get("launcher_pid"), status.get("launcher_start"))
            or alive(status.get("pid"), status.get("pid_start"), status.get("started") if status.get("pid_start") is None else None))


def children_of(pid: int) -> list[int]:
    """Descendants of ``pid`` (torchrun starts its workers in sessions of their own)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir() if HAVE_PROC else []:
        if entry.name.isdigit():
            try:
                raw = (entry / "stat").read_text()
                ppid = int(raw[raw.rindex(")") + 2:].split()[1])
            except (OSError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def signal_pid(pid: Any, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError, TypeError, ValueError):
        os.kill(int(pid), sig)


def signal_trainer(status: dict[str, Any], sig: int) -> bool:
    """Signal the recorded trainer only if its start time still matches (a reused pid is
    someone else's process). Returns whether a signal was sent."""
    pid, start = status.get("pid"), status.get("pid_start")
    if start is None and HAVE_PROC:
        return False  # nothing to match against: the trainer has not recorded itself yet
    if not alive(pid, start):
        return False
    signal_pid(pid, sig)
    return True


def kill_job(status: dict[str, Any]) -> None:
    """SIGKILL the job: the launcher's descendants, its process group (ours: it leads its
    own session), and the trainer. Only processes whose start time still matches."""
    launcher = status.get("launcher_pid")
    if alive(launcher, status.get("launcher_start")):
        for child in children_of(int(launcher)):
            signal_pid(child, signal.SIGKILL)
        stat = proc_stat(int(launcher))
        if stat is not None and stat[1] == int(launcher):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(int(launcher), signal.SIGKILL)
        signal_pid(launcher, signal.SIGKILL)
    if alive(status.get("pid"), status.get("pid_start")):
        signal_pid(status["pid"], signal.SIGKILL)
    reap()


def reap() -> None:
    CHILDREN[:] = [p for p in CHILDREN if p.poll() is None]
