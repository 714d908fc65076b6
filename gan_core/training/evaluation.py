"""Quality metrics inside a run: every ``eval_every`` steps, score the generator (a pure
function in ``metrics.quality``), log a ``kind: eval`` record, and mark the best checkpoint
by FID (one call on the run folder). Never raises: a failed evaluation is logged."""
from __future__ import annotations

import time
from typing import Any

import torch

from gan_core.metrics.features import get_extractor
from gan_core.metrics.quality import RESULT_KEYS, evaluate_generator
from gan_core.runs.rundir import say


def prepare_evaluation(t) -> None:
    """Load the feature space before the run's clock starts. Training the offline classifier,
    once per data set on a machine, took 50 s for Fashion-MNIST; counted as training time, a
    sweep's first run showed 158 images/s against its seed twin's 1,043 on Compare and in its
    seed group (and lost that time from a --minutes budget). Never raises: evaluation will say."""
    cfg = t.cfg
    if not (cfg.eval_every and t.dist.main and cfg.run_type.evaluable):
        return
    if cfg.minutes <= 0 and cfg.steps < (t.step // cfg.eval_every + 1) * cfg.eval_every:
        return  # no evaluation step left in this run's budget: nothing to build (a 200-step run paid 5-50 s)
    devices = [t.device] if t.device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):  # training a classifier must not move the run's random streams
            get_extractor(cfg.data, cfg.resolution, cfg.channels, "auto", device=t.device, log=lambda m: say(t.run, m))
    except Exception as exc:  # noqa: BLE001 - the first evaluation meets it again and logs it
        say(t.run, f"preparing the evaluation's feature space failed: {type(exc).__name__}: {exc}")


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
