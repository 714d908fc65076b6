"""Restoration benchmark on held-out Fashion-MNIST: PSNR, SSIM and "still recognisable".

    python bench/restore_bench.py [--prior-steps-train 1200] [--model-steps 800] [--n 500] [--prior-run NAME] ...

Trains (or reuses, when a run of that name has a checkpoint) three runs on Fashion-MNIST at
32 px with the data set's preset: a conditional DCGAN (the prior), an srgan x4 and an
inpaint-gan, for fixed step budgets (steps, not minutes, so a busy machine gives slower
but not weaker runs; ``--minutes`` switches to wall-clock budgets). Then, on the first ``--n`` test images at their native
28x28:

- inpainting: the centre 14x14 is painted grey (so nothing can peek) and filled by prior,
  model and biharmonic;
- super-resolution: the 28x28 image is downscaled x4 to 7x7 (antialiased bicubic) and
  raised back to 28x28 by prior, model, bicubic and Lanczos.

The learned methods run at 32 px: the 28x28 image (with its 14x14 hole, which becomes
16x16) or the 7x7 input (which becomes 8x8) is stretched to the run's size and the result
stretched back to 28x28 -- the same path as the CLI's and the pages', so the scores are
measured on the true 28x28 originals.

"Recognisable": a small CNN trained here on the Fashion-MNIST training split (about a
minute) classifies the originals, the degraded inputs and every method's output; its
accuracy against the true labels says how much of the garment's identity survives.
Writes ``bench/results/restore.md``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402

from gan_core.data import masks  # noqa: E402
from gan_core import restore as R  # noqa: E402
from gan_core.restore import repair  # noqa: E402
from gan_core.config import PRESETS, TrainConfig  # noqa: E402
from gan_core.data.images import load_dataset  # noqa: E402
from gan_core.runs.rundir import RunDir, RunError  # noqa: E402
from gan_core.training.loop import train  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def ensure_run(name: str, steps: int, minutes: float, threads: int, **overrides) -> str:
    try:
        run = RunDir.open(name)
        if run.latest_checkpoint() is not None:
            log(f"reusing run {name} (step {run.latest_checkpoint().step})")
            return name
        run.delete()
    except RunError:
        pass
    cfg = TrainConfig.from_dict({**PRESETS["fashion-mnist"], "preset": "fashion-mnist", "steps": steps, "minutes": minutes, "threads": threads,
                                 "log_every": 100, "sample_every": 1000, "checkpoint_every": 1000, **overrides})
    log(f"training {name} for {f'{minutes:g} min' if minutes else f'{steps} steps'} ({cfg.model})")
    state = train(RunDir.create(name, cfg))
    if state not in ("finished", "stopped"):
        raise SystemExit(f"run {name} ended {state}")
    return name


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x):
        return self.net(x)


def train_classifier(seconds: float) -> SmallCNN:
    data = load_dataset("fashion-mnist", 28, 1, split="train")
    gen = torch.Generator().manual_seed(0)
    model = SmallCNN()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        idx = torch.randint(len(data), (128,), generator=gen)
        x = data.images[idx]
        # mild robustness to the small shifts and blur that restorations bring
        shift = torch.randint(-1, 2, (2,), generator=gen).tolist()
        x = torch.roll(x, shifts=shift, dims=(2, 3))
        loss = F.cross_entropy(model(x), data.labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    log(f"classifier: {steps} steps in {seconds:.0f}s")
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, images: list, labels: torch.Tensor) -> float:
    x = torch.cat([R.to_tensor(im, 1, (28, 28)) for im in images])
    return float((model(x).argmax(1) == labels).float().mean())


def scores(originals: list, outputs: list) -> tuple[float, float]:
    p = [min(R.psnr(a, b), 100.0) for a, b in zip(originals, outputs)]
    s = [R.ssim(a, b) for a, b in zip(originals, outputs)]
    return float(np.mean(p)), float(np.mean(s))


def prior_inpaint_batch(loaded, images, mask_arr, steps, restarts, chunk) -> list:
    res = loaded.config.resolution
    m_small = torch.from_numpy(R.resize_mask(mask_arr, (res, res))).view(1, 1, res, res)
    out = []
    for s in range(0, len(images), chunk):
        part = images[s:s + chunk]
        x = torch.cat([R.to_tensor(im, loaded.config.channels, (res, res)) for im in part])
        m = m_small.expand(len(part), -1, -1, -1).contiguous()
        filled, _ = repair._prior_inpaint(loaded, x, m, steps=steps, restarts=restarts, seed=s, class_index=None,
                                     lam=0.003, lr=0.03, progress=None)
        out += [R.compose_fill(im, mask_arr, f, "poisson") for im, f in zip(part, filled)]
        log(f"  prior inpaint {len(out)}/{len(images)}")
    return out


def prior_superres_batch(loaded, lows, steps, restarts, chunk, size) -> list:
    res = loaded.config.resolution
    low = res // 4
    out = []
    for s in range(0, len(lows), chunk):
        part = lows[s:s + chunk]
        x = torch.cat([R.to_tensor(im, loaded.config.channels, (low, low)) for im in part])
        hr, _ = repair._pulse(loaded, x, steps=steps, restarts=restarts, seed=s, class_index=None, lr=0.1, lam=0.0, progress=None)
        out += [R.from_tensor(h).resize(size, Image.Resampling.BICUBIC) for h in hr]
        log(f"  prior superres {len(out)}/{len(lows)}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prior-steps-train", type=int, default=1200, help="training steps of the prior DCGAN")
    ap.add_argument("--model-steps", type=int, default=800, help="training steps of the srgan and inpaint-gan runs")
    ap.add_argument("--minutes", type=float, default=0.0, help="> 0: wall-clock budget per run instead of steps")
    ap.add_argument("--n", type=int, default=500, help="held-out test images")
    ap.add_argument("--prior-run", default="bench-restore-prior")
    ap.add_argument("--sr-run", default="bench-restore-srgan4")
    ap.add_argument("--ip-run", default="bench-restore-inpaint")
    ap.add_argument("--prior-steps", type=int, default=50)
    ap.add_argument("--prior-restarts", type=int, default=4)
    ap.add_argument("--pulse-steps", type=int, default=150, help="PULSE steps per image (7x7 inputs are very ambiguous)")
    ap.add_argument("--pulse-restarts", type=int, default=10)
    ap.add_argument("--classifier-seconds", type=float, default=60)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (0 = all cores). 1 by default: on a busy shared machine, more threads than "
                         "free cores make OpenMP spin and run ~10x slower")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "restore.md")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    t0 = time.perf_counter()
    prior = ensure_run(args.prior_run, args.prior_steps_train, args.minutes, args.threads)
    sr = ensure_run(args.sr_run, args.model_steps, args.minutes, args.threads, model="srgan", scale=4)
    ip = ensure_run(args.ip_run, args.model_steps, args.minutes, args.threads, model="inpaint-gan")
    train_s = time.perf_counter() - t0
    classifier = train_classifier(args.classifier_seconds)

    test = load_dataset("fashion-mnist", 28, 1, split="test", limit=args.n)
    originals = [R.from_tensor(x) for x in test.images]
    labels = test.labels
    hole = masks.centre_box((28, 28))  # 14x14
    hole_arr = masks.mask_from_pil(hole)
    holed = [R.degrade_for_demo(im, "inpaint", mask=hole)[0] for im in originals]
    lows = [R.degrade_for_demo(im, "superres", scale=4)[0] for im in originals]

    prior_loaded = R.load_for(prior, "prior")
    rows_ip, rows_sr = [], []

    def add(rows, name, outputs, seconds):
        p, s = scores(originals, outputs)
        acc = accuracy(classifier, outputs, labels)
        rows.append((name, p, s, acc, seconds / len(outputs)))
        log(f"{name}: PSNR {p:.2f} SSIM {s:.3f} acc {acc:.3f}")

    log("inpainting ...")
    add(rows_ip, "input (hole painted grey)", holed, 0.0)
    t = time.perf_counter()
    add(rows_ip, "biharmonic (baseline)", [R.inpaint(im, hole, "biharmonic").image for im in holed], time.perf_counter() - t)
    ip_loaded = R.load_for(ip, "model")
    t = time.perf_counter()
    add(rows_ip, f"model: inpaint-gan ({ip})", [R.inpaint(im, hole, "model", ip_loaded).image for im in holed], time.perf_counter() - t)
    t = time.perf_counter()
    out = prior_inpaint_batch(prior_loaded, holed, hole_arr, args.prior_steps, args.prior_restarts, chunk=100)
    add(rows_ip, f"prior: latent optimisation ({prior})", out, time.perf_counter() - t)

    log("super-resolution ...")
    add(rows_sr, "input 7x7 (nearest, for reference)", [im.resize((28, 28), Image.Resampling.NEAREST) for im in lows], 0.0)
    for method in ("bicubic", "lanczos"):
        t = time.perf_counter()
        add(rows_sr, f"{method} (baseline)", [R.superres(im, 4, method).image for im in lows], time.perf_counter() - t)
    sr_loaded = R.load_for(sr, "model")
    t = time.perf_counter()
    add(rows_sr, f"model: srgan x4 ({sr})", [R.superres(im, 4, "model", sr_loaded).image for im in lows], time.perf_counter() - t)
    t = time.perf_counter()
    out = prior_superres_batch(prior_loaded, lows, args.pulse_steps, args.pulse_restarts, chunk=100, size=(28, 28))
    add(rows_sr, f"prior: PULSE latent search ({prior})", out, time.perf_counter() - t)

    clean_acc = accuracy(classifier, originals, labels)
    steps = {n: RunDir.open(n).latest_checkpoint().step for n in (prior, sr, ip)}
    lines = [
        "# Restoration benchmark (Fashion-MNIST, held-out test images)",
        "",
        f"`python bench/restore_bench.py --prior-steps-train {args.prior_steps_train} --model-steps {args.model_steps} "
        f"--minutes {args.minutes:g} --n {args.n} --threads {args.threads}` on {os.cpu_count()} CPU cores "
        f"(shared with other jobs), torch {torch.__version__}; {time.strftime('%Y-%m-%d')}.",
        "",
        f"- Images: the first {args.n} of the t10k split at their native 28x28. PSNR (dB, 8-bit) and SSIM "
        "(scikit-image, 7x7 windows) are over the whole 28x28 image against the original.",
        f"- Runs (CPU, batch 64, the fashion-mnist preset at 32 px): prior = conditional DCGAN "
        f"`{prior}` (step {steps[prior]}), `{sr}` = srgan x4 (step {steps[sr]}), `{ip}` = inpaint-gan (step {steps[ip]}).",
        "- Learned methods work at 32 px: the 28x28 input (hole 14x14 -> 16x16) or the 7x7 input (-> 8x8) is "
        "stretched to the run's size and the result stretched back to 28x28 (the CLI's and the pages' path).",
        f"- Prior methods: inpainting {args.prior_restarts} restarts x {args.prior_steps} Adam steps per image (lambda 0.003, "
        f"Poisson blending), PULSE {args.pulse_restarts} restarts x {args.pulse_steps} steps (lr 0.1); the classes are "
        "spread over the restarts and the best restart picks the class.",
        f"- Recognisable = accuracy of a small CNN trained here on the training split ({args.classifier_seconds:g} s), "
        f"on the restored images. On the originals it scores **{clean_acc:.3f}**.",
        "",
        "## Inpainting: centre 14x14 hole",
        "",
        "| method | PSNR | SSIM | classifier accuracy | seconds / image |",
        "|---|---:|---:|---:|---:|",
        *[f"| {n} | {p:.2f} | {s:.3f} | {a:.3f} | {sec:.3f} |" for n, p, s, a, sec in rows_ip],
        "",
        "## Super-resolution: x4 from 7x7",
        "",
        "| method | PSNR | SSIM | classifier accuracy | seconds / image |",
        "|---|---:|---:|---:|---:|",
        *[f"| {n} | {p:.2f} | {s:.3f} | {a:.3f} | {sec:.3f} |" for n, p, s, a, sec in rows_sr],
        "",
        f"Total wall time {time.perf_counter() - t0:.0f} s (training {train_s:.0f} s).",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    log(f"wrote {args.out}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
