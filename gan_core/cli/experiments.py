"""``sweep``, ``compare`` and ``report``: queue a sweep, compare runs, write a report, from a shell."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from gan_core.cli.train import add_train_arguments, config_from_args
from gan_core.config import ConfigError
from gan_core.experiments.compare import NOT_SETTINGS, config_diff, load_runs, run_row, runs_matching, seed_groups
from gan_core.experiments.report import write_report
from gan_core.experiments.sweep import SweepError, expand, parse_vary, queue
from gan_core.runs.rundir import RunError, checkpoints_root


def cli_sweep(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core sweep",
                                     description="Queue one background run per combination of one or two settings "
                                                 "and seeds, tagged with the sweep's name (compare them on Compare).")
    add_train_arguments(parser)
    parser.add_argument("--vary", action="append", default=[], metavar="FIELD=V1,V2",
                        help="a setting and the values to try (once or twice); a list setting's value joins its items "
                             "with + (augment=color+translation,ada,none)")
    parser.add_argument("--seeds", type=int, default=1, help="runs per combination, seeds seed, seed+1, ...")
    parser.add_argument("--dry-run", action="store_true", help="print the runs without queueing them")
    args = parser.parse_args(argv)
    sweep = args.name or f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    args.name = sweep
    try:
        vary = [parse_vary(v) for v in args.vary]
        base, _ = config_from_args(args)
        plan = expand(base.to_dict(), vary, args.seeds, sweep)
        if args.dry_run:
            for name, _ in plan:
                print(name)
            return 0
        runs = queue(plan)
    except (ConfigError, SweepError, RunError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"queued {len(runs)} runs tagged {sweep}: compare with `python -m gan_core compare --tag {sweep}`",
          file=sys.stderr)
    for run in runs:
        print(run.name)
    return 0


def cli_compare(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core compare",
                                     description="The settings that differ between runs, and their quality and cost.")
    parser.add_argument("runs", nargs="*", help="run names (default: every run with --tag, or all)")
    parser.add_argument("--tag", action="append", default=[], help="only runs with this tag (e.g. a sweep's name)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        runs = load_runs(args.runs) if args.runs else runs_matching(tag=args.tag)
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not runs:
        print(f"no runs{' tagged ' + ', '.join(args.tag) if args.tag else ''} in {checkpoints_root()}", file=sys.stderr)
        return 2
    rows = [run_row(r) for r in runs]
    diff = config_diff({r.name: r.config for r in runs}, ignore=NOT_SETTINGS)
    groups = seed_groups(runs)
    if args.json:
        print(json.dumps({"runs": rows, "diff": diff, "seed_groups": [g.__dict__ for g in groups]}, indent=2, default=str))
        return 0
    print("settings that differ:" if diff else "no settings differ")
    for f, values in diff.items():
        print(f"  {f}: " + ", ".join(f"{n}={v}" for n, v in values.items()))
    print()
    for row in rows:
        fid = f"FID best {row['best_fid']:.3f} (step {row['best_step']}) final {row['final_fid']:.3f} [{row['feature_space']}]" \
            if row["best_fid"] is not None else "no evaluation"
        ips = f"{row['images_per_s']:.0f} img/s" if row["images_per_s"] else "-"
        print(f"{row['run']}  {row['state']}  {fid}  {row['images_seen'] or 0:,} images  {ips}")
    for g in groups:
        parts = [f"{m} {mean:.4g} ± {sd:.2g} (n={n})" for m, (mean, sd, n) in g.stats.items()]
        print(f"\nseed group {', '.join(g.runs)} {g.setting or ''}:\n  " + "\n  ".join(parts))
    return 0


def cli_report(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core report",
                                     description="Write one self-contained HTML report (samples, curves, metrics, "
                                                 "config, model card) of one or more runs.")
    parser.add_argument("runs", nargs="+", help="run names")
    parser.add_argument("--out", type=Path, default=Path("report.html"), help="output file (default report.html)")
    parser.add_argument("--title", help="heading of the report")
    args = parser.parse_args(argv)
    try:
        path = write_report(args.runs, args.out, title=args.title)
    except (RunError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0
