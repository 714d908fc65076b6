"""``python -m gan_core <command> ...``: everything the app does, from a shell.

Each command lives in a module of this package as ``fn(argv: list[str]) -> int``.
"""
from __future__ import annotations

import sys
from typing import Callable

from gan_core.cli.auglab import cli_augment_lab
from gan_core.cli.data import data_cli
from gan_core.cli.eval import cli_eval
from gan_core.cli.experiments import cli_compare, cli_report, cli_sweep
from gan_core.cli.jobs import (
    cli_cancel,
    cli_launch,
    cli_logs,
    cli_resume,
    cli_scheduler,
    cli_status,
    cli_stop,
    cmd_runs,
)
from gan_core.cli.restore import cli_inpaint, cli_superres
from gan_core.cli.sample import cmd_sample
from gan_core.cli.train import cmd_train
from gan_core.cli.translate import cli_translate

COMMANDS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "train": (cmd_train, "train a GAN in the foreground"),
    "sample": (cmd_sample, "write PNG samples (GIFs for video runs) from a trained generator"),
    "runs": (cmd_runs, "list runs"),
    "data": (data_cli, "import, list, delete or download data sets"),
    "launch": (cli_launch, "start training as a background job (returns at once)"),
    "status": (cli_status, "state, step, images/s and last losses of a run"),
    "stop": (cli_stop, "stop a running job gracefully (checkpoint, then exit)"),
    "resume": (cli_resume, "resume a stopped, crashed or failed run in the background"),
    "cancel": (cli_cancel, "cancel a queued job"),
    "logs": (cli_logs, "print (or --follow) a run's log"),
    "scheduler": (cli_scheduler, "start queued jobs when slots free up"),
    "eval": (cli_eval, "FID, KID, precision/recall of a run's checkpoint"),
    "sweep": (cli_sweep, "queue one run per combination of 1-2 settings x seeds"),
    "compare": (cli_compare, "settings that differ between runs, quality and cost"),
    "report": (cli_report, "one self-contained HTML report of runs"),
    "inpaint": (cli_inpaint, "fill masked holes in images"),
    "superres": (cli_superres, "raise the resolution of images"),
    "augment-lab": (cli_augment_lab, "does GAN data help a classifier? K real/class vs + synthetic"),
    "translate": (cli_translate, "translate images with a pix2pix or CycleGAN run"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m gan_core <command> [--help]\n\ncommands:")
        for name, (_, text) in COMMANDS.items():
            print(f"  {name:<11} {text}")
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command in COMMANDS:
        return COMMANDS[command][0](rest)
    print(f"error: unknown command {command!r}; see `python -m gan_core --help`", file=sys.stderr)
    return 2
