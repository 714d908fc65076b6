"""Quality metrics inside a run: every ``eval_every`` steps, score the generator (a pure
function in ``metrics.quality``), log a ``kind: eval`` record, and mark the best checkpoint
by FID (one call on the run folder). Never raises: a failed evaluation is logged."""
from __future__ import annotations

import time
from typing import Any

from gan_core.metrics.quality import RESULT_KEYS, evaluate_generator
from gan_core.runs.rundir import say


def evaluate_in_run(t) -> dict[str, Any] | None:
    """``t``: the ``training.trainer.Trainer``. Returns the eval record, or None."""
    cfg, run = t.cfg, t.run
    if not cfg.run_type.evaluable:
        return None
    G = t.G_ema if t.G_ema is not None else t.G
    try:
        result = evaluate_generator(G, cfg, t.task.classes, t.device, log=lambda m: say(run, m))
    except Exception as exc:  # noqa: BLE001 - metrics must never stop training
        say(run, f"evaluation at step {t.step} failed: {type(exc).__name__}: {exc}")
        return None
    record = {"step": t.step, "kind": "eval", **{k: result[k] for k in RESULT_KEYS},
              "kid_subset_size": result["kid_subset_size"], "seconds": result["seconds"], "time": time.time()}
    if result.get("class_accuracy_by"):
        record["class_accuracy_by"] = result["class_accuracy_by"]
    run.append_metrics(record)
    best = run.read_status().get("best") or {}
    better = not best or best.get("feature_space") != result["feature_space"] or result["fid"] < best.get("fid", float("inf"))
    say(None, (f"eval step {t.step} [{result['feature_space']}]  FID {result['fid']:.3f}  KID {result['kid_mean']:.5f}"
               f"±{result['kid_std']:.5f}  P {result['precision']:.3f}  R {result['recall']:.3f}"
               f"  C {result['coverage']:.3f}"
               + (f"  class acc {result['class_accuracy']:.3f}" if result["class_accuracy"] is not None else "")
               + f"  ({result['seconds']:.1f}s)" + ("  best so far" if better else "")))
    if better:
        t.best = {"step": t.step, "fid": result["fid"], "feature_space": result["feature_space"]}
        run.mark_best(t.step, t.state_tensors(), t.checkpoint_meta(), t.best)
    return record
