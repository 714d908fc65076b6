"""A run's state as a reader should see it: ``crashed`` derived (and persisted) when the
trainer vanished, and an overdue stop enforced."""
from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any

from gan_core.jobs.processes import HOST, job_alive, kill_job, signal_trainer
from gan_core.runs.rundir import RunDir, checkpoints_root, iter_metrics
from gan_core.runs.states import RunState

_RESEND_TERM_S = 5.0  # while stopping, repeat SIGTERM this often (a first one can race the trainer's start-up)


def runs_root(root: Path | str | None) -> Path:
    return Path(root or checkpoints_root()).resolve()


def open_run(name: str, root: Path | str | None) -> RunDir:
    return RunDir.open(name, runs_root(root))


def note(run: RunDir, message: str) -> None:
    """A job-layer line in the run's log (stdout already is the log inside the trainer)."""
    if os.environ.get("GAN_STUDIO_STDOUT_IS_LOG") == "1" and os.environ.get("GAN_JOB_NAME") == run.name:
        print(message, flush=True)
    else:
        run.log(message)


def last_step(run: RunDir, status: dict[str, Any]) -> int:
    steps = [r.get("step", 0) for r in iter_metrics(run.metrics_path)]
    return max([int(status.get("step") or 0), *steps])


def fatal_error(run: RunDir) -> str | None:
    """What Python's faulthandler wrote to log.txt when the trainer's latest start died of a fatal
    signal (e.g. "Floating point exception"), or None."""
    try:
        with open(run.log_path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 64_000))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    found = re.findall(r"^Fatal Python error: (.+)$", tail.rpartition(" as pid ")[2], re.MULTILINE)
    return found[-1].strip() if found else None


def derive(run: RunDir, status: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    status = run.read_status() if status is None else status
    state = status.get("state", "created")
    if state == "running" and status.get("stop_requested"):
        state = "stopping"  # the trainer's start-up wrote "running" over a stop that came early
    if not RunState.is_live(state) or (status.get("host") and status["host"] != HOST):
        return state, status  # another machine's job: its own reads judge it
    if is_live(run, status):
        if state == "stopping":
            return enforce_stop(run, status)
        return state, status
    with run.status_lock():  # the verdict and its write as one step: a resume cannot slip in between
        fresh = run.read_status()  # it may have written its final state and exited just now
        if not RunState.is_live(fresh.get("state")) or is_live(run, fresh):
            return fresh.get("state", "created"), fresh
        step = last_step(run, fresh)
        ckpt = run.latest_checkpoint()
        where = f"resume continues from checkpoint step {ckpt.step}" if ckpt else "no checkpoint was written; resume starts over"
        fatal = fatal_error(run)
        error = (f"the trainer process died at step {step} of a crash inside native code ({fatal}: in PyTorch or a "
                 f"library under it); {where}. The Python stack where it happened is at the end of log.txt."
                 if fatal else
                 f"the trainer process vanished at step {step} without recording how it ended (killed, out of "
                 f"memory, or the machine restarted); {where}. See the end of log.txt.")
        status = run.write_status(state="crashed", step=step, ended=time.time(), error=error,
                                  checkpoint_step=ckpt.step if ckpt else None)
    note(run, f"crashed: {error}")
    return "crashed", status


def is_live(run: RunDir, status: dict[str, Any]) -> bool:
    """The trainer holds the run's lock, or a recorded process (launcher, trainer) with a
    matching start time is still there (a launcher importing torch holds no lock yet)."""
    return run.trainer_alive() or job_alive(status)


def enforce_stop(run: RunDir, status: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """For a live run in ``stopping``: kill it after its deadline, else repeat SIGTERM now and then."""
    now = time.time()
    deadline = status.get("stop_deadline")
    if deadline is not None and now > float(deadline):
        with run.status_lock():  # decide on a fresh read: another tab or the CLI may have acted meanwhile
            status = run.read_status()
            state = status.get("state", "created")
            deadline = status.get("stop_deadline")
            if not (state == "stopping" or (state == "running" and status.get("stop_requested"))) \
                    or deadline is None or now <= float(deadline):
                return ("stopping" if state == "running" and status.get("stop_requested") else state), status
            kill_job(status)
            run.stop_path.unlink(missing_ok=True)
            ckpt = run.latest_checkpoint()
            message = (f"did not stop within {float(deadline) - float(status.get('stop_requested') or deadline):.0f} s "
                       "and was killed; "
                       + (f"resume continues from checkpoint step {ckpt.step}" if ckpt else "no checkpoint was written"))
            status = run.write_status(state="stopped", killed=True, note=message, ended=now,
                                      checkpoint_step=ckpt.step if ckpt else None)
        note(run, f"stopped: {message}")  # was shadowed by the message's own name: a TypeError on every kill
        return "stopped", status
    if now - float(status.get("stop_signalled") or 0) > _RESEND_TERM_S and status.get("pid_start") is not None:
        signal_trainer(status, signal.SIGTERM)
        status = run.write_status(stop_signalled=now)
    return "stopping", status
