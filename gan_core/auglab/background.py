"""A lab as a background process: start it, read its state, stop it.

A background lab is ``python -m gan_core augment-lab --resume NAME`` started in its own OS
session (as the trainer's jobs are), output into the lab's ``log.txt``; its
``status.json`` records the process (pid and its start time in clock ticks since boot, so a
reused pid is never taken for it: ``gan_core.jobs.processes.alive``). A lab recorded as
running whose process is gone reads as ``crashed``; resuming it skips every finished step.

The lab does not go through the trainer's queue (``GAN_MAX_JOBS``): its GANs are trained
by a child ``train`` process of the lab itself.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from gan_core.auglab.lab import Lab, LabError, LabSpec, child_env, plan, preflight
from gan_core.jobs.processes import CHILDREN, alive, reap, signal_pid, start_ticks

ACTIVE = ("queued", "running")


def lab_state(lab: Lab) -> str:
    """The lab's state, with ``crashed`` derived (and recorded) when its process vanished."""
    st = lab.status()
    state = st.get("state", "created")
    if state in ACTIVE and st.get("pid") and not alive(st.get("pid"), st.get("pid_start")):
        fresh = lab.status()  # it may have written its end just now
        if fresh.get("state") in ACTIVE and not alive(fresh.get("pid"), fresh.get("pid_start")):
            lab.write_status(state="crashed", ended=time.time(),
                             error="the lab's process vanished without recording how it ended; resume skips finished steps")
            return "crashed"
        return fresh.get("state", state)
    return state


def launch_lab(spec: LabSpec, root: Path | None = None) -> Lab:
    """Create the lab and start it as a background process; returns at once."""
    preflight(spec)
    lab = Lab.create(spec, root)
    return start_background(lab)


def start_background(lab: Lab) -> Lab:
    if lab_state(lab) in ACTIVE:
        raise LabError(f"lab {lab.name} is already running")
    (lab.path / "STOP").unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "gan_core", "augment-lab", "--resume", lab.name]
    with open(lab.path / "log.txt", "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, env=child_env(lab.path.parent))
    CHILDREN.append(proc)  # polled by reap(), so an ended lab is no zombie of the app
    lab.write_status(state="queued", pid=proc.pid, pid_start=start_ticks(proc.pid), launched=time.time(),
                     command=cmd, error=None)
    reap()
    return lab


def stop_lab(name: str, root: Path | None = None) -> str:
    """Ask a running lab to stop after (or, for a GAN, inside) its current step."""
    lab = Lab.open(name, root)
    state = lab_state(lab)
    if state not in ACTIVE:
        return state
    (lab.path / "STOP").touch()  # a queued lab sees it before its first step
    st = lab.status()
    if state == "running" and alive(st.get("pid"), st.get("pid_start")):  # its SIGTERM handler is installed
        signal_pid(st["pid"], signal.SIGTERM)
    return "stopping"


def lab_progress(lab: Lab) -> dict:
    """State, steps done of total, the current step, and the last error."""
    spec = lab.spec()
    steps = plan(spec)
    done = sum(1 for s in steps if lab.result(s) is not None)
    st = lab.status()
    return {"name": lab.name, "state": lab_state(lab), "steps_done": done, "steps_total": len(steps),
            "current": st.get("current"), "error": st.get("error"), "data": spec.data, "per_class": spec.per_class,
            "created": st.get("created")}
