"""gan_core.jobs with real processes: launch, stop, resume, crash, queue, DDP, failure, CLI.

No mock of the process layer: every job is a real trainer process in its own session. A
fixture kills whatever a test leaves running, so no trainer outlives the test."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import run_env
from gan_core.jobs import manager as jobs
from gan_core.jobs import processes
from gan_core.config import ConfigError, TrainConfig
from gan_core.runs.rundir import RunDir, RunError

ACTIVE = ("queued", "running", "stopping")


def tiny_cfg(**overrides) -> TrainConfig:
    values = dict(data="shapes", resolution=16, width=8, z_dim=16, batch_size=16, steps=20,
                  log_every=5, sample_every=1000, checkpoint_every=1000, threads=1, device="cpu")
    return TrainConfig.from_dict({**values, **overrides})


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def steps(run: RunDir) -> list[int]:
    return [r["step"] for r in run.read_metrics()]


def raw_state(run: RunDir) -> str:
    """status.json as written, with no scheduler pass or crash detection (no 'app' involved)."""
    return run.read_status().get("state", "")


def wait_final(run: RunDir, timeout: float) -> str:
    return wait_for(lambda: (s := jobs.run_state(run)) not in ACTIVE and s, timeout, f"{run.name} to end")


def proc_start(pid: int) -> int | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return None if fields[0] in "ZX" else int(fields[19])


def gone(pid: int) -> bool:
    return proc_start(pid) is None


def wait_gone(pid: int, timeout: float = 30) -> None:
    wait_for(lambda: (processes.reap(), gone(pid))[1], timeout, f"process {pid} to exit")


@pytest.fixture(autouse=True)
def reap_jobs(studio_dirs, monkeypatch):
    """Kill every process a test's jobs left alive (the job's session, torchrun's workers)."""
    monkeypatch.setenv("GAN_MAX_JOBS", "4")
    yield
    root = studio_dirs[0]
    for status_path in root.glob("*/status.json"):
        status = json.loads(status_path.read_text())
        for pid_key, start_key in (("launcher_pid", "launcher_start"), ("pid", "pid_start")):
            pid, start = status.get(pid_key), status.get(start_key)
            if not pid or proc_start(pid) is None or (start is not None and proc_start(pid) != start):
                continue
            for child in _descendants(pid):
                _kill(child)
            if pid_key == "launcher_pid":
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
            _kill(pid)
    processes.reap()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def _descendants(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "stat").read_text()
            except OSError:
                continue
            if int(raw[raw.rindex(")") + 2:].split()[1]) == pid:
                kids += [int(entry.name), *_descendants(int(entry.name))]
    return kids


# ---- launch -> stop -> resume ------------------------------------------------------------
def test_launch_stop_checkpoints_and_resume_continues():
    run = jobs.launch(tiny_cfg(minutes=5), "stopme")
    assert jobs.status("stopme")["state"] == "running"
    wait_for(lambda: len(steps(run)) >= 2, 60, "metrics to appear")
    seen = len(steps(run))
    wait_for(lambda: len(steps(run)) > seen, 30, "metrics to keep growing")

    assert jobs.stop("stopme", timeout=60, wait=True) == "stopped"
    s = jobs.status("stopme")
    last = steps(run)[-1]
    assert s["state"] == "stopped" and s["step"] == last and not s.get("killed")
    assert run.latest_checkpoint().step == last  # checkpoint_every=1000: this one is the stop's
    assert not run.stop_path.exists() and gone(s["pid"])

    jobs.resume("stopme")
    assert jobs.run_state(run) in ("queued", "running")
    with pytest.raises(RunError, match="stop it first|already queued"):
        jobs.resume("stopme")
    wait_for(lambda: steps(run)[-1] > last + 5, 60, "the resumed run to train past the stop")
    assert f"resumed stopme at step {last}" in jobs.log_tail("stopme", 400)
    got = steps(run)
    assert got == sorted(set(got)), "steps repeat or go back after resume"
    assert jobs.stop("stopme", timeout=60, wait=True) == "stopped"
    assert run.latest_checkpoint().step == steps(run)[-1] > last


# ---- SIGKILL -> crashed -> resume ---------------------------------------------------------
def test_sigkill_is_crashed_with_last_step_and_resume_loses_at_most_one_interval():
    every = 20
    run = jobs.launch(tiny_cfg(minutes=5, checkpoint_every=every), "killme")
    wait_for(lambda: (c := run.latest_checkpoint()) and c.step >= every and steps(run)[-1] >= every + 10, 60,
             "a checkpoint and some steps past it")
    pid = run.read_status()["launcher_pid"]
    os.kill(pid, signal.SIGKILL)
    wait_gone(pid, 10)
    killed_at = steps(run)[-1]

    s = jobs.status("killme")
    assert s["state"] == "crashed" and raw_state(run) == "crashed"  # derived, then persisted
    assert s["step"] == killed_at and "vanished" in s["error"] and s["ended"]
    ckpt = run.latest_checkpoint().step
    assert killed_at - ckpt <= every

    jobs.resume("killme")
    wait_for(lambda: steps(run)[-1] > killed_at, 60, "the resumed run to pass the crash")
    assert f"resumed killme at step {ckpt}" in jobs.log_tail("killme", 400)
    got = steps(run)
    assert got == sorted(set(got))  # records past the checkpoint were dropped, not repeated
    assert jobs.stop("killme", wait=True) == "stopped"


def test_a_crash_in_native_code_is_named_with_its_python_stack_in_the_log():
    """SIGFPE is how oneDNN's bf16 kernels once killed a StyleGAN2 trainer (BENCHMARKS.md): the
    status must say so, and log.txt must hold where in Python it happened, not only "vanished"."""
    run = jobs.launch(tiny_cfg(minutes=5), "fpe")
    wait_for(lambda: run.read_status().get("pid") and steps(run) and steps(run)[-1] >= 10, 60, "some steps")
    pid = run.read_status()["pid"]
    os.kill(pid, signal.SIGFPE)
    wait_gone(pid, 10)
    s = jobs.status("fpe")
    assert s["state"] == "crashed" and "Floating point exception" in s["error"] and "native code" in s["error"]
    log = jobs.log_tail("fpe", 400)
    assert "Fatal Python error: Floating point exception" in log and "gan_core/training" in log


def test_a_reused_pid_is_not_the_trainer(tmp_path):
    run = RunDir.create("ghost", tiny_cfg())
    me = os.getpid()
    run.write_status(state="running", launcher_pid=me, launcher_start=proc_start(me) + 1, pid=me,
                     pid_start=proc_start(me) + 1, host=processes.HOST)
    assert jobs.run_state(run) == "crashed"  # a live process, but not the one that was recorded
    run.write_status(state="running", host="some-other-machine")
    assert jobs.run_state(run) == "running"  # another machine's job is not judged from here
    with pytest.raises(RunError, match="runs on some-other-machine"):
        jobs.stop("ghost")


# ---- outliving the launcher, and the CLI --------------------------------------------------
def test_job_outlives_the_launching_process_and_cli(python_exe, tiny, capsys):
    from gan_core.cli.main import main

    def cli(*args):  # in this process: the CLI functions, without paying torch's import each time
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    launched = subprocess.run([python_exe, "-m", "gan_core", "launch", *tiny(minutes=5, checkpoint_every=1000),
                               "--name", "cli-run"], capture_output=True, text=True, env=run_env(), timeout=120)
    assert launched.returncode == 0, launched.stderr
    assert launched.stdout.splitlines()[-1] == "cli-run"
    run = RunDir.open("cli-run")
    assert run.read_status()["created_by"].startswith("cli:")  # the CLI is the operator (gan_core.access)
    pid = run.read_status()["launcher_pid"]
    # The launching Python process has exited; the job goes on training.
    wait_for(lambda: len(steps(run)) >= 2, 60, "metrics from the orphaned job")
    seen = len(steps(run))
    wait_for(lambda: len(steps(run)) > seen, 30, "metrics to keep growing")
    assert not gone(pid)

    code, out, _ = cli("status", "cli-run", "--json")
    s = json.loads(out)
    assert code == 0 and s["state"] == "running" and s["pid"] == pid and s["step"] >= 5 and s["images_per_s"] > 0
    assert {"loss_d", "loss_g"} <= set(s["last"])
    code, out, _ = cli("status", "cli-run")
    assert "running" in out and "images/s" in out and str(pid) in out
    assert "training cli-run" in cli("logs", "cli-run", "--lines", "100000")[1]
    assert cli("logs", "cli-run", "--lines", "3")[1].count("\n") == 3

    code, _, err = cli("launch", *tiny(), "--name", "cli-run")
    assert code == 2 and "already exists" in err
    code, _, err = cli("cancel", "cli-run")
    assert code == 2 and "not queued" in err

    stopped = subprocess.run([python_exe, "-m", "gan_core", "stop", "cli-run"], capture_output=True, text=True,
                             env=run_env(), timeout=120)
    assert stopped.returncode == 0 and "stopped at step" in stopped.stdout and gone(pid)
    code, out, _ = cli("logs", "cli-run", "--follow")  # returns: the run has ended
    assert code == 0 and "stopped at step" in out


# ---- the queue ----------------------------------------------------------------------------
def test_queue_with_limit_one_starts_the_next_when_the_first_ends(monkeypatch):
    monkeypatch.setenv("GAN_MAX_JOBS", "1")
    first = jobs.launch(tiny_cfg(steps=40), "first")
    second = jobs.launch(tiny_cfg(steps=10), "second")
    third = jobs.launch(tiny_cfg(steps=10), "third")
    assert raw_state(first) == "running"
    assert raw_state(second) == "queued" and raw_state(third) == "queued"
    assert jobs.status("second")["queue_position"] == 1 and jobs.status("third")["queue_position"] == 2
    assert jobs.cancel("third") == "cancelled"
    with pytest.raises(RunError, match="not queued"):
        jobs.cancel("first")

    # From here on only status.json is read: no pass from this process, as if no app were open.
    wait_for(lambda: raw_state(second) == "finished", 120, "the queued run to start and finish")
    a, b = first.read_status(), second.read_status()
    assert a["state"] == "finished" and b["launched"] >= a["ended"]
    assert b["launched_by"] == "first"  # the first trainer's own end-of-run pass started it
    assert raw_state(third) == "cancelled" and not third.metrics_path.exists()
    assert steps(second)[-1] == 10


# ---- a failing run ------------------------------------------------------------------------
def test_a_run_whose_data_vanished_ends_failed_with_the_error(tmp_path):
    from PIL import Image

    folder = tmp_path / "my-images"
    folder.mkdir()
    for i in range(4):
        Image.new("RGB", (16, 16), (i * 60, 0, 0)).save(folder / f"{i}.png")
    cfg = tiny_cfg(data=str(folder))
    run = jobs.launch(cfg, "doomed")
    for p in folder.iterdir():  # the data set vanishes between the launch and the start (the
        p.unlink()              # child is still importing torch)
    folder.rmdir()
    assert wait_final(run, 60) == "failed"
    s = jobs.status("doomed")
    assert "my-images" in s["error"] and "DatasetError" in s["error"]
    assert "Traceback" in s["traceback"]
    wait_gone(s["pid"])  # and the process ended: nothing is left "running" forever
    with pytest.raises(ConfigError, match="unknown data set"):  # gone before the launch: no run at all
        jobs.launch(cfg, "doomed-too")
    assert not (Path(os.environ["GAN_CHECKPOINTS"]) / "doomed-too").exists()


# ---- DistributedDataParallel -------------------------------------------------------------
def _has_torchrun_and_gloo() -> bool:
    import importlib.util

    import torch.distributed as td

    return importlib.util.find_spec("torch.distributed.run") is not None and td.is_available() and td.is_gloo_available()


needs_torchrun = pytest.mark.skipif(not _has_torchrun_and_gloo(), reason="torchrun / gloo not available in this torch build")


@needs_torchrun
def test_ddp_two_cpu_processes_share_one_run_folder():
    from gan_core.inference.generators import generate, load_generator

    run = jobs.launch(tiny_cfg(steps=10, log_every=5, sample_every=5, checkpoint_every=10), "ddp", nproc=2)
    assert raw_state(run) == "running"
    state = wait_final(run, 150)
    s = jobs.status("ddp")
    assert state == "finished", (s.get("error"), jobs.log_tail("ddp", 60))
    assert s["world_size"] == 2 and s["step"] == 10
    assert steps(run) == [5, 10]  # rank 0 alone writes metrics: once per log step
    assert [c.step for c in run.checkpoints()] == [10]
    assert [step for step, _ in run.sample_grids()] == [0, 5, 10]
    images = generate(load_generator("ddp"), seeds=[0, 1, 2])
    assert images.shape == (3, 1, 16, 16) and torch.isfinite(images).all()
    assert "Traceback" not in jobs.log_tail("ddp", 500)


@needs_torchrun
def test_ddp_stylegan2_with_ada_lazy_r1_and_in_run_eval():
    """StyleGAN2 under DDP failed its first G step: the lazy R1 phase gave D's output bias no
    gradient, and DDP wants every parameter in each backward. And any DDP run hung at its first
    in-run eval: torchmetrics gathered across ranks while only rank 0 evaluates."""
    from gan_core.config.presets import STYLEGAN2

    cfg = tiny_cfg(**{**STYLEGAN2, "resolution": 16, "width": 16, "z_dim": 16, "batch_size": 8, "steps": 8,
                      "r1_every": 2, "ada_kimg": 0.064, "eval_every": 4, "eval_samples": 64, "checkpoint_every": 8,
                      "data": "shapes"})
    run = jobs.launch(cfg, "ddp-sg2", nproc=2)
    state = wait_final(run, 150)
    assert state == "finished", (jobs.status("ddp-sg2").get("error"), jobs.log_tail("ddp-sg2", 60))
    assert run.latest_checkpoint().step == 8 and "Traceback" not in jobs.log_tail("ddp-sg2", 500)
    assert [r["step"] for r in run.read_metrics() if r.get("kind") == "eval"] == [4, 8]


@needs_torchrun
def test_ada_p_is_one_value_across_ranks(tmp_path, monkeypatch):
    """Each rank sees its own reals; p must move by the signs of all of them, the same on every rank."""
    import types

    import torch.multiprocessing as mp

    # A spawned child first re-runs the parent's __main__ from its file; after an AppTest that is
    # the page it ran last (pages/4_Monitor.py failed there with no runs): give it none to run.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    mp.spawn(_ada_rank, args=(str(tmp_path),), nprocs=2, join=True)
    p0, p1 = (float((tmp_path / f"p{rank}").read_text()) for rank in (0, 1))
    assert p0 == p1 == pytest.approx(0.128)


def _ada_rank(rank: int, folder: str) -> None:
    import torch.distributed as td

    from gan_core.runtypes.ada import AdaController

    td.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=2)
    ada = AdaController(torch.device("cpu"), target=0.6, ada_kimg=1.0, interval=1)
    ada.observe(torch.ones(32) if rank == 0 else torch.tensor([1.0] * 12 + [-1.0] * 20))
    ada.observe(torch.ones(32))  # alone, r_t is 1.0 on rank 0 (p up) and 0.375 on rank 1 (p stays 0);
    ada.maybe_update(1)  # together (64 + 24) / 128 = 0.69 > 0.6: p up by 128 / 1000 on both
    (Path(folder) / f"p{rank}").write_text(repr(float(ada.p)))
    td.destroy_process_group()


def test_launch_refuses_impossible_settings():
    with pytest.raises(RunError, match="rendezvous"):
        jobs.launch(tiny_cfg(), "x", nnodes=2)
    with pytest.raises(ValueError, match="batch_size"):
        jobs.launch(tiny_cfg(batch_size=18), "x", nproc=4)
    assert not (Path(os.environ["GAN_CHECKPOINTS"]) / "x").exists()


def test_jobs_module_does_not_import_streamlit():
    code = "import sys, gan_core.jobs; assert 'streamlit' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], env=run_env()).returncode == 0
