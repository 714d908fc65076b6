"""Does GAN data help a small classifier on Fashion-MNIST when only K images per class are real?

Runs the studio's own augmentation lab through its CLI (``python -m gan_core augment-lab``):
K in {10, 50, 200} real training images per class, one class-conditional GAN per K trained
on exactly those images (studio preset + ``--conditional`` + DiffAugment, 1,500 steps,
some minutes of one CPU thread each), then the same small CNN on real only / real + M synthetic / M synthetic
only, 3 seeds each, scored on the whole 10,000-image test split. One CPU thread.

    python bench/augment_lab.py [--gan-steps 1500] [--clf-steps 300] [--seeds 3] [--m 500]

Resumable: run it again with the same --name and finished steps are skipped. Writes
``bench/results/augment_lab.{json,md,png}`` and ``augment_lab_samples.png`` (synthetic
images, one row per class, for each K).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from gan_core.auglab.lab import Lab, synthetic_set  # noqa: E402
from gan_core.inference.generators import image_grid  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-class", type=int, nargs="+", default=[10, 50, 200])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--m", type=int, nargs="+", default=[500], help="synthetic images per class")
    p.add_argument("--gan-steps", type=int, default=1500,
                   help="generator steps per GAN (a step budget: the same GAN whatever else shares the CPU)")
    p.add_argument("--clf-steps", type=int, default=300)
    p.add_argument("--name", default="bench-fashion-auglab")
    p.add_argument("--root", type=Path, default=ROOT / "checkpoints" / "bench-auglab")
    p.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args()
    env = {**os.environ, "GAN_CHECKPOINTS": str(args.root), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    start = time.time()
    if (args.root / args.name / "lab.json").is_file():
        cmd = ["--resume", args.name]
    else:
        cmd = ["--data", "fashion-mnist", "--per-class", *map(str, args.per_class), "--seeds", str(args.seeds),
               "--synthetic-per-class", *map(str, args.m), "--gan-steps", str(args.gan_steps),
               "--clf-steps", str(args.clf_steps), "--threads", "1", "--name", args.name]
    rc = subprocess.call([sys.executable, "-m", "gan_core", "augment-lab", *cmd], env=env, cwd=ROOT)
    if rc != 0:
        print(f"the lab ended with exit status {rc}; run again to resume", file=sys.stderr)
        return rc
    lab = Lab.open(args.name, args.root)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    summary = json.loads((lab.path / "results.json").read_text())
    summary["environment"] = {"python": platform.python_version(), "torch": torch.__version__,
                              "cpu": platform.processor() or platform.machine(), "threads": 1,
                              "wall_s_this_invocation": round(time.time() - start, 1)}
    summary["steps"] = {p.stem: json.loads(p.read_text()) for p in sorted((lab.path / "steps").glob("*.json"))}
    (args.out_dir / "augment_lab.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    shutil.copyfile(lab.path / "table.md", args.out_dir / "augment_lab.md")
    shutil.copyfile(lab.path / "chart.png", args.out_dir / "augment_lab.png")
    rows = []
    for k in summary["per_class"]:
        x, y = synthetic_set(lab, k, 8)
        order = torch.argsort(y, stable=True)
        rows.append(image_grid(x[order], nrow=8))
    sheet = Image.new("RGB", (sum(r.width for r in rows) + 8 * (len(rows) - 1), max(r.height for r in rows)), "white")
    xpos = 0
    for r in rows:
        sheet.paste(r.convert("RGB"), (xpos, 0))
        xpos += r.width + 8
    sheet.save(args.out_dir / "augment_lab_samples.png")
    print((args.out_dir / "augment_lab.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
