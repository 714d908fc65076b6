"""Background training jobs: launch, queue, stop, resume and watch runs outside the app.

A job is ``python -m gan_core.jobs _run NAME`` (or ``torchrun ... -m gan_core.jobs _run NAME``
for ``nproc``/``nnodes`` > 1) started in its own OS session, so it outlives the process that
launched it (the app, a shell). Its stdout/stderr go to the run's ``log.txt``; everything
else lives in the run folder's ``status.json``::

    state            queued | running | stopping | stopped | finished | failed | crashed
                     (| diverged | cancelled)
    launcher_pid     the process we started (session leader; torchrun's launcher for DDP),
    launcher_start   and its start time in clock ticks since boot (/proc/<pid>/stat field 22),
    pid, pid_start   the trainer process (rank 0), written by the trainer itself,
    host, boot_id    where it runs (a reboot or a reused pid is never taken for the trainer)
    launch           nproc / nnodes / rdzv_endpoint, reused by ``resume`` (and cwd, for people: the
                     trainer runs in the studio's own folder, never a folder read from this file)
    queued_at        queue order

The live trainer holds ``trainer.lock`` in its run folder for its whole life (runs/locks.py);
that lock, or a recorded process whose start time still matches, is what "alive" means.
``crashed`` is never written by the trainer: it is derived when status is read (the state
says running/stopping, the lock is free and no recorded process is alive) and persisted in
the same hold of the status lock, so it cannot land over a resume that came in between.

The queue needs no daemon: every launch, resume and status read runs a scheduler pass, and
every trainer runs one when it ends (also when it fails), under an exclusive ``flock`` on
``<root>/.scheduler.lock`` so two passes never start one job twice. At most
``GAN_MAX_JOBS`` run at once (default: one per device; a DDP job takes ``nproc`` slots).
``python -m gan_core scheduler --watch`` loops passes for those who want a daemon anyway.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from gan_core.config import ConfigError, TrainConfig
from gan_core.data.catalogue import data_problem, domains_problem
from gan_core.data.images import BUILTIN_DATASETS
from gan_core.data.limits import free_space_problem
from gan_core.jobs.processes import HOST, job_alive, kill_job, reap, signal_trainer
from gan_core.jobs.scheduler import (
    JobError,
    max_jobs,
    maybe_schedule,
    queue_key,
    queued_runs,
    schedule,
    scheduler_lock,
)
from gan_core.jobs.state import derive, note, open_run, runs_root
from gan_core.runs.rundir import RunDir
from gan_core.runs.states import RunState


def run_state(run: RunDir) -> str:
    """The run's state, with ``crashed`` derived (and persisted) when the trainer vanished,
    and an overdue stop enforced. Also gives the queue a chance to move (throttled)."""
    maybe_schedule(run.path.parent)
    return derive(run)[0]


def status(name: str, *, root: Path | str | None = None) -> dict[str, Any]:
    """status.json merged with what a reader wants: derived state, step, images/s, last
    losses, pid, error and traceback tail, ETA, newest checkpoint, queue position."""
    run = open_run(name, root)
    maybe_schedule(run.path.parent)
    state, st = derive(run)
    ckpt = run.latest_checkpoint()
    out = {**st, "name": run.name, "state": state, "path": str(run.path), "log": str(run.log_path),
           "step": int(st.get("step") or 0), "images_per_s": st.get("images_per_s"), "last": st.get("last") or {},
           "pid": st.get("launcher_pid") or st.get("pid"), "trainer_pid": st.get("pid"),
           "error": st.get("error"), "traceback": (st.get("traceback") or "")[-2000:] or None,
           "eta_s": st.get("eta_s"), "total_steps": st.get("total_steps"),
           "checkpoint_step": ckpt.step if ckpt else None}
    if state == "queued":
        ahead = [r for r, s in queued_runs(run.path.parent) if r.name != run.name and queue_key(s, r) < queue_key(st, run)]
        out["queue_position"] = len(ahead) + 1
    if not RunState.is_live(state):
        out["eta_s"] = 0 if state == "finished" else None
    return out


# ---- the public operations ----------------------------------------------------------------
def launch(cfg: TrainConfig, name: str, *, nproc: int = 1, nnodes: int = 1, rdzv_endpoint: str | None = None,
           root: Path | str | None = None, created_by: str | None = None) -> RunDir:
    """Create run ``name`` for ``cfg``, queue it, and start it now if a slot is free.
    ``created_by`` (a ``gan_core.access`` identity) is recorded in status.json with the first state.
    Raises RunError if the name is taken, ConfigError/JobError for impossible settings."""
    max_jobs()  # a bad GAN_MAX_JOBS is refused before any folder is made
    if int(nproc) < 1 or int(nnodes) < 1:
        raise JobError(f"nproc and nnodes must be >= 1, got nproc={nproc}, nnodes={nnodes}")
    world = int(nproc) * int(nnodes)
    if nnodes > 1 and not rdzv_endpoint:
        raise JobError("more than one node needs a rendezvous address (--rdzv-endpoint HOST:PORT)")
    if world > 1 and (cfg.batch_size % world or cfg.batch_size // world < 2):
        raise ConfigError("batch_size", f"{cfg.batch_size} does not split into {world} equal per-process batches of 2 or more")
    _check_free_space(runs_root(root), f"launching {name}")
    check_data(cfg)
    cfg = _absolute_data_path(cfg)
    run = RunDir.create(name, cfg, runs_root(root))
    run.write_status(state="queued", queued_at=time.time(), resume=False, created_by=created_by,
                     launch={"nproc": int(nproc), "nnodes": int(nnodes), "rdzv_endpoint": rdzv_endpoint, "cwd": os.getcwd()})
    note(run, f"queued {name}" + (f" (torchrun: {nnodes} node(s) x {nproc} process(es))" if world > 1 else ""))
    schedule(run.path.parent)
    return run


def check_data(cfg: TrainConfig) -> None:
    """A ConfigError when a run's images are not there (a typo, a missing package), by names
    and files alone, before any run folder is made: it used to be a run that failed at once.
    CycleGAN's two domains (classes of the set, or two sets) stand in for its set; video clip
    sets are resolved by their own loader at start."""
    if cfg.domain_a and cfg.domain_b:
        problem = domains_problem(cfg.data, cfg.domain_a, cfg.domain_b)
        if problem:
            raise ConfigError("domain_a", problem)
    elif cfg.run_type.kind != "video":
        problem = data_problem(cfg.data)
        if problem:
            raise ConfigError("data", problem)


def _check_free_space(root: Path, what: str) -> None:
    problem = free_space_problem(root, what)
    if problem:
        raise JobError(problem)


def _absolute_data_path(cfg: TrainConfig) -> TrainConfig:
    """A data folder given relative to here, made absolute: the trainer runs elsewhere."""
    path = Path(cfg.data).expanduser()
    if cfg.data in BUILTIN_DATASETS or path.is_absolute() or not path.exists() or (Path(os.environ.get("GAN_DATA") or "data") / cfg.data).is_dir():
        return cfg
    return cfg.replace(data=str(path.resolve()))


def resume(name: str, *, root: Path | str | None = None) -> RunDir:
    """Queue a stopped, crashed, failed, diverged or cancelled run to continue from its
    newest good checkpoint (same config, same folder; metrics continue from that step)."""
    run = open_run(name, root)
    with scheduler_lock(run.path.parent), run.status_lock():  # one verdict, one write: two resumes queue it once
        state, st = derive(run)
        if not RunState.permits(state, "resume"):
            raise JobError(_why_not_resume(name, state, st))
        run.config()  # a broken config is refused here, not in a background process
        _check_free_space(run.path.parent, f"resuming {name}")
        run.stop_path.unlink(missing_ok=True)
        run.write_status(state="queued", queued_at=time.time(), resume=True, previous_state=state, host=HOST)
    ckpt = run.latest_checkpoint()
    note(run, f"queued to resume from {f'checkpoint step {ckpt.step}' if ckpt else 'the start (no checkpoint)'}")
    schedule(run.path.parent)
    return run


def _why_not_resume(name: str, state: str, st: dict[str, Any]) -> str:
    if RunState.is_live(state):
        return f"run {name} is {state}; stop it first"
    if state == RunState.QUEUED:
        return f"run {name} is already queued"
    if state == RunState.FINISHED:
        return f"run {name} finished its budget (step {st.get('step', 0)}); there is nothing to resume"
    if state == RunState.IMPORTED:
        return f"run {name} was imported, not trained here: fine-tune from it with --init-from {name}"
    return f"run {name} is {state}; only a stopped, crashed, failed, diverged or cancelled run can be resumed"


def cancel(name: str, *, root: Path | str | None = None) -> str:
    """Take a queued run off the queue: a fresh run becomes ``cancelled``, a queued resume
    goes back to the state it had. Refuses any other state. Returns the new state."""
    run = open_run(name, root)
    with scheduler_lock(run.path.parent), run.status_lock():  # no pass can start it meanwhile
        state, st = derive(run)
        if not RunState.permits(state, "cancel"):
            raise JobError(f"run {name} is {state}, not queued; only a queued run can be cancelled"
                           + (" (use stop)" if RunState.is_live(state) else ""))
        new = st.get("previous_state") if st.get("resume") else "cancelled"
        run.write_status(state=new or "cancelled", resume=False, ended=time.time() if not st.get("resume") else st.get("ended"))
    note(run, "cancelled while queued" + (f"; back to {new}" if st.get("resume") else ""))
    return new or "cancelled"


def stop(name: str, timeout: float = 60, *, wait: bool = False, root: Path | str | None = None) -> str:
    """Ask a running job to stop: it finishes its step, checkpoints, records ``stopped`` and
    exits; after ``timeout`` seconds it is killed. ``wait=False`` returns ``stopping`` at once
    (a thread here, or the next status read anywhere, enforces the timeout); ``wait=True``
    returns the final state. A queued run is cancelled instead."""
    run = open_run(name, root)
    with run.status_lock():  # the trainer's "finished" cannot land between this read and the write
        state, st = derive(run)
        if RunState.is_live(state):
            if st.get("host") and st["host"] != HOST:
                raise JobError(f"run {name} runs on {st['host']}; stop it there")
            now = time.time()
            deadline = min(float(st.get("stop_deadline") or now + timeout), now + timeout)
            signalled = st.get("pid_start") is not None  # the trainer has its handler: safe to signal
            st = run.write_status(state="stopping", stop_requested=st.get("stop_requested") or now, stop_deadline=deadline,
                                  stop_signalled=now if signalled else None)
            run.stop_path.touch()
    if state == RunState.QUEUED:
        return cancel(name, root=run.path.parent)  # outside the status lock: cancel takes the scheduler lock first
    if not RunState.is_live(state):
        return state
    if signalled:
        signal_trainer(st, signal.SIGTERM)
    note(run, f"stop requested (killed if still running in {deadline - now:.0f} s)")
    if wait:
        return _wait_stopped(run, deadline)
    threading.Thread(target=_wait_stopped, args=(run, deadline), daemon=True, name=f"stop-{name}").start()
    return "stopping"


def _wait_stopped(run: RunDir, deadline: float) -> str:
    """Until the run has recorded its end and its processes have exited (or were killed)."""
    while True:
        state, st = derive(run)
        if not RunState.is_live(state):
            while job_alive(st) and time.time() < deadline:  # it is running its last scheduler pass
                time.sleep(0.1)
                reap()
            if job_alive(st):
                kill_job(st)
            maybe_schedule(run.path.parent)
            return state
        if state == "running":  # a trainer write raced ours and dropped the stop: say it again
            run.write_status(state="stopping", stop_requested=time.time(), stop_deadline=deadline)
            continue
        time.sleep(0.2)


def log_tail(name: str, lines: int = 200, *, root: Path | str | None = None) -> str:
    """The last ``lines`` lines of the run's log."""
    return tail_text(open_run(name, root).log_path, lines)


def tail_text(path: Path, lines: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            chunk, data = 8192, b""
            while size > 0 and data.count(b"\n") <= lines:
                step = min(chunk, size)
                size -= step
                f.seek(size)
                data = f.read(step) + data
                chunk *= 2
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:]) + ("\n" if lines and text.endswith("\n") else "") if lines > 0 else ""
