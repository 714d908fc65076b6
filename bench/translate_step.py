"""Seconds per training step of the translation models on this CPU, for choosing widths.

Times ``gan_core.runtypes.translation_losses.train_step`` (G forward, D phase, G phase, both Adam
updates) on random images, median of ``--steps`` steps after 3 warm-up steps, one thread
by default (the machine is shared; a run gets about one core).

    python bench/translate_step.py [--threads 1] [--batch 16] [--steps 10]

Prints one line per configuration: model, resolution, channels, widths, parameters and
ms per step and images per second.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from gan_core.models.translation import build_cyclegan, build_pix2pix
from gan_core.runtypes.translation_losses import (
    CycleGANLoss,
    Pix2PixLoss,
    adam_pair,
    train_step,
)

CONFIGS = [
    # (model, resolution, channels, G width, D width, resnet blocks)
    ("pix2pix", 32, 1, 16, 16, 0), ("pix2pix", 32, 1, 32, 32, 0), ("pix2pix", 32, 1, 64, 64, 0),
    ("pix2pix", 64, 3, 32, 32, 0),
    ("cyclegan", 32, 1, 16, 32, 4), ("cyclegan", 32, 1, 32, 32, 4), ("cyclegan", 32, 1, 32, 64, 6),
    ("cyclegan", 64, 3, 16, 32, 4),
]


def time_config(model, res, ch, wg, wd, blocks, batch, steps) -> tuple[float, int]:
    torch.manual_seed(0)
    if model == "pix2pix":
        G, D = build_pix2pix(1, ch, res, wg, wd)
        loss = Pix2PixLoss()
        a = torch.rand(batch, 1, res, res) * 2 - 1
    else:
        G, D = build_cyclegan(ch, res, wg, wd, blocks)
        loss = CycleGANLoss()
        a = torch.rand(batch, ch, res, res) * 2 - 1
    b = torch.rand(batch, ch, res, res) * 2 - 1
    opt_g, opt_d = adam_pair(G, D)
    times = []
    for i in range(steps + 3):
        t = time.perf_counter()
        train_step(loss, G, D, opt_g, opt_d, a, b)
        if i >= 3:
            times.append(time.perf_counter() - t)
    params = sum(p.numel() for p in G.parameters()) + sum(p.numel() for p in D.parameters())
    return statistics.median(times), params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads {args.threads}, batch {args.batch}")
    for model, res, ch, wg, wd, blocks in CONFIGS:
        sec, params = time_config(model, res, ch, wg, wd, blocks, args.batch, args.steps)
        extra = f" blocks {blocks}" if blocks else ""
        print(f"{model:9s} {res:3d}px {ch}ch G{wg:<3d} D{wd:<3d}{extra:10s} {params / 1e6:6.2f} M params  "
              f"{sec * 1e3:7.1f} ms/step  {args.batch / sec:6.1f} img/s", flush=True)


if __name__ == "__main__":
    main()
