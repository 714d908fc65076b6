"""The queue: no daemon; every launch, resume and status read runs a pass, under an exclusive
``flock`` on ``<root>/.scheduler.lock`` so two passes never start one job twice."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from gan_core.config import TrainConfig
from gan_core.jobs.processes import CHILDREN, HOST, boot_id, reap, start_ticks
from gan_core.jobs.state import derive, note, runs_root
from gan_core.runs.rundir import RunDir, RunError, list_runs
from gan_core.runs.states import RunState

LOCK_NAME = ".scheduler.lock"
# The trainer runs in the studio's own folder with PYTHONSAFEPATH set: neither its working
# directory nor its import path comes from a file in the run folder, which others may write.
STUDIO_DIR = Path(__file__).resolve().parents[2]
_TORCHRUN_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE",
                 "ROLE_RANK", "ROLE_NAME", "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class JobError(RunError):
    """A job operation that is not possible now (e.g. resuming a running run); the message says why."""


def max_jobs() -> int:
    """``GAN_MAX_JOBS``, else one per device: the GPU count on CUDA, 1 on CPU."""
    value = os.environ.get("GAN_MAX_JOBS", "").strip()
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise JobError(f"GAN_MAX_JOBS must be a whole number >= 1, got {value!r}") from None
    return max(1, gpu_count())


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def scheduler_lock(root: Path) -> contextlib.AbstractContextManager[None]:
    return file_lock(root / LOCK_NAME)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (made, with its folder, if missing) for the block.
    Not re-entrant: a second ``file_lock`` on the same path in one process waits forever."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            import fcntl
        except ImportError:  # no flock (Windows): nothing is serialised
            yield
            return
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def queue_key(status: dict[str, Any], run: RunDir) -> tuple[float, str]:
    return float(status.get("queued_at") or status.get("created") or 0), run.name


def queued_runs(root: Path) -> list[tuple[RunDir, dict[str, Any]]]:
    found = [(r, r.read_status()) for r in list_runs(root)]
    found = [(r, s) for r, s in found if s.get("state") == "queued" and s.get("host", HOST) == HOST]
    return sorted(found, key=lambda rs: queue_key(rs[1], rs[0]))


def slots(status: dict[str, Any]) -> int:
    return max(1, int((status.get("launch") or {}).get("nproc") or 1))


_last_pass: dict[Path, float] = {}


def maybe_schedule(root: Path) -> None:
    """A pass on reads, at most once a second per process (a listing reads every run)."""
    root = runs_root(root)
    if time.monotonic() - _last_pass.get(root, -1e9) >= 1.0:
        schedule(root)


def schedule(root: Path | str | None = None) -> list[str]:
    """One scheduler pass: start queued runs, oldest first, while the running ones leave
    slots free. Returns the names it started."""
    root = runs_root(root)
    _last_pass[root] = time.monotonic()
    reap()
    if not root.is_dir():
        return []
    started: list[str] = []
    with scheduler_lock(root):
        used, busy_gpus = 0, set()
        for run in list_runs(root):
            state, st = derive(run)
            if RunState.is_live(state) and st.get("host", HOST) == HOST:
                used += slots(st)
                busy_gpus.update(st.get("gpus") or [])
        limit = max_jobs()
        for run, st in queued_runs(root):
            need = slots(st)
            if used and used + need > limit:
                break  # strictly in order: nothing overtakes the head of the queue
            _start(run, st, busy_gpus, launched_by=os.environ.get("GAN_JOB_NAME") or f"pid {os.getpid()}")
            used += need
            started.append(run.name)
    return started


def _free_gpus(need: int, busy: set[int], cfg: TrainConfig) -> list[int] | None:
    """On a multi-GPU machine, pin each job to its own GPUs (unless the user pinned already)."""
    count = gpu_count()
    if count < 2 or cfg.device in ("cpu", "mps") or "CUDA_VISIBLE_DEVICES" in os.environ:
        return None
    free = [i for i in range(count) if i not in busy]
    return free[:need] if len(free) >= need else None


def _child_env(run: RunDir, gpus: list[int] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _TORCHRUN_ENV and not k.startswith("TORCHELASTIC_")}
    env["PYTHONPATH"] = os.pathsep.join([str(STUDIO_DIR), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONSAFEPATH"] = "1"  # `-m` would otherwise put the working directory first on sys.path
    env["GAN_CHECKPOINTS"] = str(run.path.parent)
    env["GAN_DATA"] = str(Path(os.environ.get("GAN_DATA") or "data").resolve())
    env["GAN_STUDIO_STDOUT_IS_LOG"] = "1"
    env["GAN_JOB_NAME"] = run.name
    env["PYTHONUNBUFFERED"] = "1"
    if gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))
    return env


def child_command(name: str, launch: dict[str, Any], resume: bool) -> list[str]:
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
    if run.trainer_alive():  # a trainer already owns the folder: a second one would write over it
        run.write_status(state="running", resume=False)
        note(run, "not started: a live trainer already holds this run's lock")
        return
    try:
        cfg = run.config()
        gpus = _free_gpus(slots(st), busy_gpus, cfg)
        cmd = child_command(run.name, launch, resume)
        # Clear the last launch's process fields first: the child writes its own soon after.
        run.write_status(pid=None, pid_start=None, error=None, traceback=None, ended=None, killed=None, note=None,
                         stop_requested=None, stop_deadline=None, stop_signalled=None)
        with open(run.log_path, "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True, cwd=STUDIO_DIR,
                                    env=_child_env(run, gpus))
    except (OSError, RunError, ValueError) as exc:
        run.write_status(state="failed", error=f"could not start the trainer: {exc}", ended=time.time())
        note(run, f"failed to start: {exc}")
        return
    CHILDREN.append(proc)
    busy_gpus.update(gpus or [])
    run.write_status(state="running", launcher_pid=proc.pid, launcher_start=start_ticks(proc.pid), host=HOST,
                     boot_id=boot_id(), launched=time.time(), launched_by=launched_by, gpus=gpus, command=cmd,
                     resume=False)
    note(run, f"{'resumed' if resume else 'started'} as pid {proc.pid} on {HOST}" + (f" (GPU {gpus})" if gpus else "")
          + f": {' '.join(cmd[1:])}")
