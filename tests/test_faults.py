"""Issue 7: faults and untrusted files, each with real files and processes.

Archive and image hostility (zip-slip, symlinks, bombs, a 30000x30000 PNG, junk) are in
test_importer.py; killed trainers in test_jobs.py. This file covers checkpoints from
elsewhere, divergence, a full disk, name races and escapes, torn metrics, and the config
parser under random input.
"""
from __future__ import annotations

import json
import os
import pickle
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run_env, tiny_flags
from gan_core.config import ConfigError, TrainConfig, preset_for
from gan_core.runs.rundir import CheckpointError, RunDir, RunError, iter_metrics, load_checkpoint_file
from gan_core.inference.generators import load_generator
from gan_core.training.loop import train


def tiny_config(**overrides) -> TrainConfig:
    values = dict(preset_for("shapes"), resolution=16, width=8, z_dim=16, batch_size=8, steps=20, log_every=2,
                  sample_every=10, checkpoint_every=4, threads=1, eval_every=0)
    values.update(overrides)
    return TrainConfig.from_dict(values)


def trained_run(name: str, **overrides) -> RunDir:
    run = RunDir.create(name, tiny_config(**overrides))
    assert train(run) == "finished"
    return run


# ---- checkpoints from elsewhere --------------------------------------------------------
class _Evil:
    """Unpickling this would create a file: the classic pickle attack."""

    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "colleague.pt"
    with open(evil, "wb") as f:
        pickle.dump({"G.net.0.weight": _Evil(str(marker))}, f)
    result = subprocess.run([sys.executable, "-m", "gan_core", "sample", "--checkpoint", str(evil), "--n", "1", "--out", str(tmp_path / "o")],
                            env=run_env(), capture_output=True, text=True)
    assert result.returncode == 2
    assert "refused" in result.stderr and "Traceback" not in result.stderr
    assert not marker.exists()
    with pytest.raises(CheckpointError):
        load_checkpoint_file(evil)
    assert not marker.exists()


def test_weights_only_pt_file_loads_with_a_run_and_mismatch_names_tensors(tmp_path):
    run = trained_run("src")
    tensors, _ = load_checkpoint_file(run.latest_checkpoint().weights)
    plain = tmp_path / "g.pt"
    prefix = "G_ema." if any(k.startswith("G_ema.") for k in tensors) else "G."
    torch.save({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}, plain)
    loaded = load_generator("src", checkpoint=plain)
    assert loaded.G(torch.zeros(1, 16), torch.zeros(1, dtype=torch.long)).shape == (1, 3, 16, 16)

    other = trained_run("wider", width=12)
    with pytest.raises(CheckpointError, match="does not fit.*shape mismatch"):
        load_generator("src", checkpoint=other.latest_checkpoint().weights)


def test_truncated_checkpoint_says_so(tmp_path):
    run = trained_run("t")
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(run.latest_checkpoint().weights.read_bytes()[:500])
    with pytest.raises(CheckpointError, match="truncated"):
        load_generator(checkpoint=broken)


# ---- divergence ----------------------------------------------------------------------------
def test_nan_ends_the_run_diverged_with_the_last_good_checkpoint_intact(monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_INJECT_NAN_AT_STEP", "10")
    run = RunDir.create("nan", tiny_config())
    assert train(run) == "diverged"
    status = run.read_status()
    assert status["state"] == "diverged"
    assert "NaN" in status["error"] and "last good checkpoint (step 8) is intact" in status["error"]
    latest = run.latest_checkpoint()
    assert latest.step == 8
    tensors, _ = load_checkpoint_file(latest.weights)
    assert all(torch.isfinite(v).all() for v in tensors.values() if v.is_floating_point())


def test_status_command_gives_monitors_health_verdict(monkeypatch, capsys):
    """Monitor's Health panel lived in ui/ only; ``status`` now says the same, text and JSON."""
    from gan_core.cli.main import main

    monkeypatch.setenv("GAN_STUDIO_INJECT_NAN_AT_STEP", "10")
    assert train(RunDir.create("nan", tiny_config())) == "diverged"
    assert main(["status", "nan"]) == 0
    out = capsys.readouterr().out
    assert "problem    Training diverged." in out and "lower learning rate" in out
    assert main(["status", "nan", "--json"]) == 0
    assert [h["title"] for h in json.loads(capsys.readouterr().out)["health"]] == ["Training diverged"]


def test_nan_with_rollback_continues_at_a_lower_learning_rate(monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_INJECT_NAN_AT_STEP", "10")
    run = RunDir.create("rollback", tiny_config(on_diverge="rollback"))
    assert train(run) == "finished"
    assert "rolled back to step 8 and halved the learning rates" in run.log_path.read_text()
    meta = run.latest_checkpoint().meta
    assert meta["step"] == 20 and meta["opt_D"][0]["lr"] == pytest.approx(tiny_config().lr_d / 2)
    steps = [r["step"] for r in run.read_metrics()]
    assert steps == sorted(steps) and len(steps) == len(set(steps))


# ---- a full disk ----------------------------------------------------------------------------
def _tiny_filesystem(path: Path, size: str) -> bool:
    path.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True).returncode == 0


@pytest.mark.parametrize("how", ["tiny-filesystem", "file-size-limit"])
def test_a_full_disk_keeps_the_previous_checkpoint_and_says_why(tmp_path, how):
    flags = tiny_flags(steps=400, checkpoint_every=100, log_every=50, sample_every=1000, width=16)
    env = run_env()
    preexec = None
    if how == "tiny-filesystem":
        root = tmp_path / "tiny"
        if not _tiny_filesystem(root, "1200k"):
            pytest.skip("cannot mount a tmpfs here (needs root); the file-size-limit case covers the write error")
    else:
        root = tmp_path / "ck"
        limit = 200_000  # bytes per file: metrics and small files fit, a checkpoint of this model does not

        def preexec():
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env["GAN_CHECKPOINTS"] = str(root)
    try:
        if how == "file-size-limit":
            # A first, good checkpoint written without the limit, then resumed with it.
            first = subprocess.run([sys.executable, "-m", "gan_core", "train", *tiny_flags(steps=100, checkpoint_every=100, log_every=50, width=16), "--name", "full"],
                                   env=env, capture_output=True, text=True, timeout=240)
            assert first.returncode == 0, first.stderr
            run = RunDir.open("full", root)
            run.write_config(run.config().replace(steps=400))
            cmd = [sys.executable, "-m", "gan_core", "train", "--resume", "full"]
        else:
            cmd = [sys.executable, "-m", "gan_core", "train", *flags, "--name", "full"]
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, preexec_fn=preexec)
        run = RunDir.open("full", root)
        status = run.read_status()
        assert result.returncode == 1 and status["state"] == "failed", (result.stdout[-500:], result.stderr[-500:])
        assert "could not write checkpoint" in status["error"]
        assert "Traceback" not in result.stderr
        good = run.latest_checkpoint()
        assert good is not None and good.step >= 100
        load_generator("full", root=root)  # the previous checkpoint is intact and usable
        assert not list(run.weights_dir.glob(".*.tmp"))  # no half-written leftovers
    finally:
        if how == "tiny-filesystem":
            subprocess.run(["umount", str(root)], capture_output=True)


# ---- names ------------------------------------------------------------------------------------
def test_two_trainers_racing_for_one_name_never_share_a_folder(studio_dirs):
    cmd = [sys.executable, "-m", "gan_core", "train", *tiny_flags(steps=10), "--name", "same"]
    procs = [subprocess.Popen(cmd, env=run_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [(p.wait(timeout=240), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in outcomes)
    assert codes == [0, 2], outcomes
    loser = next(err for code, err in outcomes if code == 2)
    assert "already exists" in loser
    assert RunDir.open("same").read_status()["state"] == "finished"


def test_create_is_atomic_under_threads():
    wins, errors = [], []

    def attempt():
        try:
            wins.append(RunDir.create("race", tiny_config()))
        except RunError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(errors) == 7


@pytest.mark.parametrize("name", ["../escape", "a/b", "/abs", "..", ".hidden", "x" * 65, "", "a\x00b", "name with space"])
def test_names_cannot_escape_the_studio_folders(name, studio_dirs):
    with pytest.raises(RunError):
        RunDir.create(name, tiny_config())
    with pytest.raises(RunError):
        RunDir.open(name)
    root = studio_dirs[0]
    assert not (root.parent / "escape").exists()
    result = subprocess.run([sys.executable, "-m", "gan_core", "train", *tiny_flags(), "--name", name],
                            env=run_env(), capture_output=True, text=True) if name and "\x00" not in name else None
    if result is not None:
        assert result.returncode == 2 and "invalid run name" in result.stderr


# ---- torn metrics -----------------------------------------------------------------------------
def test_metrics_readers_never_see_a_torn_record(tmp_path):
    """A writer process appends large records as fast as it can; a reader parses the file
    over and over. Every record it sees must be whole (its checksum matches)."""
    path = tmp_path / "metrics.jsonl"
    writer_code = (
        "import json,sys\n"
        "from pathlib import Path\n"
        "from gan_core.runs.rundir import RunDir\n"
        "run = RunDir(Path(sys.argv[1]))\n"
        "for i in range(3000):\n"
        "    payload = 'x' * (1000 + (i * 37) % 5000)\n"
        "    run.append_metrics({'step': i, 'payload': payload, 'n': len(payload)})\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", writer_code, str(tmp_path)], env=run_env())
    seen = 0
    try:
        while writer.poll() is None:
            records = list(iter_metrics(path))
            for r in records:
                assert len(r["payload"]) == r["n"]
            steps = [r["step"] for r in records]
            assert steps == list(range(len(steps)))
            seen = max(seen, len(records))
    finally:
        writer.wait(timeout=120)
    assert writer.returncode == 0
    assert len(list(iter_metrics(path))) == 3000
    with open(path, "a") as f:
        f.write('{"step": 3000, "torn')  # a writer killed mid-line
    assert len(list(iter_metrics(path))) == 3000


# ---- the config parser under random input -------------------------------------------------------
_values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=20), st.lists(st.text(max_size=8), max_size=4), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
_keys = st.one_of(st.sampled_from([f.replace("_", "-") if i % 2 else f for i, f in enumerate(TrainConfig.__dataclass_fields__)]), st.text(max_size=12))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(st.dictionaries(_keys, _values, max_size=6))
def test_config_parser_refuses_or_accepts_but_never_crashes(values):
    try:
        cfg = TrainConfig.from_dict(values)
    except ConfigError as exc:
        assert exc.field and str(exc)
        return
    assert cfg.validate() is cfg  # whatever it accepted is valid


@settings(max_examples=100, deadline=None, database=None)
@given(st.text(max_size=200))
def test_config_files_with_junk_give_a_config_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("cfg") / "c.yaml"
    path.write_text(text)
    try:
        TrainConfig.load(path)
    except ConfigError:
        pass
