"""One authority for a run's state, with real processes: the trainer's lock is the liveness
test, status.json changes under a lock, and concurrent resumes start exactly one trainer."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_env

from gan_core.config import TrainConfig
from gan_core.jobs import manager as jobs
from gan_core.jobs import processes
from gan_core.jobs.scheduler import JobError
from gan_core.runs.locks import TrainerBusy, acquire_trainer_lock, release_trainer_lock
from gan_core.runs.rundir import RunDir


def tiny_cfg(steps: int = 20) -> TrainConfig:
    return TrainConfig.from_dict({"data": "shapes", "resolution": 16, "width": 8, "z_dim": 16, "batch_size": 16, "steps": steps,
                                  "log_every": 5, "sample_every": 1000, "checkpoint_every": 1000, "threads": 1, "device": "cpu"})


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def crashed_run(root: Path, name: str, steps: int = 20) -> RunDir:
    """A run whose status says running, but whose recorded trainer has exited."""
    run = RunDir.create(name, tiny_cfg(steps), root)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    start = processes.start_ticks(dead.pid)
    dead.wait()
    run.write_status(state="running", pid=dead.pid, pid_start=start, host=processes.HOST, boot_id=processes.boot_id(),
                     launch={"nproc": 1, "nnodes": 1, "rdzv_endpoint": None, "cwd": str(root)})
    return run


@pytest.fixture(autouse=True)
def kill_leftovers(studio_dirs):
    yield
    for status_path in studio_dirs[0].glob("*/status.json"):
        status = json.loads(status_path.read_text())
        processes.kill_job(status)


def test_twenty_concurrent_resumes_start_one_trainer(studio_dirs, tmp_path):
    """18 threads calling jobs.resume and 2 `python -m gan_core resume` processes, released
    together on a crashed run: one resume wins, one trainer process runs, the rest are refused.
    The run's recorded cwd points at a folder with a planted `gan_core` package: never used."""
    root = studio_dirs[0]
    run = crashed_run(root, "race", steps=10_000_000)  # still training when checked; the fixture kills it
    planted = tmp_path / "planted"
    (planted / "gan_core" / "jobs").mkdir(parents=True)
    marker = tmp_path / "planted-code-ran"
    for init in (planted / "gan_core" / "__init__.py", planted / "gan_core" / "jobs" / "__init__.py"):
        init.write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    run.write_status(launch={"nproc": 1, "nnodes": 1, "rdzv_endpoint": None, "cwd": str(planted)})
    go = tmp_path / "go"
    script = textwrap.dedent(f"""
        import os, sys, time
        from gan_core.cli.main import main
        while not os.path.exists({str(go)!r}):
            time.sleep(0.005)
        sys.exit(main(["resume", "race"]))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], env=run_env(), cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(1.0)  # let the processes import; the threads then wait on the same file
    barrier = threading.Barrier(18)
    results: list[str] = []

    def attempt():
        barrier.wait()
        try:
            jobs.resume("race", root=root)
            results.append("queued")
        except JobError as exc:
            results.append(f"refused: {exc}")

    threads = [threading.Thread(target=attempt) for _ in range(18)]
    for t in threads:
        t.start()
    go.touch()
    for t in threads:
        t.join(60)
    outs = [p.communicate(timeout=180) for p in procs]
    cli_ok = [p.returncode == 0 for p in procs]
    wins = results.count("queued") + sum(cli_ok)
    assert wins == 1, (results, outs)
    assert all("already" in r or "is running" in r or "is queued" in r for r in results if r != "queued"), results
    assert all(ok or "error:" in err for ok, (_, err) in zip(cli_ok, outs)), outs
    log = run.log_path.read_text()
    assert log.count("resumed as pid") == 1, log
    wait_for(run.trainer_alive, 120, "the trainer to take the run's lock")
    assert len(trainer_processes("race")) == 1
    assert not marker.exists()  # the planted package in the recorded cwd was never imported
    time.sleep(0.5)
    assert "not training:" not in run.log_path.read_text()


def trainer_processes(name: str) -> list[int]:
    """Live processes whose command line is the trainer child of run ``name``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"gan_core.jobs" in argv and b"_run" in argv and name.encode() in argv and processes.alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def test_the_lock_not_the_pid_says_alive(studio_dirs):
    """The recorded pid is dead, but a process holds the run's trainer lock: the run is not
    crashed and cannot be resumed; once that process is gone, it is crashed."""
    root = studio_dirs[0]
    run = crashed_run(root, "held")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from gan_core.runs.locks import acquire_trainer_lock
        acquire_trainer_lock({str(run.path)!r})
        print("held", flush=True)
        time.sleep(120)
    """)], env=run_env(), cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert run.trainer_alive()
        assert jobs.status("held", root=root)["state"] == "running"
        with pytest.raises(JobError, match="is running"):
            jobs.resume("held", root=root)
        with pytest.raises(TrainerBusy):
            acquire_trainer_lock(run.path)
    finally:
        holder.kill()
        holder.wait()
    assert not run.trainer_alive()
    assert jobs.status("held", root=root)["state"] == "crashed"
    fd = acquire_trainer_lock(run.path)  # free again: a new trainer may take it
    release_trainer_lock(fd)


def test_a_second_trainer_process_of_one_run_exits(studio_dirs):
    """A second trainer child of a run that is training exits without touching it. (Started
    both at once, a tiny run could finish before the second one had imported torch.)"""
    root = studio_dirs[0]
    run = RunDir.create("twice", tiny_cfg(steps=1_000_000), root)
    env = {**run_env(), "GAN_CHECKPOINTS": str(root)}

    def child():
        return subprocess.Popen([sys.executable, "-m", "gan_core.jobs", "_run", "twice"], env=env, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    first = child()
    try:
        deadline = time.time() + 120
        while not (run.trainer_alive() and run.read_metrics()) and time.time() < deadline:
            time.sleep(0.2)
        assert run.trainer_alive(), "the first trainer never took the run's lock"
        second = child()
        out = second.communicate(timeout=120)[0]
        assert "not training: another process is already training twice" in out, out
        assert first.poll() is None and run.read_status()["state"] == "running"
    finally:
        jobs.stop("twice", timeout=60, wait=True, root=root)
        first.communicate(timeout=60)
    assert run.read_status()["state"] == "stopped"
    assert [r["step"] for r in run.read_metrics()] == sorted({r["step"] for r in run.read_metrics()})  # one writer


def test_signals_go_only_to_a_process_whose_start_time_matches():
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        start = processes.start_ticks(sleeper.pid)
        assert not processes.signal_trainer({"pid": sleeper.pid, "pid_start": start + 1}, signal.SIGKILL)
        assert not processes.signal_trainer({"pid": sleeper.pid}, signal.SIGKILL)  # nothing recorded to match
        time.sleep(0.2)
        assert sleeper.poll() is None
        assert processes.signal_trainer({"pid": sleeper.pid, "pid_start": start}, signal.SIGKILL)
        assert sleeper.wait(10) == -signal.SIGKILL
    finally:
        if sleeper.poll() is None:
            os.kill(sleeper.pid, signal.SIGKILL)
            sleeper.wait()


def test_a_trainer_that_ignores_stop_is_killed_at_its_deadline_once(tmp_path):
    """A "stopping" run past its deadline is killed and recorded as stopped, deciding on a fresh
    read under the status lock; a status already changed by someone else is left alone."""
    root = tmp_path / "runs"
    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                                 "signal.SIG_IGN); time.sleep(120)"], start_new_session=True)
    try:
        time.sleep(0.3)
        run = RunDir.create("stubborn", tiny_cfg(), root=root)
        now = time.time()
        run.write_status(state="stopping", pid=stubborn.pid, pid_start=processes.start_ticks(stubborn.pid),
                         stop_requested=now - 60, stop_deadline=now - 1, host=os.uname().nodename)
        state, status = jobs.status("stubborn", root=root)["state"], run.read_status()
        assert state == "stopped" and status["killed"] and "was killed" in status["note"]
        assert stubborn.wait(10) == -signal.SIGKILL

        # someone resumed it meanwhile: a stale "stopping" read must not write over that
        from gan_core.jobs.state import enforce_stop

        run.write_status(state="queued", killed=False, stop_deadline=None)
        stale = dict(run.read_status(), state="stopping", stop_deadline=now - 1)
        assert enforce_stop(run, stale)[0] == "queued" and run.read_status()["state"] == "queued"
    finally:
        if stubborn.poll() is None:
            stubborn.kill()
