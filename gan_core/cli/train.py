"""``python -m gan_core train``, and the train flags that ``launch`` shares.

Train flags are generated from ``TrainConfig``'s fields (``--batch-size``, ``--lr-g`` ...),
so the CLI, config files and the app share one set of names. Values come from, in order:
the data set's preset, ``--config FILE``, then flags.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

from gan_core.config import (
    PRESETS,
    ConfigError,
    TrainConfig,
    preset_for,
    read_config_values,
)
from gan_core.runs.rundir import RunDir, RunError
from gan_core.training.loop import train

_FLAG_HELP = {
    "data": "data set: fashion-mnist (default), mnist, cifar10, digits, shapes, an imported set's name, or a folder/.zip",
    "resolution": "image size in pixels (power of two 16-128 for conv models)",
    "channels": "1 = greyscale, 3 = RGB",
    "conditional": "class-conditional GAN (class embedding in G, projection D)",
    "model": "mlp | dcgan | srgan | inpaint-gan | dvdgan",
    "z_dim": "latent size",
    "width": "base channel count (64 = the classic DCGAN)",
    "g_norm": "batch | conditional (per-class gain and bias in a conditional dcgan/dvdgan) | none", "d_norm": "batch | none",
    "spectral_norm": "spectral normalisation in D",
    "minibatch_std": "dcgan D sees the batch's feature spread (discourages near-identical samples)",
    "scale": "super-resolution factor (srgan): 2 or 4",
    "frames": "frames per clip (dvdgan)",
    "loss": "minimax | nonsaturating | lsgan | hinge | wgan-gp",
    "r1_gamma": "R1 penalty weight on reals (0 = off)",
    "gp_weight": "WGAN-GP penalty weight",
    "d_steps": "discriminator updates per generator update (the original algorithm's k)",
    "batch_size": "images per step", "lr_g": "generator learning rate", "lr_d": "discriminator learning rate",
    "beta1": "Adam beta1", "beta2": "Adam beta2", "ema": "keep an EMA of G's weights (sampling uses it)",
    "ema_decay": "EMA decay per step", "augment": "DiffAugment policies, comma-separated: color,translation,cutout",
    "steps": "generator steps to train", "minutes": "wall-clock budget in minutes (overrides --steps)",
    "log_every": "log metrics every N steps", "sample_every": "write a fixed-noise grid every N steps",
    "checkpoint_every": "write a checkpoint every N steps", "eval_every": "compute FID etc. every N steps (0 = off)",
    "eval_samples": "samples per in-run evaluation", "device": "auto | cpu | cuda | mps", "seed": "random seed",
    "bf16": "bf16 autocast where the device computes bf16 natively (CUDA, AVX512-BF16 CPUs)", "compile": "torch.compile G and D (falls back to eager)",
    "cuda_graph": "on CUDA, capture the whole training step once and replay it as a CUDA graph (falls back to eager)",
    "threads": "CPU threads (0 = all cores)", "init_from": "start G and D from this run's weights (fine-tuning)",
    "preset": "start from a named preset: " + ", ".join(PRESETS), "on_diverge": "stop | rollback",
}


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML or JSON config file (flags override it)")
    parser.add_argument("--name", help="run name (default: <data>-<model>-<time>)")
    parser.add_argument("--lr", type=float, help="set both --lr-g and --lr-d")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        if kind == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=_FLAG_HELP.get(f.name))
        else:
            parser.add_argument(flag, default=None, help=_FLAG_HELP.get(f.name), metavar=f.name.upper())


def config_from_args(args: argparse.Namespace) -> tuple[TrainConfig, str]:
    """The validated config and run name that the flags describe."""
    file_values: dict[str, Any] = {}
    if args.config:
        file_values = read_config_values(args.config)
    flags = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if getattr(args, f.name, None) is not None}
    if args.lr is not None:
        flags.setdefault("lr_g", args.lr)
        flags.setdefault("lr_d", args.lr)
    data = flags.get("data") or file_values.get("data") or "fashion-mnist"
    base = dict(PRESETS[flags["preset"]], preset=flags["preset"]) if flags.get("preset") in PRESETS else preset_for(data)
    if flags.get("preset") and flags["preset"] not in PRESETS:
        raise ConfigError("preset", f"unknown preset {flags['preset']!r}; presets: {', '.join(PRESETS)}")
    cfg = TrainConfig.from_dict({**base, **file_values, **flags, "data": data})
    name = args.name or f"{Path(str(cfg.data)).stem}-{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}"
    return cfg, name


def cmd_train(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core train", description="Train a GAN in the foreground.")
    add_train_arguments(parser)
    parser.add_argument("--resume", metavar="NAME", help="resume this run from its newest checkpoint")
    args = parser.parse_args(argv)
    try:
        if args.resume:
            run = RunDir.open(args.resume)
            resume = True
        else:
            cfg, name = config_from_args(args)
            run = RunDir.create(name, cfg)
            resume = False
    except (ConfigError, RunError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"run folder: {run.path}", flush=True)
    state = train(run, resume=resume)
    if state not in ("finished", "stopped"):
        print(f"error: run ended {state}: {run.read_status().get('error')}", file=sys.stderr)
        return 1
    return 0


