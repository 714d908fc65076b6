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
    launch           nproc / nnodes / rdzv_endpoint / cwd, reused by ``resume``
    queued_at        queue order

``crashed`` is never written by the trainer: it is derived when status is read (the state
says running/stopping but neither recorded process is alive) and then persisted.

The queue needs no daemon: every launch, resume and status read runs a scheduler pass, and
every trainer runs one when it ends (also when it fails), under an exclusive ``flock`` on
``<root>/.scheduler.lock`` so two passes never start one job twice. At most
``GAN_MAX_JOBS`` run at once (default: one per device; a DDP job takes ``nproc`` slots).
``python -m gan_core scheduler --watch`` loops passes for those who want a daemon anyway.
"""
from __future__ import annotations

import signal

if __name__ == "__main__":
    # The trainer child: a stop (SIGTERM) may arrive while torch imports, before train()
    # installs its own handler. Remember it instead of dying without a final state.
    _EARLY_STOP = [False]
    signal.signal(signal.SIGTERM, lambda signum, frame: _EARLY_STOP.__setitem__(0, True))

import argparse  # noqa: E402
import contextlib  # noqa: E402
import getpass  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Iterator  # noqa: E402

from .config import ConfigError, TrainConfig  # noqa: E402
from .rundir import FINAL_STATES, RunDir, RunError, checkpoints_root, iter_metrics, list_runs  # noqa: E402

ACTIVE_STATES = ("running", "stopping")
HOST = socket.gethostname()
LOCK_NAME = ".scheduler.lock"
_RESEND_TERM_S = 5.0  # while stopping, repeat SIGTERM this often (a first one can race the trainer's start-up)
_TORCHRUN_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE",
                 "ROLE_RANK", "ROLE_NAME", "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
_CHILDREN: list[subprocess.Popen] = []  # jobs this process started: polled so none stays a zombie


class JobError(RunError):
    """A job operation that is not possible now (e.g. resuming a running run); the message says why."""


# ---- processes ----------------------------------------------------------------------------
def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state letter, process group, start time in ticks since boot) from /proc, or None."""
    try:
        raw = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    return fields[0], int(fields[2]), int(fields[19])


def _start_ticks(pid: int) -> int | None:
    stat = _proc_stat(pid)
    return stat[2] if stat else None


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


_HAVE_PROC = Path("/proc/self/stat").exists()


def _alive(pid: Any, start: Any = None, not_before: Any = None) -> bool:
    """Is ``pid`` a live process, and the one we recorded (same start time)?

    Without a recorded start tick (a foreground ``train`` run), a process that started
    well after ``not_before`` (the run's start) is a reused pid, not the trainer."""
    if not pid:
        return False
    pid = int(pid)
    if not _HAVE_PROC:  # no /proc (macOS): existence only
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    stat = _proc_stat(pid)
    if stat is None or stat[0] in "ZXx":  # gone, or a zombie nobody has reaped yet
        return False
    if start is not None:
        return stat[2] == int(start)
    if not_before is not None:
        boot = _boot_time()
        if boot is not None and boot + stat[2] / os.sysconf("SC_CLK_TCK") > float(not_before) + 5:
            return False
    return True


def _job_alive(status: dict[str, Any]) -> bool:
    if status.get("boot_id") and _boot_id() and status["boot_id"] != _boot_id():
        return False
    return (_alive(status.get("launcher_pid"), status.get("launcher_start"))
            or _alive(status.get("pid"), status.get("pid_start"), status.get("started") if status.get("pid_start") is None else None))


def _children_of(pid: int) -> list[int]:
    """Descendants of ``pid`` (torchrun starts its workers in sessions of their own)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir() if _HAVE_PROC else []:
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


def _signal(pid: Any, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError, TypeError, ValueError):
        os.kill(int(pid), sig)


def _kill_job(status: dict[str, Any]) -> None:
    """SIGKILL the job: the launcher's descendants, its process group (ours: it leads its
    own session), and the trainer. Only processes whose start time still matches."""
    launcher = status.get("launcher_pid")
    if _alive(launcher, status.get("launcher_start")):
        for child in _children_of(int(launcher)):
            _signal(child, signal.SIGKILL)
        stat = _proc_stat(int(launcher))
        if stat is not None and stat[1] == int(launcher):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(int(launcher), signal.SIGKILL)
        _signal(launcher, signal.SIGKILL)
    if _alive(status.get("pid"), status.get("pid_start")):
        _signal(status["pid"], signal.SIGKILL)
    _reap()


def _reap() -> None:
    _CHILDREN[:] = [p for p in _CHILDREN if p.poll() is None]


# ---- state -------------------------------------------------------------------------------
def _root(root: Path | str | None) -> Path:
    return Path(root or checkpoints_root()).resolve()


def _open(name: str, root: Path | str | None) -> RunDir:
    return RunDir.open(name, _root(root))


def _note(run: RunDir, message: str) -> None:
    """A job-layer line in the run's log (stdout already is the log inside the trainer)."""
    if os.environ.get("GAN_STUDIO_STDOUT_IS_LOG") == "1" and os.environ.get("GAN_JOB_NAME") == run.name:
        print(message, flush=True)
    else:
        run.log(message)


def _last_step(run: RunDir, status: dict[str, Any]) -> int:
    steps = [r.get("step", 0) for r in iter_metrics(run.metrics_path)]
    return max([int(status.get("step") or 0), *steps])


def run_state(run: RunDir) -> str:
    """The run's state, with ``crashed`` derived (and persisted) when the trainer vanished,
    and an overdue stop enforced. Also gives the queue a chance to move (throttled)."""
    _maybe_schedule(run.path.parent)
    return _derive(run)[0]


def _derive(run: RunDir, status: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    status = run.read_status() if status is None else status
    state = status.get("state", "created")
    if state == "running" and status.get("stop_requested"):
        state = "stopping"  # the trainer's start-up wrote "running" over a stop that came early
    if state not in ACTIVE_STATES or (status.get("host") and status["host"] != HOST):
        return state, status  # another machine's job: its own reads judge it
    if _job_alive(status):
        if state == "stopping":
            return _enforce_stop(run, status)
        return state, status
    fresh = run.read_status()  # it may have written its final state and exited just now
    if fresh.get("state") not in ACTIVE_STATES or _job_alive(fresh):
        return fresh.get("state", "created"), fresh
    step = _last_step(run, fresh)
    ckpt = run.latest_checkpoint()
    where = f"resume continues from checkpoint step {ckpt.step}" if ckpt else "no checkpoint was written; resume starts over"
    error = (f"the trainer process vanished at step {step} without recording how it ended (killed, out of "
             f"memory, or the machine restarted); {where}. See the end of log.txt.")
    status = run.write_status(state="crashed", step=step, ended=time.time(), error=error,
                              checkpoint_step=ckpt.step if ckpt else None)
    _note(run, f"crashed: {error}")
    return "crashed", status


def _enforce_stop(run: RunDir, status: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """For a live run in ``stopping``: kill it after its deadline, else repeat SIGTERM now and then."""
    now = time.time()
    deadline = status.get("stop_deadline")
    if deadline is not None and now > float(deadline):
        _kill_job(status)
        run.stop_path.unlink(missing_ok=True)
        ckpt = run.latest_checkpoint()
        note = (f"did not stop within {float(deadline) - float(status.get('stop_requested') or deadline):.0f} s and was killed; "
                + (f"resume continues from checkpoint step {ckpt.step}" if ckpt else "no checkpoint was written"))
        status = run.write_status(state="stopped", killed=True, note=note, ended=now,
                                  checkpoint_step=ckpt.step if ckpt else None)
        _note(run, f"stopped: {note}")
        return "stopped", status
    if now - float(status.get("stop_signalled") or 0) > _RESEND_TERM_S and status.get("pid_start") is not None:
        _signal(status.get("pid"), signal.SIGTERM)
        status = run.write_status(stop_signalled=now)
    return "stopping", status


def status(name: str, *, root: Path | str | None = None) -> dict[str, Any]:
    """status.json merged with what a reader wants: derived state, step, images/s, last
    losses, pid, error and traceback tail, ETA, newest checkpoint, queue position."""
    run = _open(name, root)
    _maybe_schedule(run.path.parent)
    state, st = _derive(run)
    ckpt = run.latest_checkpoint()
    out = {**st, "name": run.name, "state": state, "path": str(run.path), "log": str(run.log_path),
           "step": int(st.get("step") or 0), "images_per_s": st.get("images_per_s"), "last": st.get("last") or {},
           "pid": st.get("launcher_pid") or st.get("pid"), "trainer_pid": st.get("pid"),
           "error": st.get("error"), "traceback": (st.get("traceback") or "")[-2000:] or None,
           "eta_s": st.get("eta_s"), "total_steps": st.get("total_steps"),
           "checkpoint_step": ckpt.step if ckpt else None}
    if state == "queued":
        ahead = [r for r, s in _queued(run.path.parent) if r.name != run.name and _queue_key(s, r) < _queue_key(st, run)]
        out["queue_position"] = len(ahead) + 1
    if state not in ACTIVE_STATES:
        out["eta_s"] = 0 if state == "finished" else None
    return out


# ---- the queue ---------------------------------------------------------------------------
def max_jobs() -> int:
    """``GAN_MAX_JOBS``, else one per device: the GPU count on CUDA, 1 on CPU."""
    value = os.environ.get("GAN_MAX_JOBS", "").strip()
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise JobError(f"GAN_MAX_JOBS must be a whole number >= 1, got {value!r}") from None
    return max(1, _gpu_count())


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@contextlib.contextmanager
def _scheduler_lock(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK_NAME, "a+") as f:
        try:
            import fcntl
        except ImportError:  # no flock (Windows): passes are not serialised
            yield
            return
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _queue_key(status: dict[str, Any], run: RunDir) -> tuple[float, str]:
    return float(status.get("queued_at") or status.get("created") or 0), run.name


def _queued(root: Path) -> list[tuple[RunDir, dict[str, Any]]]:
    found = [(r, r.read_status()) for r in list_runs(root)]
    found = [(r, s) for r, s in found if s.get("state") == "queued" and s.get("host", HOST) == HOST]
    return sorted(found, key=lambda rs: _queue_key(rs[1], rs[0]))


def _slots(status: dict[str, Any]) -> int:
    return max(1, int((status.get("launch") or {}).get("nproc") or 1))


_last_pass: dict[Path, float] = {}


def _maybe_schedule(root: Path) -> None:
    """A pass on reads, at most once a second per process (a listing reads every run)."""
    root = _root(root)
    if time.monotonic() - _last_pass.get(root, -1e9) >= 1.0:
        schedule(root)


def schedule(root: Path | str | None = None) -> list[str]:
    """One scheduler pass: start queued runs, oldest first, while the running ones leave
    slots free. Returns the names it started."""
    root = _root(root)
    _last_pass[root] = time.monotonic()
    _reap()
    if not root.is_dir():
        return []
    started: list[str] = []
    with _scheduler_lock(root):
        used, busy_gpus = 0, set()
        for run in list_runs(root):
            state, st = _derive(run)
            if state in ACTIVE_STATES and st.get("host", HOST) == HOST:
                used += _slots(st)
                busy_gpus.update(st.get("gpus") or [])
        limit = max_jobs()
        for run, st in _queued(root):
            need = _slots(st)
            if used and used + need > limit:
                break  # strictly in order: nothing overtakes the head of the queue
            _start(run, st, busy_gpus, launched_by=os.environ.get("GAN_JOB_NAME") or f"pid {os.getpid()}")
            used += need
            started.append(run.name)
    return started


def _free_gpus(need: int, busy: set[int], cfg: TrainConfig) -> list[int] | None:
    """On a multi-GPU machine, pin each job to its own GPUs (unless the user pinned already)."""
    count = _gpu_count()
    if count < 2 or cfg.device in ("cpu", "mps") or "CUDA_VISIBLE_DEVICES" in os.environ:
        return None
    free = [i for i in range(count) if i not in busy]
    return free[:need] if len(free) >= need else None


def _child_env(run: RunDir, gpus: list[int] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _TORCHRUN_ENV and not k.startswith("TORCHELASTIC_")}
    package_parent = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([package_parent, *filter(None, [env.get("PYTHONPATH")])])
    env["GAN_CHECKPOINTS"] = str(run.path.parent)
    env["GAN_DATA"] = str(Path(os.environ.get("GAN_DATA") or "data").resolve())
    env["GAN_STUDIO_STDOUT_IS_LOG"] = "1"
    env["GAN_JOB_NAME"] = run.name
    env["PYTHONUNBUFFERED"] = "1"
    if gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))
    return env


def _command(name: str, launch: dict[str, Any], resume: bool) -> list[str]:
    tail = ["_run", name] + (["--resume"] if resume else [])
    nproc, nnodes = int(launch.get("nproc") or 1), int(launch.get("nnodes") or 1)
    if nproc == 1 and nnodes == 1:
        return [sys.executable, "-m", "gan_core.jobs", *tail]
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}", f"--nnodes={nnodes}"]
    if launch.get("rdzv_endpoint"):
        cmd += ["--rdzv-backend=c10d", f"--rdzv-endpoint={launch['rdzv_endpoint']}", f"--rdzv-id={name}"]
    else:
        cmd += ["--standalone"]
    return [*cmd, "-m", "gan_core.jobs", *tail]


def _start(run: RunDir, st: dict[str, Any], busy_gpus: set[int], launched_by: str) -> None:
    launch = st.get("launch") or {}
    resume = bool(st.get("resume"))
    try:
        cfg = run.config()
        gpus = _free_gpus(_slots(st), busy_gpus, cfg)
        cmd = _command(run.name, launch, resume)
        # Clear the last launch's process fields first: the child writes its own soon after.
        run.write_status(pid=None, pid_start=None, error=None, traceback=None, ended=None, killed=None, note=None,
                         stop_requested=None, stop_deadline=None, stop_signalled=None)
        with open(run.log_path, "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True, cwd=launch.get("cwd") or os.getcwd(),
                                    env=_child_env(run, gpus))
    except (OSError, RunError, ValueError) as exc:
        run.write_status(state="failed", error=f"could not start the trainer: {exc}", ended=time.time())
        _note(run, f"failed to start: {exc}")
        return
    _CHILDREN.append(proc)
    busy_gpus.update(gpus or [])
    run.write_status(state="running", launcher_pid=proc.pid, launcher_start=_start_ticks(proc.pid), host=HOST,
                     boot_id=_boot_id(), launched=time.time(), launched_by=launched_by, gpus=gpus, command=cmd,
                     resume=False)
    _note(run, f"{'resumed' if resume else 'started'} as pid {proc.pid} on {HOST}" + (f" (GPU {gpus})" if gpus else "")
          + f": {' '.join(cmd[1:])}")


# ---- the public operations ----------------------------------------------------------------
def launch(cfg: TrainConfig, name: str, *, nproc: int = 1, nnodes: int = 1, rdzv_endpoint: str | None = None,
           root: Path | str | None = None, created_by: str | None = None) -> RunDir:
    """Create run ``name`` for ``cfg``, queue it, and start it now if a slot is free.
    ``created_by`` (gan_core.access's identity) is recorded in status.json with the first state.
    Raises RunError if the name is taken, ConfigError/JobError for impossible settings."""
    max_jobs()  # a bad GAN_MAX_JOBS is refused before any folder is made
    if int(nproc) < 1 or int(nnodes) < 1:
        raise JobError(f"nproc and nnodes must be >= 1, got nproc={nproc}, nnodes={nnodes}")
    world = int(nproc) * int(nnodes)
    if nnodes > 1 and not rdzv_endpoint:
        raise JobError("more than one node needs a rendezvous address (--rdzv-endpoint HOST:PORT)")
    if world > 1 and (cfg.batch_size % world or cfg.batch_size // world < 2):
        raise ConfigError("batch_size", f"{cfg.batch_size} does not split into {world} equal per-process batches of 2 or more")
    run = RunDir.create(name, cfg, _root(root))
    run.write_status(state="queued", queued_at=time.time(), resume=False, created_by=created_by,
                     launch={"nproc": int(nproc), "nnodes": int(nnodes), "rdzv_endpoint": rdzv_endpoint, "cwd": os.getcwd()})
    _note(run, f"queued {name}" + (f" (torchrun: {nnodes} node(s) x {nproc} process(es))" if world > 1 else ""))
    schedule(run.path.parent)
    return run


def resume(name: str, *, root: Path | str | None = None) -> RunDir:
    """Queue a stopped, crashed, failed, diverged or cancelled run to continue from its
    newest good checkpoint (same config, same folder; metrics continue from that step)."""
    run = _open(name, root)
    with _scheduler_lock(run.path.parent):
        state, st = _derive(run)
        if state in (*ACTIVE_STATES, "queued"):
            raise JobError(f"run {name} is {state}; stop it first" if state != "queued" else f"run {name} is already queued")
        if state == "finished":
            raise JobError(f"run {name} finished its budget (step {st.get('step', 0)}); there is nothing to resume")
        run.config()  # a broken config is refused here, not in a background process
        run.stop_path.unlink(missing_ok=True)
        run.write_status(state="queued", queued_at=time.time(), resume=True, previous_state=state, host=HOST)
    ckpt = run.latest_checkpoint()
    _note(run, f"queued to resume from {f'checkpoint step {ckpt.step}' if ckpt else 'the start (no checkpoint)'}")
    schedule(run.path.parent)
    return run


def cancel(name: str, *, root: Path | str | None = None) -> str:
    """Take a queued run off the queue: a fresh run becomes ``cancelled``, a queued resume
    goes back to the state it had. Refuses any other state. Returns the new state."""
    run = _open(name, root)
    with _scheduler_lock(run.path.parent):  # no pass can start it meanwhile
        state, st = _derive(run)
        if state != "queued":
            raise JobError(f"run {name} is {state}, not queued; only a queued run can be cancelled"
                           + (" (use stop)" if state in ACTIVE_STATES else ""))
        new = st.get("previous_state") if st.get("resume") else "cancelled"
        run.write_status(state=new or "cancelled", resume=False, ended=time.time() if not st.get("resume") else st.get("ended"))
    _note(run, "cancelled while queued" + (f"; back to {new}" if st.get("resume") else ""))
    return new or "cancelled"


def stop(name: str, timeout: float = 60, *, wait: bool = False, root: Path | str | None = None) -> str:
    """Ask a running job to stop: it finishes its step, checkpoints, records ``stopped`` and
    exits; after ``timeout`` seconds it is killed. ``wait=False`` returns ``stopping`` at once
    (a thread here, or the next status read anywhere, enforces the timeout); ``wait=True``
    returns the final state. A queued run is cancelled instead."""
    run = _open(name, root)
    state, st = _derive(run)
    if state == "queued":
        return cancel(name, root=run.path.parent)
    if state not in ACTIVE_STATES:
        return state
    if st.get("host") and st["host"] != HOST:
        raise JobError(f"run {name} runs on {st['host']}; stop it there")
    now = time.time()
    deadline = min(float(st.get("stop_deadline") or now + timeout), now + timeout)
    signalled = st.get("pid_start") is not None  # the trainer has its handler: safe to signal
    st = run.write_status(state="stopping", stop_requested=st.get("stop_requested") or now, stop_deadline=deadline,
                          stop_signalled=now if signalled else None)
    run.stop_path.touch()
    if signalled:
        _signal(st.get("pid"), signal.SIGTERM)
    _note(run, f"stop requested (killed if still running in {deadline - now:.0f} s)")
    if wait:
        return _wait_stopped(run, deadline)
    threading.Thread(target=_wait_stopped, args=(run, deadline), daemon=True, name=f"stop-{name}").start()
    return "stopping"


def _wait_stopped(run: RunDir, deadline: float) -> str:
    """Until the run has recorded its end and its processes have exited (or were killed)."""
    while True:
        state, st = _derive(run)
        if state not in ACTIVE_STATES:
            while _job_alive(st) and time.time() < deadline:  # it is running its last scheduler pass
                time.sleep(0.1)
                _reap()
            if _job_alive(st):
                _kill_job(st)
            _maybe_schedule(run.path.parent)
            return state
        if state == "running":  # a trainer write raced ours and dropped the stop: say it again
            run.write_status(state="stopping", stop_requested=time.time(), stop_deadline=deadline)
            continue
        time.sleep(0.2)


def log_tail(name: str, lines: int = 200, *, root: Path | str | None = None) -> str:
    """The last ``lines`` lines of the run's log."""
    return _tail(_open(name, root).log_path, lines)


def _tail(path: Path, lines: int) -> str:
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


# ---- the trainer child ---------------------------------------------------------------------
def _child_main(argv: list[str]) -> int:
    """``python -m gan_core.jobs _run NAME [--resume]``: train in this process (one rank
    under torchrun), record how it ended, then run a scheduler pass."""
    parser = argparse.ArgumentParser(prog="python -m gan_core.jobs _run")
    parser.add_argument("name")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    run = RunDir.open(args.name)
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    main = rank == 0
    state = "failed"
    try:
        from .train import train  # the slow import, before the last look for an early stop

        if main:
            run.write_status(state="running", pid=os.getpid(), pid_start=_start_ticks(os.getpid()), host=HOST,
                             boot_id=_boot_id(), world_size=world)
        if world == 1 and (_early_stop() or run.stop_path.exists()):
            run.stop_path.unlink(missing_ok=True)
            ckpt = run.latest_checkpoint()
            run.write_status(state="stopped", ended=time.time(), note="stopped before training began",
                             checkpoint_step=ckpt.step if ckpt else None)
            print("stopped before training began", flush=True)
            state = "stopped"
        else:
            if args.resume and main and run.latest_checkpoint() is None:
                run.truncate_metrics_after(0)  # starting over: the old records would repeat steps
            state = train(run, resume=args.resume)
    except BaseException as exc:  # noqa: BLE001 - whatever happens, the folder says how it ended
        state = "failed"
        if main and run.read_status().get("state") not in FINAL_STATES:
            tb = traceback.format_exc()
            run.write_status(state="failed", error=f"{type(exc).__name__}: {exc}", traceback=tb[-4000:], ended=time.time())
            print(f"failed: {type(exc).__name__}: {exc}\n{tb}", flush=True)
    finally:
        if main:
            run.stop_path.unlink(missing_ok=True)  # honoured (or moot): a later start must not see it
            _release_gpu_memory()  # the next job may start on this GPU before this process has exited
            try:
                schedule(run.path.parent)
            except Exception as exc:  # noqa: BLE001 - the queue moves on at the next pass anyway
                print(f"scheduler pass failed: {type(exc).__name__}: {exc}", flush=True)
    return 0 if state in ("finished", "stopped") else 1


def _release_gpu_memory() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        import gc

        gc.collect()
        torch.cuda.empty_cache()


def _early_stop() -> bool:
    return bool(globals().get("_EARLY_STOP", [False])[0])


# ---- CLI ---------------------------------------------------------------------------------
def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def cli_launch(argv: list[str]) -> int:
    from .cli import add_train_arguments, config_from_args

    parser = argparse.ArgumentParser(prog="python -m gan_core launch",
                                     description="Start training as a background job; prints the run name and returns.")
    add_train_arguments(parser)
    parser.add_argument("--nproc", type=int, default=1, help="processes per node (torchrun + DistributedDataParallel)")
    parser.add_argument("--nnodes", type=int, default=1, help="machines (each runs the same torchrun command)")
    parser.add_argument("--rdzv-endpoint", help="rendezvous HOST:PORT for --nnodes > 1")
    args = parser.parse_args(argv)
    try:
        cfg, name = config_from_args(args)
        run = launch(cfg, name, nproc=args.nproc, nnodes=args.nnodes, rdzv_endpoint=args.rdzv_endpoint,
                     created_by=f"cli:{_os_user()}")
        state = _derive(run)[0]
    except (ConfigError, RunError) as exc:
        return _fail(str(exc))
    print(f"{state}: follow with `python -m gan_core logs {run.name} --follow`", file=sys.stderr)
    if args.nnodes > 1:
        cmd = _command(run.name, {"nproc": args.nproc, "nnodes": args.nnodes, "rdzv_endpoint": args.rdzv_endpoint}, False)
        print("on each other node (same GAN_CHECKPOINTS folder, shared):\n  GAN_CHECKPOINTS="
              f"{run.path.parent} {' '.join(cmd)}", file=sys.stderr)
    print(run.name, flush=True)
    return 0


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _duration(seconds: Any) -> str:
    if seconds is None:
        return "-"
    s = int(float(seconds))
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"


def cli_status(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core status", description="State, step, images/s and last losses of a run.")
    parser.add_argument("name")
    parser.add_argument("--json", action="store_true", help="one machine-readable JSON object")
    args = parser.parse_args(argv)
    try:
        s = status(args.name)
    except RunError as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(s, default=str))
        return 0
    last = s["last"]
    rows = [("run", s["name"]), ("state", s["state"] + (f" (#{s['queue_position']} in queue)" if "queue_position" in s else "")),
            ("step", f"{s['step']}" + (f" / {s['total_steps']}" if s.get("total_steps") else "")),
            ("images/s", f"{s['images_per_s']:.0f}" if s.get("images_per_s") is not None else "-"),
            ("ETA", _duration(s.get("eta_s")) if s["state"] in ACTIVE_STATES else "-"),
            ("losses", f"D {last['loss_d']:.4f}  G {last['loss_g']:.4f}" if "loss_d" in last and "loss_g" in last else "-"),
            ("checkpoint", f"step {s['checkpoint_step']}" if s.get("checkpoint_step") is not None else "-"),
            ("pid", f"{s['pid']} on {s.get('host', '?')}" if s.get("pid") else "-")]
    if s.get("note"):
        rows.append(("note", s["note"]))
    if s.get("error"):
        rows.append(("error", s["error"]))
    for key, value in rows:
        print(f"{key:<11}{value}")
    if s.get("traceback") and s["state"] == "failed":
        print("traceback (tail):\n" + "\n".join(s["traceback"].rstrip().splitlines()[-8:]))
    return 0


def cli_stop(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core stop", description="Stop a job gracefully (checkpoint, then exit).")
    parser.add_argument("name")
    parser.add_argument("--timeout", type=float, default=60, help="seconds before the job is killed (default 60)")
    parser.add_argument("--no-wait", action="store_true", help="return at once instead of waiting for the final state")
    args = parser.parse_args(argv)
    try:
        state = stop(args.name, args.timeout, wait=not args.no_wait)
        s = status(args.name)
    except RunError as exc:
        return _fail(str(exc))
    print(f"{args.name}: {state} at step {s['step']}" + (f" ({s['note']})" if s.get("note") else ""))
    return 0


def cli_resume(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core resume", description="Resume a run in the background.")
    parser.add_argument("name")
    args = parser.parse_args(argv)
    try:
        run = resume(args.name)
        state = _derive(run)[0]
    except RunError as exc:
        return _fail(str(exc))
    print(f"{args.name}: {state}")
    return 0


def cli_cancel(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core cancel", description="Cancel a queued job.")
    parser.add_argument("name")
    args = parser.parse_args(argv)
    try:
        state = cancel(args.name)
    except RunError as exc:
        return _fail(str(exc))
    print(f"{args.name}: {state}")
    return 0


def cli_logs(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core logs", description="Print a run's log.")
    parser.add_argument("name")
    parser.add_argument("--lines", "-n", type=int, default=200, help="lines from the end (default 200)")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing until the run ends")
    args = parser.parse_args(argv)
    try:
        run = _open(args.name, None)
    except RunError as exc:
        return _fail(str(exc))
    sys.stdout.write(_tail(run.log_path, args.lines))
    sys.stdout.flush()
    if not args.follow:
        return 0
    pos = run.log_path.stat().st_size if run.log_path.exists() else 0
    try:
        while True:
            done = run_state(run) not in ("queued", *ACTIVE_STATES)
            if run.log_path.exists():
                with open(run.log_path, "rb") as f:
                    f.seek(pos)
                    data = f.read()
                pos += len(data)
                sys.stdout.write(data.decode("utf-8", "replace"))
                sys.stdout.flush()
            if done:
                return 0
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0


def cli_scheduler(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core scheduler",
                                     description="Start queued jobs while slots are free (one pass, or --watch to loop).")
    parser.add_argument("--watch", action="store_true", help="keep running passes")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between passes with --watch")
    args = parser.parse_args(argv)
    try:
        while True:
            for name in schedule():
                print(f"started {name}", flush=True)
            if not args.watch:
                return 0
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0
    except RunError as exc:
        return _fail(str(exc))


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "_run":
        sys.exit(_child_main(sys.argv[2:]))
    print("usage: python -m gan_core.jobs _run NAME [--resume]  (internal; use `python -m gan_core launch`)", file=sys.stderr)
    sys.exit(2)
