"""Checkpoints from elsewhere: metadata and shapes are checked before any model is allocated."""
import json
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import ROOT, run_env
from safetensors.torch import save_file
from streamlit.testing.v1 import AppTest

from gan_core.config import TrainConfig
from gan_core.inference.generators import import_checkpoint, load_generator
from gan_core.runs.rundir import CheckpointError
from gan_core.runtypes.registry import build_generator

SMALL = {"model": "dcgan", "data": "shapes", "resolution": 16, "width": 8, "z_dim": 16}
HUGE = {"model": "dcgan", "data": "shapes", "resolution": 128, "width": 1024, "z_dim": 1024}  # valid: 2.9 G parameters


def write_ckpt(path, meta, tensors=None):
    if tensors is None:
        G = build_generator(TrainConfig.from_dict(SMALL), 0)
        tensors = {f"G_ema.{k}": v.contiguous() for k, v in G.state_dict().items()}
    save_file(tensors, str(path), metadata={"gan_studio": json.dumps(meta)})
    return path


def test_a_good_checkpoint_imports_and_loads(tmp_path, studio_dirs):
    path = write_ckpt(tmp_path / "good.safetensors", {"config": SMALL, "step": 40, "classes": []})
    run = import_checkpoint(path, "good")
    assert run.latest_checkpoint().step == 40
    loaded = load_generator(checkpoint=path)
    assert loaded.step == 40 and sum(p.numel() for p in loaded.G.parameters()) > 0


def test_huge_network_refused_fast_without_allocating(tmp_path):
    """A 1 KB file whose config asks for 2.9 G parameters (11 GB): refused in well under a
    second, and the process's peak memory barely moves."""
    path = write_ckpt(tmp_path / "huge.safetensors", {"config": HUGE, "step": 1},
                      tensors={"G_ema.net.0.weight": torch.zeros(2, 2)})
    assert path.stat().st_size < 2000
    script = textwrap.dedent(f"""
        import json, resource, sys, time
        from pathlib import Path
        import torch
        from gan_core.inference.generators import import_checkpoint, load_generator
        from gan_core.runs.rundir import CheckpointError
        from gan_core.inference import checkpoint_checks  # imports done: measure only the refusal
        out = {{}}
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for what, call in (("import", lambda: import_checkpoint(Path({str(path)!r}), "huge")),
                           ("load", lambda: load_generator(checkpoint={str(path)!r}))):
            t = time.perf_counter()
            try:
                call()
                out[what] = "accepted"
            except CheckpointError as exc:
                out[what] = str(exc)
            out[what + "_s"] = time.perf_counter() - t
        out["grew_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(json.dumps(out))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=run_env(), cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    for what in ("import", "load"):
        assert "GAN_MAX_CHECKPOINT_PARAMS" in out[what] and "3,121 M parameters" in out[what], out
        assert out[what + "_s"] < 0.5, out
    assert out["grew_kb"] < 100_000, out  # 11 GB were asked for; under 100 MB moved


@pytest.mark.parametrize("meta, words", [
    ({"config": SMALL, "step": "forty"}, "'step' must be a whole number"),
    ({"config": SMALL, "step": -3}, "'step' must be a whole number"),
    ({"config": SMALL, "step": 10**15}, "'step' must be a whole number"),
    ({"config": SMALL, "classes": "abc"}, "'classes' must be a list"),
    ({"config": SMALL, "classes": [1, 2]}, "'classes' must be a list"),
    ({"config": {**SMALL, "width": "wide"}}, "stored config is not valid"),
    ({"config": {**SMALL, "width": 5000}}, "stored config is not valid"),
    ({"config": {**SMALL, "no_such_field": 1}}, "stored config is not valid"),
    ({"config": [1, 2, 3]}, "stored config is not valid"),
    ({"config": {**SMALL, "width": 16}}, "does not fit this generator"),
    ({"step": 3}, "carries no GAN Studio metadata"),
])
def test_malformed_metadata_refused_and_nothing_made(tmp_path, studio_dirs, meta, words):
    path = write_ckpt(tmp_path / "bad.safetensors", meta)
    with pytest.raises(CheckpointError, match=words):
        import_checkpoint(path, "bad")
    ckpt_root = studio_dirs[0]
    assert not (ckpt_root / "bad").exists()
    with pytest.raises(CheckpointError, match=words):
        load_generator(checkpoint=path)


def test_metadata_that_is_not_an_object_is_refused(tmp_path):
    path = tmp_path / "list.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), metadata={"gan_studio": "[1, 2]"})
    with pytest.raises(CheckpointError, match="not a JSON object"):
        import_checkpoint(path, "list")


def test_cli_sample_refuses_a_huge_checkpoint(tmp_path):
    path = write_ckpt(tmp_path / "huge.safetensors", {"config": HUGE}, tensors={"G_ema.w": torch.zeros(1)})
    done = subprocess.run([sys.executable, "-m", "gan_core", "sample", "--checkpoint", str(path), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env=run_env(), cwd=ROOT, timeout=120)
    assert done.returncode == 2 and "GAN_MAX_CHECKPOINT_PARAMS" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_runs_import_adds_a_checkpoint_as_a_run_and_refuses_a_huge_one(tmp_path, studio_dirs, capsys):
    """Generate's 'Use a checkpoint from elsewhere' as a command, with the same checks."""
    from gan_core.cli.main import main
    from gan_core.runs.rundir import RunDir

    good = write_ckpt(tmp_path / "good.safetensors", {"config": SMALL, "step": 40, "classes": []})
    assert main(["runs", "--import", str(good), "--name", "colleague"]) == 0
    assert main(["runs", "--import", str(good), "--name", "colleague"]) == 0
    assert RunDir.open("colleague-2").latest_checkpoint().step == 40
    assert RunDir.open("colleague").read_status()["created_by"]
    huge = write_ckpt(tmp_path / "huge.safetensors", {"config": HUGE, "step": 1}, tensors={"G_ema.w": torch.zeros(1)})
    capsys.readouterr()
    assert main(["runs", "--import", str(huge), "--name", "huge"]) == 2
    assert "GAN_MAX_CHECKPOINT_PARAMS" in capsys.readouterr().err
    assert sorted(p.name for p in studio_dirs[0].iterdir()) == ["colleague", "colleague-2"]


def test_generate_page_refuses_an_uploaded_huge_checkpoint(tmp_path, studio_dirs):
    path = write_ckpt(tmp_path / "huge.safetensors", {"config": HUGE, "step": 1}, tensors={"G_ema.w": torch.zeros(1)})
    at = AppTest.from_file(str(ROOT / "pages" / "7_Generate.py"), default_timeout=60).run()
    at.file_uploader(key="ckpt_upload").set_value(("huge.safetensors", path.read_bytes(), "application/octet-stream"))
    at.text_input(key="ckpt_import_name").set_value("huge")
    next(b for b in at.button if b.label == "Add as a run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Not added" in e.value and "GAN_MAX_CHECKPOINT_PARAMS" in e.value for e in at.error)
    assert not (studio_dirs[0] / "huge").exists()
