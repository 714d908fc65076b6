"""Video GAN (dvdgan): clip sets, tensor shapes, a few training steps, GIF samples, resume."""
from __future__ import annotations

import io
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_env, tiny_flags
from gan_core.data.clips import bounce, load_clips
from gan_core.config import TrainConfig
from gan_core.data.images import find_fashion
from gan_core.runs.rundir import RunDir
from gan_core.models.video import DualDiscriminator, build_discriminator, build_generator
from gan_core.video.clips import clip_to_gif_bytes, clips_grid_gif


def video_flags(**overrides):
    values = dict(data="moving-shapes", model="dvdgan", resolution=16, frames=4, width=8, z_dim=16,
                  batch_size=8, steps=6, log_every=2, sample_every=3, checkpoint_every=3)
    values.update(overrides)
    return tiny_flags(**values)


def tiny_cfg(**overrides) -> TrainConfig:
    values = dict(data="moving-shapes", model="dvdgan", resolution=16, frames=4, width=8, z_dim=16, channels=3,
                  conditional=True, spectral_norm=True, d_norm="none", loss="hinge", batch_size=4, device="cpu")
    values.update(overrides)
    return TrainConfig.from_dict(values)


def test_moving_shapes_clips_are_deterministic_and_move():
    a = load_clips("moving-shapes", 16, 3, 4, limit=20)
    assert a.clips.shape == (20, 4, 3, 16, 16) and a.clips.dtype == torch.float32
    assert a.labels.shape == (20,) and a.classes[0] == "circle"
    assert -1 <= a.clips.min() and a.clips.max() <= 1
    b = load_clips("moving-shapes", 16, 1, 4, limit=20)  # same clips, greyscale
    assert b.clips.shape == (20, 4, 1, 16, 16)
    assert (a.clips[:, 1:] - a.clips[:, :-1]).abs().mean() > 0.01  # frames differ: things move
    test = load_clips("moving-shapes", 16, 3, 4, split="test", limit=20)
    assert not torch.equal(test.clips, a.clips)


@pytest.mark.skipif(find_fashion("train") is None, reason="Fashion-MNIST files not installed")
def test_moving_fashion_shapes_and_labels():
    s = load_clips("moving-fashion", 32, 1, 8, limit=12)
    assert s.clips.shape == (12, 8, 1, 32, 32) and len(s.classes) == 10
    assert s.labels.min() >= 0 and s.labels.max() < 10
    assert ((s.clips > -0.95).float().mean((2, 3, 4)) <= 0.3).all()  # a half-size item on black
    mass = (s.clips + 1).sum((2, 3, 4))  # the item's brightness is kept while it moves
    assert ((mass.max(1).values - mass.min(1).values) / mass.mean(1)).max() < 0.15


def test_bounce_stays_inside_and_reflects():
    p = bounce(np.array([1.0, 9.0]), np.array([3.0, 2.5]), 12, 10.0)
    assert p.min() >= 0 and p.max() <= 10
    assert np.allclose(p[0, :8], [1, 4, 7, 10, 7, 4, 1, 2])  # reflected at 10 and at 0
    assert (np.abs(np.diff(p, axis=1)) <= np.array([[3.0], [2.5]]) + 1e-9).all()


@pytest.mark.parametrize("g_norm", ["batch", "conditional"])
def test_generator_and_both_critics_shapes(g_norm):
    cfg = tiny_cfg(g_norm=g_norm)
    G, D = build_generator(cfg, 5), build_discriminator(cfg, 5)
    assert isinstance(D, DualDiscriminator) and D.k == 4
    z, y = torch.randn(3, cfg.z_dim), torch.tensor([0, 2, 4])
    x = G(z, y)
    assert x.shape == (3, 4, 3, 16, 16) and x.min() >= -1 and x.max() <= 1
    assert G.hidden_states(z, y).shape[:2] == (3, 4)
    out = D(x, y)
    s, t = D.last_parts
    assert out.shape == s.shape == t.shape == (3,)
    assert torch.allclose(out, s + t)
    assert D.pick_frames(x).shape == (3, 4, 3, 16, 16)
    pooled = torch.nn.functional.avg_pool2d(x.flatten(0, 1), 2).view(3, 4, 3, 8, 8).transpose(1, 2)
    assert D.temporal(pooled, y).shape == (3,)
    assert D.spatial(x[:, 0], y).shape == (3,)
    out.sum().backward()  # gradients reach G through both critics
    assert all(p.grad is not None for p in G.gru.parameters())
    # unconditional, 64 px, 16 frames
    cfg64 = tiny_cfg(resolution=64, frames=16, conditional=False, channels=1)
    G, D = build_generator(cfg64, 0), build_discriminator(cfg64, 0)
    x = G(torch.randn(2, cfg64.z_dim))
    assert x.shape == (2, 16, 1, 64, 64) and D(x).shape == (2,)


def test_train_sample_gifs_and_resume(studio_dirs, tmp_path, capsys):
    from gan_core.cli.main import main
    from gan_core.training.loop import train

    assert main(["train", *video_flags(name="vid")]) == 0
    run = RunDir.open("vid")
    records = run.read_metrics()
    assert records and records[-1]["step"] == 6
    for r in records:
        for key in ("loss_d", "loss_g", "d_spatial", "d_temporal", "loss_d_spatial", "loss_d_temporal"):
            assert math.isfinite(r[key]), (key, r)
    grid = Image.open(run.sample_grids()[-1][1])
    assert grid.size == (4 * 18 + 2, 5 * 18 + 2)  # a row per class (5), a column per frame (4)
    # sample: one GIF per clip, T frames each, provenance in the comment
    out = tmp_path / "gifs"
    proc = subprocess.run([sys.executable, "-m", "gan_core", "sample", "--run", "vid", "--n", "3", "--out", str(out)],
                          env=run_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    files = sorted(out.glob("*.gif"))
    assert [f.name for f in files] == ["0_00000.gif", "1_00001.gif", "2_00002.gif"]
    for f in files:
        with Image.open(f) as im:
            assert im.n_frames == 4 and im.size == (16, 16)
            assert im.info.get("loop") == 0
            info = json.loads(im.info["comment"])
        assert info["model"] == "dvdgan" and info["run"] == "vid" and info["frames"] == "4"
    # --frames shapes only --interpolate: asking a video run for 2-frame clips is refused, not ignored
    capsys.readouterr()
    assert main(["sample", "--run", "vid", "--n", "1", "--frames", "2", "--out", str(tmp_path / "short")]) == 2
    assert "4 frames it was trained with" in capsys.readouterr().err and not (tmp_path / "short").exists()
    # a synthetic data set is made of images: Generate's Export on a video run crashed in to_pil
    from gan_core.inference.export import export_synthetic
    from gan_core.inference.generators import load_generator

    with pytest.raises(ValueError, match="makes clips"):
        export_synthetic(load_generator("vid"), "synth", 1, root=tmp_path / "data")
    assert not (tmp_path / "data").exists()
    assert main(["sample", "--run", "vid", "--n", "1", "--as-dataset", "synth"]) == 2
    assert "makes clips" in capsys.readouterr().err
    # resume: raise the budget, continue from the step-6 checkpoint
    run.write_config(run.config().replace(steps=10))
    assert train(run, resume=True) == "finished"
    steps = [r["step"] for r in run.read_metrics()]
    assert steps[-1] == 10 and steps == sorted(steps) and len(steps) == len(set(steps))
    assert run.latest_checkpoint().step == 10


def _gif(frames: list[np.ndarray]) -> bytes:
    buf = io.BytesIO()
    ims = [Image.fromarray(f) for f in frames]
    ims[0].save(buf, format="GIF", save_all=True, append_images=ims[1:], duration=100, loop=0)
    return buf.getvalue()


def test_folder_of_gifs_loads_as_clips_and_reports_bad_files(tmp_path):
    root = tmp_path / "clips"
    for cls, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            frames = []
            for t in range(6):
                a = np.zeros((24, 20, 3), np.uint8)
                a[4 + t:10 + t, 2 + i:8 + i] = colour
                frames.append(a)
            (root / cls / f"c{i}.gif").write_bytes(_gif(frames))
    (root / "red" / "broken.gif").write_bytes(b"GIF89a\x10\x00\x10\x00garbage")
    Image.new("RGB", (8, 8)).save(root / "blue" / "still.png")
    s = load_clips(str(root), 16, 3, 4)
    assert s.clips.shape == (6, 4, 3, 16, 16) and s.classes == ["blue", "red"]
    assert sorted(s.labels.tolist()) == [0, 0, 0, 1, 1, 1]
    skipped = dict(s.report.skipped)
    assert set(skipped) == {"red/broken.gif", "blue/still.png"}
    assert skipped["blue/still.png"].startswith("not a clip")
    assert (s.clips[:, 1:] - s.clips[:, :-1]).abs().sum() > 0
    grey = load_clips(str(root), 16, 1, 8)  # more frames than the files have: frames repeat
    assert grey.clips.shape == (6, 8, 1, 16, 16)
    with pytest.raises(Exception, match="no usable clips"):
        empty = tmp_path / "empty"
        empty.mkdir()
        (empty / "x.gif").write_bytes(b"nope")
        load_clips(str(empty), 16, 3, 4)


def test_gif_bytes_keep_every_frame():
    still = torch.zeros(5, 3, 8, 8)  # five identical frames must stay five frames
    with Image.open(io.BytesIO(clip_to_gif_bytes(still, comment={"seed": 1}))) as im:
        assert im.n_frames == 5 and json.loads(im.info["comment"]) == {"seed": 1}
    grey = torch.rand(6, 1, 8, 8) * 2 - 1
    with Image.open(io.BytesIO(clip_to_gif_bytes(grey, scale=2))) as im:
        assert im.n_frames == 6 and im.size == (16, 16)
    with Image.open(io.BytesIO(clips_grid_gif(torch.rand(4, 3, 3, 8, 8) * 2 - 1, nrow=2))) as im:
        assert im.n_frames == 3
