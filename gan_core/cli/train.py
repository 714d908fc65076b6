"""``python -m gan_core train``, and the train flags that ``launch`` shares.

Train flags are generated from ``TrainConfig``'s fields (``--batch-size``, ``--lr-g`` ...),
so the CLI, config files and the app share one set of names. Values come from, in order:
the data set's preset, ``--config FILE``, then flags.
"""
from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import sys
import time
from pathlib import Path
from typing import Any

from gan_core.config import PRESETS, ConfigError, TrainConfig, full_help, preset_for, read_config_values
from gan_core.jobs.manager import check_data
from gan_core.runs.locks import TrainerBusy, acquire_trainer_lock, release_trainer_lock
from gan_core.runs.rundir import RunDir, RunError
from gan_core.training.loop import train


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML or JSON config file (flags override it)")
    parser.add_argument("--name", help="run name (default: <data>-<model>-<time>)")
    parser.add_argument("--lr", type=float, help="set both --lr-g and --lr-d")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        if kind == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=full_help(TrainConfig, f.name))
        else:
            parser.add_argument(flag, default=None, help=full_help(TrainConfig, f.name), metavar=f.name.upper())


def config_from_args(args: argparse.Namespace) -> tuple[TrainConfig, str]:
    """The validated config and run name that the flags describe."""
    file_values: dict[str, Any] = {}
    if args.config:
        file_values = read_config_values(args.config)
    flags = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if getattr(args, f.name, None) is not None}
    if args.lr is not None:
        flags.setdefault("lr_g", args.lr)
        flags.setdefault("lr_d", args.lr)
    if flags.get("preset") and flags["preset"] not in PRESETS:
        raise ConfigError("preset", f"unknown preset {flags['preset']!r}; presets: {', '.join(PRESETS)}")
    preset = PRESETS.get(flags.get("preset"), {})
    # A named preset brings its data set (`--preset emoji` alone trains on emoji); --data or the file still win.
    data = flags.get("data") or file_values.get("data") or preset.get("data") or "fashion-mnist"
    base = dict(preset, preset=flags["preset"]) if preset else preset_for(data, flags.get("model") or file_values.get("model"))
    cfg = TrainConfig.from_dict({**base, **file_values, **flags, "data": data})
    name = args.name or f"{Path(str(cfg.data)).stem}-{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}"
    return cfg, name


def cmd_train(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core train", description="Train a GAN in the foreground.")
    add_train_arguments(parser)
    parser.add_argument("--resume", metavar="NAME", help="resume this run from its newest checkpoint")
    args = parser.parse_args(argv)
    faulthandler.enable(sys.__stderr__)  # a crash in native code (SIGSEGV, SIGFPE, ...) prints its Python stack
    try:
        if args.resume:
            ignored = [f"--{k.replace('_', '-')}" for k, v in vars(args).items() if v is not None and k != "resume"]
            if ignored:  # (they were dropped without a word)
                raise ConfigError("resume", f"--resume {args.resume} continues the run with its own config.yaml, so "
                                  f"{', '.join(ignored)} would do nothing. To go on from its weights with other "
                                  f"settings, start a new run with --init-from {args.resume}.")
            run = RunDir.open(args.resume)
            resume = True
        else:
            cfg, name = config_from_args(args)
            check_data(cfg)  # a misspelt --data is an error line, not a failed run folder
            run = RunDir.create(name, cfg)
            resume = False
    except (ConfigError, RunError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        lock = acquire_trainer_lock(run.path)  # a background trainer of this run may be alive
    except TrainerBusy as exc:
        print(f"error: {exc}; stop it first", file=sys.stderr)
        return 2
    print(f"run folder: {run.path}", flush=True)
    try:
        state = train(run, resume=resume)
    finally:
        release_trainer_lock(lock)
    if state not in ("finished", "stopped"):
        print(f"error: run ended {state}: {run.read_status().get('error')}", file=sys.stderr)
        return 1
    return 0
