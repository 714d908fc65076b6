"""``python -m gan_core eval``: FID, KID, precision/recall of a run's checkpoint."""
from __future__ import annotations

import argparse
import json
import sys

from gan_core.data.importer import DatasetError
from gan_core.metrics.features import FEATURES
from gan_core.metrics.quality import MIN_HELD_OUT, evaluate_checkpoint
from gan_core.runs.rundir import CheckpointError, RunError
from gan_core.torch_utils.devices import pick_device


def cli_eval(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core eval",
                                     description="FID, KID, precision/recall (and class accuracy) of a run's checkpoint "
                                                 f"against the data set's held-out split (all its images when under {MIN_HELD_OUT:,} are held out).")
    parser.add_argument("--run", required=True, help="run name")
    parser.add_argument("--checkpoint", help="step number, checkpoint file, or 'best' (default: the newest)")
    parser.add_argument("--n", type=int, default=2000, help="generated images (default 2000)")
    parser.add_argument("--feature", choices=FEATURES, default="auto",
                        help="feature space: auto (Inception if its weights are here, else the offline classifier)")
    parser.add_argument("--raw", action="store_true", help="score the raw G weights instead of the EMA")
    parser.add_argument("--device", default="cpu", help="auto, cpu (default), cuda, cuda:N or mps")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    log = (lambda m: print(m, file=sys.stderr)) if args.json else print
    try:
        result = evaluate_checkpoint(args.run, args.checkpoint, n=args.n, feature=args.feature, ema=not args.raw,
                                     device=pick_device(args.device), log=log)
    except (RunError, CheckpointError, DatasetError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    if result.get("notice"):
        print(f"note: {result['notice']}")
    print(f"feature space: {result['feature_space']}"
          + (f" (held-out accuracy {result['feature_accuracy']:.4f})" if result.get("feature_accuracy") is not None else ""))
    print(f"run {result['run']}, step {result['step']} ({result['weights']} weights), {result['n']} samples vs {result['n_real']} real")
    rows = [("FID", f"{result['fid']:.4f}"), ("KID", f"{result['kid_mean']:.6f} ± {result['kid_std']:.6f}"),
            ("precision", f"{result['precision']:.4f}"), ("recall", f"{result['recall']:.4f}"),
            ("density", f"{result['density']:.4f}"), ("coverage", f"{result['coverage']:.4f}")]
    if result["class_accuracy"] is not None:
        rows.append(("class accuracy", f"{result['class_accuracy']:.4f}"))
    for name, value in rows:
        print(f"  {name:<15}{value}")
    return 0
