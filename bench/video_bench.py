"""Benchmark the video GAN (dvdgan) on moving-fashion; writes bench/results/video.md and
docs/video_sample.gif.

    python bench/video_bench.py [--minutes 8] [--threads 2]

1. Trains a class-conditional dvdgan on moving-fashion (32 px, T = 8) through the engine
   (``RunDir.create`` + ``train``) for a wall-clock budget.
2. Trains a small frame classifier on single frames of real train clips (~1 minute).
3. Measures, for generated clips (EMA G and raw G, 50 per class each) and for real test clips:
   - frame-to-frame SSIM (mean over consecutive frame pairs; skimage, data range 1);
   - per-frame class agreement: share of frames the classifier puts in the clip's class
     (the conditioning class for generated clips, the true label for real ones);
   - identity consistency: share of frames agreeing with the clip's most common prediction;
   - motion: mean speed of the brightness centroid (px/frame) and its mean change from
     one step to the next (px/frame^2, smoothness; bounces make it non-zero for reals).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gan_core.data.clips import load_clips  # noqa: E402
from gan_core.config import TrainConfig  # noqa: E402
from gan_core.runs.rundir import RunDir  # noqa: E402

RES, FRAMES = 32, 8


def config(minutes: float, threads: int) -> TrainConfig:
    return TrainConfig.from_dict(dict(
        data="moving-fashion", model="dvdgan", resolution=RES, channels=1, frames=FRAMES, conditional=True,
        width=32, z_dim=64, g_norm="conditional", d_norm="none", spectral_norm=True, loss="hinge",
        lr_g=2e-4, lr_d=4e-4, beta1=0.0, beta2=0.9, batch_size=16, ema=True, ema_decay=0.999,
        minutes=minutes, log_every=50, sample_every=500, checkpoint_every=1000, device="cpu",
        threads=threads, seed=0,
    ))


class FrameClassifier(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(),
            nn.Linear(64, classes))

    def forward(self, x):
        return self.net(x)


def train_classifier(seconds: float) -> tuple[FrameClassifier, float]:
    train = load_clips("moving-fashion", RES, 1, FRAMES, split="train")
    frames = train.clips.flatten(0, 1)
    labels = train.labels.repeat_interleave(FRAMES)
    torch.manual_seed(0)
    clf = FrameClassifier()
    opt = torch.optim.Adam(clf.parameters(), 1e-3)
    start, steps = time.time(), 0
    while time.time() - start < seconds:
        idx = torch.randint(len(frames), (64,))
        loss = F.cross_entropy(clf(frames[idx]), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    clf.eval()
    return clf, steps


@torch.no_grad()
def predict(clf: nn.Module, clips: torch.Tensor) -> torch.Tensor:
    n, t = clips.shape[:2]
    out = torch.cat([clf(c).argmax(1) for c in clips.flatten(0, 1).split(1024)])
    return out.view(n, t)


def ssim_consecutive(clips: torch.Tensor) -> float:
    from skimage.metrics import structural_similarity

    a = ((clips[:, :, 0].float() + 1) / 2).clamp(0, 1).numpy()
    vals = [structural_similarity(c[i], c[i + 1], data_range=1.0) for c in a for i in range(len(c) - 1)]
    return float(np.mean(vals))


def motion(clips: torch.Tensor) -> tuple[float, float]:
    """(mean centroid speed, mean centroid acceleration) in px/frame and px/frame^2."""
    w = ((clips[:, :, 0].float() + 1) / 2).clamp(0, 1)
    w = torch.where(w > 0.1, w, torch.zeros_like(w))  # ignore near-black background noise
    grid = torch.arange(RES, dtype=torch.float32) + 0.5
    mass = w.sum((2, 3)).clamp_min(1e-6)
    cx = (w.sum(2) * grid).sum(2) / mass
    cy = (w.sum(3) * grid).sum(2) / mass
    c = torch.stack([cx, cy], -1)  # [N, T, 2]
    v = c[:, 1:] - c[:, :-1]
    acc = v[:, 1:] - v[:, :-1]
    return float(v.norm(dim=-1).mean()), float(acc.norm(dim=-1).mean())


def measure(clf, clips: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    pred = predict(clf, clips)
    mode = pred.mode(1).values
    speed, accel = motion(clips)
    return {
        "ssim": ssim_consecutive(clips),
        "agree": float((pred == labels[:, None]).float().mean()),
        "identity": float((pred == mode[:, None]).float().mean()),
        "speed": speed, "accel": accel,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--classifier-seconds", type=float, default=90.0)
    parser.add_argument("--root", type=Path, default=ROOT / "checkpoints")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "video.md")
    parser.add_argument("--gif", type=Path, default=ROOT / "docs" / "video_sample.gif")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from gan_core.inference.generators import load_generator
    from gan_core.training.loop import train
    from gan_core.video.clips import clips_grid_gif, generate_clips

    cfg = config(args.minutes, args.threads)
    name = RunDir.unique_name("bench-video", args.root)
    run = RunDir.create(name, cfg, args.root)
    t0 = time.time()
    state = train(run)
    train_s = time.time() - t0
    status = run.read_status()
    metrics = run.read_metrics()
    last = metrics[-1] if metrics else {}
    print(f"training {state}: step {status.get('step')} in {train_s:.0f}s", flush=True)

    clf, clf_steps = train_classifier(args.classifier_seconds)
    real = load_clips("moving-fashion", RES, 1, FRAMES, split="test")
    n_real = min(500, len(real))
    real_clips, real_labels = real.clips[:n_real], real.labels[:n_real]
    frame_acc = float((predict(clf, real_clips) == real_labels[:, None]).float().mean())

    seeds = list(range(500))
    gen_labels = torch.arange(500) % 10
    scored = {}  # EMA weights and raw weights: with batch norm in G either may be better
    for ema in (True, False):
        loaded = load_generator(name, root=args.root, ema=ema)
        scored[ema] = loaded, measure(clf, generate_clips(loaded, seeds, labels=gen_labels), gen_labels)
    best = max(scored, key=lambda e: scored[e][1]["agree"] + scored[e][1]["identity"])
    loaded = scored[best][0]
    m_real = measure(clf, real_clips, real_labels)
    # a reference for SSIM: the same real clips with their frames shuffled across clips
    shuffled = real_clips.flatten(0, 1)[torch.randperm(n_real * FRAMES, generator=torch.Generator().manual_seed(0))]
    m_shuf = measure(clf, shuffled.view_as(real_clips), real_labels)

    args.gif.parent.mkdir(parents=True, exist_ok=True)
    sample = generate_clips(loaded, list(range(1000, 1010)), labels=torch.arange(10))
    args.gif.write_bytes(clips_grid_gif(sample, nrow=5, fps=8, scale=3))

    rows = [("generated, EMA G (500 clips, 50/class)", scored[True][1]),
            ("generated, raw G (500 clips, 50/class)", scored[False][1]), ("real test clips (500)", m_real),
            ("real frames shuffled across clips (reference)", m_shuf)]
    table = "\n".join(
        f"| {label} | {m['ssim']:.3f} | {m['agree']:.3f} | {m['identity']:.3f} | {m['speed']:.2f} | {m['accel']:.2f} |"
        for label, m in rows)
    text = f"""# Video GAN (dvdgan) on moving-fashion

`python bench/video_bench.py --minutes {args.minutes:g} --threads {args.threads}` ({time.strftime('%Y-%m-%d')}, CPU,
{os.cpu_count()} cores shared with other jobs; numbers depend on how busy the machine was).

Run `{name}`: class-conditional dvdgan (content map per clip + ConvGRU motion, per-class batch norm in G),
32 px, T = {FRAMES} frames, width 32, z 64, hinge loss, SN in both critics,
Adam 2e-4 / 4e-4 (0, 0.9), batch 16 clips, EMA of G kept beside the raw G. Training ended `{state}` at step {status.get('step')}
({status.get('images_seen', 0):,} clips, {train_s:.0f} s, last {last.get('images_per_s', 0):.1f} clips/s).
Last logged D losses per branch: spatial {last.get('loss_d_spatial', float('nan')):.3f}, temporal
{last.get('loss_d_temporal', float('nan')):.3f} (hinge; 2.0 = chance).

Frame classifier: 3-conv CNN trained {args.classifier_seconds:g} s ({clf_steps} steps) on single frames of real
train clips; accuracy on real test frames {frame_acc:.3f}.

| clips | frame-to-frame SSIM | per-frame class agreement | identity consistency | centroid speed (px/frame) | centroid accel. (px/frame²) |
|---|---|---|---|---|---|
{table}

- *class agreement*: share of frames the classifier assigns to the clip's class (conditioning class for generated clips).
- *identity consistency*: share of frames that agree with the clip's most common prediction (the item stays itself).
- *speed / accel.*: brightness-centroid motion; real items move 1-2.5 px per frame in straight lines (accel. comes
  from bounces only). A still clip has speed 0 and SSIM 1, so read SSIM together with speed.

Sample (`docs/video_sample.gif`, {'EMA' if best else 'raw'} G, the better of the two above by class agreement +
identity; one clip per class, seeds 1000-1009, 3x nearest upscaling):

![video sample](../../docs/video_sample.gif)
"""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
