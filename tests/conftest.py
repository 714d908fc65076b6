"""Shared test setup: every test gets its own run and data folders; torch uses one thread
(the suite runs on 2 cores, often beside a background trainer)."""
from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import gan_core.training.loop as loop_module

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def studio_dirs(tmp_path, monkeypatch):
    """GAN_CHECKPOINTS and GAN_DATA inside the test's tmp folder."""
    ckpt, data = tmp_path / "checkpoints", tmp_path / "data"
    monkeypatch.setenv("GAN_CHECKPOINTS", str(ckpt))
    monkeypatch.setenv("GAN_DATA", str(data))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    for key in ("GAN_STUDIO_EXPOSE", "GAN_STUDIO_TOKEN", "GAN_STUDIO_TOKEN_HASH", "GAN_STUDIO_OPERATOR_TOKEN",
                "GAN_STUDIO_OPERATOR_TOKEN_HASH", "STREAMLIT_SERVER_ADDRESS"):  # a served studio's shell: pages would ask for sign-in
        monkeypatch.delenv(key, raising=False)
    return ckpt, data


@pytest.fixture
def python_exe() -> str:
    """The interpreter running the tests (the project's venv), for subprocesses."""
    return sys.executable


def tiny_flags(**overrides) -> list[str]:
    """CLI flags for a seconds-long training run on the procedural shapes set."""
    values = dict(data="shapes", resolution=16, width=8, z_dim=16, batch_size=16, steps=20,
                  log_every=5, sample_every=10, checkpoint_every=10, threads=1)
    values.update(overrides)
    flags = []
    for key, value in values.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is False:
            flags.append("--no-" + key.replace("_", "-"))
        else:
            flags += [flag, str(value)]
    return flags


@pytest.fixture
def tiny():
    return tiny_flags


def run_env() -> dict[str, str]:
    """Environment for child processes: the test's folders, one thread, repo importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


def free_port() -> int:
    """A free TCP port on 127.0.0.1 for a server a test starts. Drawn below the kernel's
    ephemeral range (32768-60999 here), not with bind(0): a port from that range, released
    again, can go to any outgoing connection before the server binds it; once in CI Streamlit
    then said "Port ... is not available"."""
    ranges = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low = int(ranges.read_text().split()[0]) if ranges.exists() else 32768
    for _ in range(200 if low > 21000 else 0):  # (an unusual range: bind(0) as before)
        port = random.randrange(20000, low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen, grace_s: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``grace_s``."""
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def train_in_two_parts(run, stop_at: int, monkeypatch) -> None:
    """Train ``run`` until it stops at step ``stop_at``, then resume it to the end: the
    exact-resume tests compare the result with a run trained in one go."""
    real_stop = loop_module._stop_requested
    with monkeypatch.context() as m:
        m.setattr(loop_module, "_stop_requested", lambda t, stop: t.step == stop_at or real_stop(t, stop))
        assert loop_module.train(run) == "stopped" and run.latest_checkpoint().step == stop_at
    assert loop_module.train(run, resume=True) == "finished"
