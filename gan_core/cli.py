"""``python -m gan_core <command> ...``: everything the app does, from a shell.

Train flags are generated from ``TrainConfig``'s fields (``--batch-size``, ``--lr-g`` ...),
so the CLI, config files and the app share one set of names. Values come from, in order:
the data set's preset, ``--config FILE``, then flags.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import time
from pathlib import Path
from typing import Any, Callable

from .config import PRESETS, ConfigError, TrainConfig, preset_for, read_config_values

# Commands implemented in other modules as ``fn(argv: list[str]) -> int`` (imported lazily).
EXTERNAL_COMMANDS: dict[str, tuple[str, str, str]] = {
    "data": ("gan_core.data", "data_cli", "import, list, delete or download data sets"),
    "launch": ("gan_core.jobs", "cli_launch", "start training as a background job (returns at once)"),
    "status": ("gan_core.jobs", "cli_status", "state, step, images/s and last losses of a run"),
    "stop": ("gan_core.jobs", "cli_stop", "stop a running job gracefully (checkpoint, then exit)"),
    "resume": ("gan_core.jobs", "cli_resume", "resume a stopped, crashed or failed run in the background"),
    "cancel": ("gan_core.jobs", "cli_cancel", "cancel a queued job"),
    "logs": ("gan_core.jobs", "cli_logs", "print (or --follow) a run's log"),
    "scheduler": ("gan_core.jobs", "cli_scheduler", "start queued jobs when slots free up"),
    "eval": ("gan_core.metrics", "cli_eval", "FID, KID, precision/recall of a run's checkpoint"),
    "inpaint": ("gan_core.restore", "cli_inpaint", "fill masked holes in images"),
    "superres": ("gan_core.restore", "cli_superres", "raise the resolution of images"),
}

_FLAG_HELP = {
    "data": "data set: fashion-mnist (default), mnist, cifar10, digits, shapes, emoji, an imported set's name, or a folder/.zip",
    "resolution": "image size in pixels (power of two 16-128 for conv models)",
    "channels": "1 = greyscale, 3 = RGB",
    "conditional": "class-conditional GAN (class embedding in G, projection D)",
    "model": "mlp | dcgan | stylegan2 (colour images 32-256 px) | srgan | inpaint-gan | dvdgan",
    "z_dim": "latent size",
    "width": "base channel count (64 = the classic DCGAN)",
    "g_norm": "batch | conditional (per-class gain and bias in a conditional dcgan/dvdgan) | none", "d_norm": "batch | none",
    "spectral_norm": "spectral normalisation in D",
    "minibatch_std": "dcgan D sees the batch's feature spread (discourages near-identical samples)",
    "scale": "super-resolution factor (srgan): 2 or 4",
    "frames": "frames per clip (dvdgan)",
    "loss": "minimax | nonsaturating | lsgan | hinge | wgan-gp",
    "r1_gamma": "R1 penalty weight on reals (0 = off)",
    "r1_every": "lazy R1: apply the penalty every N steps, weighted xN (StyleGAN2 uses 16)",
    "mapping_layers": "stylegan2: fully connected layers from z to w",
    "style_mixing": "stylegan2: share of training batches that mix two latents (0 = off)",
    "ada_target": "--augment ada: target of r_t = E[sign D(real)]; above it p rises",
    "ada_kimg": "--augment ada: thousands of images for p to go from 0 to 1",
    "gp_weight": "WGAN-GP penalty weight",
    "d_steps": "discriminator updates per generator update (the original algorithm's k)",
    "batch_size": "images per step", "lr_g": "generator learning rate", "lr_d": "discriminator learning rate",
    "beta1": "Adam beta1", "beta2": "Adam beta2", "ema": "keep an EMA of G's weights (sampling uses it)",
    "ema_decay": "EMA decay per step", "augment": "DiffAugment policies, comma-separated: color,translation,cutout; or ada (adaptive, alone)",
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
    from .rundir import RunDir, RunError
    from .train import train

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


def cmd_sample(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core sample", description="Write N samples from a trained generator: PNGs, or one GIF per clip for video runs.")
    parser.add_argument("--run", help="run name (its newest checkpoint unless --checkpoint)")
    parser.add_argument("--checkpoint", help="checkpoint file (.safetensors, or weights-only .pt/.pth), or a step number of --run")
    parser.add_argument("--n", type=int, default=16, help="number of images")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--class", dest="class_", help="class index or name (conditional runs), e.g. 7 or sneaker")
    parser.add_argument("--seed", type=int, default=0, help="first seed; image i uses seed+i")
    parser.add_argument("--truncation", type=float, default=None, help="truncate z to [-T, T] (e.g. 0.7 for cleaner, less varied images); "
                        "stylegan2: psi from 0 (the mean image) to 1 (none), pulling w toward its average")
    parser.add_argument("--raw", action="store_true", help="use the raw G weights instead of the EMA")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    from .rundir import RunError
    from .sample import load_generator, resolve_class, write_samples

    if args.n < 1 or args.n > 100_000:
        print("error: --n must be from 1 to 100000", file=sys.stderr)
        return 2
    try:
        loaded = load_generator(args.run, args.checkpoint, ema=not args.raw, device=args.device)
        class_index = resolve_class(args.class_, loaded.classes) if args.class_ is not None else None
        if loaded.config.model == "dvdgan":
            from .video import write_clip_samples

            paths = write_clip_samples(loaded, args.out, args.n, seed=args.seed, class_index=class_index, truncation=args.truncation)
        else:
            paths = write_samples(loaded, args.out, args.n, seed=args.seed, class_index=class_index, truncation=args.truncation)
    except (RunError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(paths)} files to {args.out} (step {loaded.step}, {loaded.weights} weights)")
    return 0


def cmd_runs(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core runs", description="List runs.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from .rundir import RunError, list_runs

    try:
        from .jobs import run_state
    except ImportError:  # jobs layer absent: trust status.json
        def run_state(run):
            return run.read_status().get("state", "?")

    rows = []
    for run in list_runs():
        status = run.read_status()
        try:
            cfg = run.config()
            model, data = cfg.model + (" (cond)" if cfg.conditional else ""), cfg.data
        except RunError:
            model, data = "?", "?"
        rows.append({"name": run.name, "model": model, "data": data, "step": status.get("step", 0), "state": run_state(run)})
    if args.json:
        import json

        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no runs yet: try `python -m gan_core train --data shapes --steps 200`")
        return 0
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in rows[0]}
    print("  ".join(k.ljust(w) for k, w in widths.items()))
    for r in rows:
        print("  ".join(str(r[k]).ljust(w) for k, w in widths.items()))
    return 0


COMMANDS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "train": (cmd_train, "train a GAN in the foreground"),
    "sample": (cmd_sample, "write PNG samples (GIFs for video runs) from a trained generator"),
    "runs": (cmd_runs, "list runs"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m gan_core <command> [--help]\n\ncommands:")
        for name, (_, text) in COMMANDS.items():
            print(f"  {name:<10} {text}")
        for name, (_, _, text) in EXTERNAL_COMMANDS.items():
            print(f"  {name:<10} {text}")
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command in COMMANDS:
        return COMMANDS[command][0](rest)
    if command in EXTERNAL_COMMANDS:
        module_name, function, _ = EXTERNAL_COMMANDS[command]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            print(f"error: `{command}` is not available in this build ({module_name} is missing)", file=sys.stderr)
            return 2
        return getattr(module, function)(rest)
    print(f"error: unknown command {command!r}; see `python -m gan_core --help`", file=sys.stderr)
    return 2
