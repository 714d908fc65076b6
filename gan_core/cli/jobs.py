"""``python -m gan_core launch|status|stop|resume|cancel|logs|scheduler``: jobs from a shell."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from gan_core.access.identity import cli_identity
from gan_core.access.ownership import record_run_owner
from gan_core.cli.train import add_train_arguments, config_from_args
from gan_core.config import ConfigError
from gan_core.jobs.manager import (
    cancel,
    launch,
    resume,
    run_state,
    status,
    stop,
    tail_text,
)
from gan_core.jobs.scheduler import child_command, schedule
from gan_core.jobs.state import open_run
from gan_core.runs.health import run_health
from gan_core.runs.rundir import CheckpointError, RunDir, RunError, list_runs
from gan_core.runs.states import RunState


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def cli_launch(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core launch",
                                     description="Start training as a background job; prints the run name and returns.")
    add_train_arguments(parser)
    parser.add_argument("--nproc", type=int, default=1, help="processes per node (torchrun + DistributedDataParallel)")
    parser.add_argument("--nnodes", type=int, default=1, help="machines (each runs the same torchrun command)")
    parser.add_argument("--rdzv-endpoint", help="rendezvous HOST:PORT for --nnodes > 1")
    args = parser.parse_args(argv)
    try:
        cfg, name = config_from_args(args)
        run = launch(cfg, name, nproc=args.nproc, nnodes=args.nnodes, rdzv_endpoint=args.rdzv_endpoint,
                     created_by=cli_identity().id)  # the CLI is the operator
        state = run_state(run)
    except (ConfigError, RunError) as exc:
        return _fail(str(exc))
    print(f"{state}: follow with `python -m gan_core logs {run.name} --follow`", file=sys.stderr)
    if args.nnodes > 1:
        cmd = child_command(run.name, {"nproc": args.nproc, "nnodes": args.nnodes, "rdzv_endpoint": args.rdzv_endpoint}, False)
        print("on each other node (same GAN_CHECKPOINTS folder, shared):\n  GAN_CHECKPOINTS="
              f"{run.path.parent} {' '.join(cmd)}", file=sys.stderr)
    print(run.name, flush=True)
    return 0


def _duration(seconds: Any) -> str:
    if seconds is None:
        return "-"
    s = int(float(seconds))
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"


def cli_status(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core status", description="State, step, images/s and last losses of a run.")
    parser.add_argument("name")
    parser.add_argument("--json", action="store_true", help="one machine-readable JSON object")
    args = parser.parse_args(argv)
    try:
        s = status(args.name)
    except RunError as exc:
        return _fail(str(exc))
    warnings = run_health(open_run(args.name, None), s["state"])  # Monitor's Health panel, in words
    if args.json:
        print(json.dumps({**s, "health": [w.__dict__ for w in warnings]}, default=str))
        return 0
    last = s["last"]
    rows = [("run", s["name"]), ("state", s["state"] + (f" (#{s['queue_position']} in queue)" if "queue_position" in s else "")),
            ("step", f"{s['step']}" + (f" / {s['total_steps']}" if s.get("total_steps") else "")),
            ("images/s", f"{s['images_per_s']:.0f}" if s.get("images_per_s") is not None else "-"),
            ("ETA", _duration(s.get("eta_s")) if RunState.is_live(s["state"]) else "-"),
            ("losses", f"D {last['loss_d']:.4f}  G {last['loss_g']:.4f}" if "loss_d" in last and "loss_g" in last else "-"),
            ("checkpoint", f"step {s['checkpoint_step']}" if s.get("checkpoint_step") is not None else "-"),
            ("pid", f"{s['pid']} on {s.get('host', '?')}" if s.get("pid") else "-")]
    if s.get("note"):
        rows.append(("note", s["note"]))
    if s.get("error"):
        rows.append(("error", s["error"]))
    for key, value in rows:
        print(f"{key:<11}{value}")
    for w in warnings:
        print(f"{'problem' if w.level == 'error' else 'warning':<11}{w.title}. {w.text}")
    if s.get("traceback") and s["state"] == "failed":
        print("traceback (tail):\n" + "\n".join(s["traceback"].rstrip().splitlines()[-8:]))
    return 0


def cli_stop(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core stop", description="Stop a job gracefully (checkpoint, then exit).")
    parser.add_argument("name")
    parser.add_argument("--timeout", type=float, default=60, help="seconds before the job is killed (default 60)")
    parser.add_argument("--no-wait", action="store_true", help="return at once instead of waiting for the final state")
    args = parser.parse_args(argv)
    try:
        state = stop(args.name, args.timeout, wait=not args.no_wait)
        s = status(args.name)
    except RunError as exc:
        return _fail(str(exc))
    print(f"{args.name}: {state} at step {s['step']}" + (f" ({s['note']})" if s.get("note") else ""))
    return 0


def cli_resume(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core resume", description="Resume a run in the background.")
    parser.add_argument("name")
    args = parser.parse_args(argv)
    try:
        run = resume(args.name)
        state = run_state(run)
    except RunError as exc:
        return _fail(str(exc))
    print(f"{args.name}: {state}")
    return 0


def cli_cancel(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core cancel", description="Cancel a queued job.")
    parser.add_argument("name")
    args = parser.parse_args(argv)
    try:
        state = cancel(args.name)
    except RunError as exc:
        return _fail(str(exc))
    print(f"{args.name}: {state}")
    return 0


def cli_logs(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core logs", description="Print a run's log.")
    parser.add_argument("name")
    parser.add_argument("--lines", "-n", type=int, default=200, help="lines from the end (default 200)")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing until the run ends")
    args = parser.parse_args(argv)
    try:
        run = open_run(args.name, None)
    except RunError as exc:
        return _fail(str(exc))
    sys.stdout.write(tail_text(run.log_path, args.lines))
    sys.stdout.flush()
    if not args.follow:
        return 0
    pos = run.log_path.stat().st_size if run.log_path.exists() else 0
    try:
        while True:
            state = run_state(run)
            done = not (RunState.is_live(state) or state == RunState.QUEUED)
            if run.log_path.exists():
                with open(run.log_path, "rb") as f:
                    f.seek(pos)
                    data = f.read()
                pos += len(data)
                sys.stdout.write(data.decode("utf-8", "replace"))
                sys.stdout.flush()
            if done:
                return 0
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0


def cli_scheduler(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core scheduler",
                                     description="Start queued jobs while slots are free (one pass, or --watch to loop).")
    parser.add_argument("--watch", action="store_true", help="keep running passes")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between passes with --watch")
    args = parser.parse_args(argv)
    try:
        while True:
            for name in schedule():
                print(f"started {name}", flush=True)
            if not args.watch:
                return 0
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0
    except RunError as exc:
        return _fail(str(exc))


def cmd_runs(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core runs", description="List runs.")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--import", dest="import_file", type=Path, metavar="FILE",
                        help="add a checkpoint from elsewhere (a colleague's .safetensors) as a run, checked before "
                             "anything is written, as Generate's 'Use a checkpoint from elsewhere' does")
    parser.add_argument("--name", default="imported", help="--import: the new run's name (made unique)")
    args = parser.parse_args(argv)
    if args.import_file:
        from gan_core.inference.generators import import_checkpoint  # torch: only for an import

        try:
            run = import_checkpoint(args.import_file, RunDir.unique_name(args.name))
            record_run_owner(run, cli_identity())
        except (CheckpointError, RunError, OSError) as exc:
            return _fail(str(exc))
        print(f"added {run.name} (step {run.latest_checkpoint().step}); sample it with "
              f"`python -m gan_core sample --run {run.name} --out DIR`")
        return 0
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
