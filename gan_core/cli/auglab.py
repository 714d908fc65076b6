"""``python -m gan_core augment-lab``: run a lab in the foreground or the background, resume,
stop, list and show labs (the lab: ``gan_core.auglab``; its process: ``gan_core.auglab.background``).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

from gan_core.auglab.background import ACTIVE, lab_progress, lab_state, launch_lab, start_background, stop_lab
from gan_core.auglab.classifier import ClassifierBudget
from gan_core.auglab.lab import DEFAULT_AUGMENT, Lab, LabError, LabSpec, lab_summary, list_labs, preflight, run_lab
from gan_core.auglab.report import markdown_table
from gan_core.config import PRESETS
from gan_core.data import DatasetError
from gan_core.data.subsets import SubsetError, is_subset_spec, read_manifest
from gan_core.jobs.processes import start_ticks
from gan_core.runs.provenance import real_images_seen, reuse_too_small
from gan_core.runs.rundir import RunDir, RunError


# ---- CLI -----------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gan_core augment-lab",
                                description="Measure whether GAN samples help a small classifier trained on K real "
                                            "images per class (real only / real + synthetic / synthetic only).")
    p.add_argument("--data", help="labelled data set (built-in, imported set or folder with class subfolders)")
    p.add_argument("--per-class", type=int, nargs="+", metavar="K", help="real training images per class, e.g. 10 50 200")
    p.add_argument("--seeds", type=int, default=3, help="classifier seeds per arm (default 3)")
    p.add_argument("--synthetic-per-class", type=int, nargs="+", default=[500], metavar="M",
                   help="synthetic images per class (default 500)")
    p.add_argument("--name", help="lab name (default auglab-<data>-<time>)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--gan-minutes", type=float, help="wall-clock budget per GAN (default 3)")
    budget.add_argument("--gan-steps", type=int, help="generator steps per GAN")
    p.add_argument("--gan-augment", default=DEFAULT_AUGMENT, help="the GAN's small-data augmentation "
                   f"(the trainer's --augment; default {DEFAULT_AUGMENT}; 'none' for none)")
    p.add_argument("--gan-args", default="", help="more `train` flags for the GAN, e.g. \"--width 16 --batch-size 32\" "
                   "(not --data, --resolution, --channels or --conditional: the lab sets those)")
    p.add_argument("--reuse-run", metavar="RUN", help="use this conditional run as the GAN instead of training one")
    p.add_argument("--force-reuse", action="store_true", help="reuse a run that saw more real images (flagged unfair)")
    p.add_argument("--resolution", type=int, help="image size (default: the data set's preset)")
    p.add_argument("--channels", type=int, choices=(1, 3), help="1 or 3 (default: the data set's preset)")
    p.add_argument("--draw-seed", type=int, default=0, help="seed of the K-per-class draw (default 0)")
    p.add_argument("--clf-steps", type=int, default=ClassifierBudget.steps, help="classifier optimiser steps per arm")
    p.add_argument("--clf-batch", type=int, default=ClassifierBudget.batch_size, help="classifier batch size")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    p.add_argument("--background", action="store_true", help="start in the background and return")
    p.add_argument("--resume", metavar="NAME", help="continue a lab (finished steps are skipped)")
    p.add_argument("--stop", metavar="NAME", help="stop a running lab")
    p.add_argument("--show", metavar="NAME", help="print a lab's progress and table")
    p.add_argument("--list", action="store_true", help="list labs")
    p.add_argument("--json", action="store_true", help="with --show/--list: JSON")
    return p


def spec_from_args(args: argparse.Namespace) -> LabSpec:
    if not args.data or not args.per_class:
        raise LabError("give --data and --per-class (or --resume/--show/--stop/--list NAME)")
    preset = PRESETS.get(args.data, {})
    resolution, channels, draw_seed = preset.get("resolution", 32), preset.get("channels", 3), args.draw_seed
    if args.reuse_run:
        cfg = RunDir.open(args.reuse_run).config()
        resolution, channels = cfg.resolution, cfg.channels
        if is_subset_spec(cfg.data):
            draw_seed = read_manifest(cfg.data).draw_seed  # the draws nest: its images are in ours
    name = args.name or RunDir.unique_name(f"auglab-{Path(args.data).stem}-{time.strftime('%Y%m%d-%H%M%S')}")
    minutes = args.gan_minutes if args.gan_minutes is not None else (None if args.gan_steps else 3.0)
    return LabSpec(name=name, data=args.data, per_class=args.per_class, seeds=args.seeds,
                   synthetic_per_class=args.synthetic_per_class, resolution=args.resolution or resolution,
                   channels=args.channels or channels, draw_seed=draw_seed, gan_steps=args.gan_steps,
                   gan_minutes=minutes, gan_augment=args.gan_augment, gan_args=shlex.split(args.gan_args),
                   reuse_run=args.reuse_run, force_reuse=args.force_reuse,
                   classifier=ClassifierBudget(steps=args.clf_steps, batch_size=args.clf_batch).to_dict(),
                   threads=args.threads).validate()


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _show(lab: Lab, as_json: bool) -> None:
    progress, summary = lab_progress(lab), lab_summary(lab)
    if as_json:
        print(json.dumps({**progress, "summary": summary}, default=str))
        return
    print(f"lab {lab.name}: {progress['state']}, {progress['steps_done']}/{progress['steps_total']} steps"
          + (f", now {progress['current']}" if progress["current"] and progress["state"] in ACTIVE else "")
          + (f"\nerror: {progress['error']}" if progress["error"] else ""))
    for k, gan in summary["gan"].items():
        if gan:
            print(f"K={k}: GAN {gan['run']} saw {gan['seen_total']} real images "
                  f"({gan['seen_max_per_class']} per class at most){'' if gan['fair'] else ' UNFAIR: ' + '; '.join(gan['problems'])}")
    if summary["rows"]:
        print(markdown_table(summary))


def cli_augment_lab(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.list:
            rows = [lab_progress(lab) for lab in list_labs()]
            if args.json:
                print(json.dumps(rows, default=str))
            for r in rows if not args.json else []:
                print(f"{r['name']:<40} {r['state']:<9} {r['steps_done']:>4}/{r['steps_total']:<4} {r['data']} K={r['per_class']}")
            return 0
        if args.show:
            _show(Lab.open(args.show), args.json)
            return 0
        if args.stop:
            print(f"{args.stop}: {stop_lab(args.stop)}")
            return 0
        if args.resume:
            lab = Lab.open(args.resume)
            if args.background:
                start_background(lab)
                print(lab.name)
                return 0
            if lab_state(lab) in ACTIVE and lab.status().get("pid") != os.getpid():
                raise LabError(f"lab {lab.name} is already running (pid {lab.status().get('pid')})")
        else:
            spec = spec_from_args(args)
            if args.reuse_run:
                seen = real_images_seen(args.reuse_run)
                _say(f"run {args.reuse_run} saw {seen['total']} real images of {seen['source']} "
                     f"(at most {max(seen['per_class'].values())} per class)")
                too_small = reuse_too_small(seen, spec.per_class)
                if too_small and not args.force_reuse:
                    raise LabError(f"run {args.reuse_run} saw up to {max(seen['per_class'].values())} real images per "
                                   f"class, more than K={', '.join(map(str, too_small))}: its samples would carry more real data than the "
                                   "classifier gets. Drop those K, train a GAN per K, or pass --force-reuse "
                                   "(results flagged unfair)")
            if args.background:
                lab = launch_lab(spec)  # checks first
                print(f"started lab {lab.name} in the background: `python -m gan_core augment-lab --show {lab.name}`",
                      file=sys.stderr)
                print(lab.name)
                return 0
            preflight(spec)
            lab = Lab.create(spec)
        if lab.status().get("pid") != os.getpid():  # run here, not as the child start_background made
            (lab.path / "STOP").unlink(missing_ok=True)  # an old, unhonoured stop request
        lab.write_status(pid=os.getpid(), pid_start=start_ticks(os.getpid()))
        _say(f"lab {lab.name} in {lab.path}")
        state = run_lab(lab, log=_say)
        if state == "finished":
            print(markdown_table(lab_summary(lab)))
        return 0 if state in ("finished", "stopped") else 1
    except (LabError, RunError, DatasetError, SubsetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
