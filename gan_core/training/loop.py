"""The training loop: one plain function over a run type's task (see ``runtypes.base``).

``train(run)`` trains the run in ``run``'s folder from its config, or resumes it from its
newest good checkpoint. It logs to ``metrics.jsonl`` every ``log_every`` steps (values
accumulated on the device, so the step never waits on the host), writes a fixed-noise
grid every ``sample_every`` steps and a checkpoint every ``checkpoint_every`` steps and at
the end. SIGTERM/SIGINT or a ``STOP`` file in the run folder stop it gracefully.

Under ``torchrun`` (``WORLD_SIZE`` > 1) G and D are wrapped in DistributedDataParallel,
the batch is split across ranks, and rank 0 alone writes the run folder.
"""
from __future__ import annotations

import math
import os
import signal
import socket
import time
import traceback
from typing import Any

import torch

from gan_core.config import TrainConfig
from gan_core.runs.rundir import CheckpointError, RunDir, load_checkpoint_file, say
from gan_core.torch_utils.devices import Dist
from gan_core.torch_utils.modules import count_params
from gan_core.training.evaluation import evaluate_in_run, prepare_evaluation
from gan_core.training.trainer import Trainer

STAT_KEYS = ("loss_d", "loss_g", "d_real", "d_fake", "acc_real", "acc_fake", "grad_norm_g", "grad_norm_d")


class Diverged(RuntimeError):
    """Losses or weights became NaN/Inf."""


class _StopSignal:
    """Turns SIGTERM/SIGINT into a flag the loop checks between steps."""

    def __init__(self):
        self.requested = False
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. inside a test runner thread)
                pass

    def _handle(self, signum, frame):
        self.requested = True


# ---- the loop ------------------------------------------------------------------------
def train(run: RunDir, resume: bool = False) -> str:
    """Train (or resume) ``run`` to the end of its budget. Returns the final state."""
    cfg = run.config()
    dist = Dist.from_env()
    if dist.world > 1:
        import torch.distributed as td  # (only under torchrun)

        td.init_process_group("nccl" if torch.cuda.is_available() and cfg.device != "cpu" else "gloo")
    main = dist.main
    stop = _StopSignal()
    trainer: Trainer | None = None
    try:
        trainer = Trainer(run, cfg, dist)
        ckpt = run.latest_checkpoint() if resume else None
        if ckpt is not None:
            tensors, meta = load_checkpoint_file(ckpt.weights)
            trainer.load_state(tensors, meta)
            if main:
                run.truncate_metrics_after(trainer.step)
                say(run, f"resumed {run.name} at step {trainer.step} from {ckpt.weights.name}")
        elif cfg.init_from:
            message = trainer.init_from(cfg.init_from)
            if main:
                say(run, message)
        if main:
            run.stop_path.unlink(missing_ok=True)
            run.write_status(state="running", pid=os.getpid(), host=socket.gethostname(), step=trainer.step,
                             total_steps=_target_steps(cfg), device=str(trainer.device), world_size=dist.world,
                             started=time.time(), error=None, traceback=None)
            say(run, f"training {run.name}: {cfg.model} on {cfg.data} ({cfg.resolution}px) on {trainer.device}"
                     f" x{dist.world}{' bf16' if trainer.bf16 else ''}, G {count_params(trainer.G):,} params, D {count_params(trainer.D):,} params")
            if trainer.step == 0:
                trainer.write_sample()
        state = _loop(trainer, stop)
    except Diverged as exc:
        state = "diverged"
        if main:
            run.write_status(state=state, error=str(exc), ended=time.time())
            say(run, f"diverged: {exc}")
    except CheckpointError as exc:
        state = "failed"
        if main:
            run.write_status(state=state, error=str(exc), ended=time.time())
            say(run, f"stopped: {exc}")
    except BaseException as exc:
        state = "failed"
        if main:
            tb = traceback.format_exc()
            run.write_status(state=state, error=f"{type(exc).__name__}: {exc}", traceback=tb[-4000:], ended=time.time())
            say(run, f"failed: {type(exc).__name__}: {exc}\n{tb}")
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
    finally:
        if dist.world > 1:
            import torch.distributed as td

            if td.is_initialized():
                # Every rank ended normally: wait for the slowest (rank 0 writes the last checkpoint), so
                # no rank closes its sockets under a peer's gloo thread (once in CI: SIGABRT at exit).
                if state != "failed":
                    td.barrier()
                td.destroy_process_group()
    return state


def _target_steps(cfg: TrainConfig) -> int | None:
    return None if cfg.minutes > 0 else cfg.steps


def _loop(t: Trainer, stop: _StopSignal) -> str:
    cfg, run, main = t.cfg, t.run, t.dist.main
    budget_s = cfg.minutes * 60 if cfg.minutes > 0 else math.inf
    prepare_evaluation(t)  # a one-off feature-space build is no training time
    last_log_time, last_log_images = time.perf_counter(), t.images_seen
    session_start, elapsed_at_start = time.perf_counter(), t.elapsed
    state = "finished"
    while True:
        if cfg.minutes <= 0 and t.step >= cfg.steps or t.elapsed >= budget_s:
            break
        if cfg.lr_decay:
            t.decay_lr(t.elapsed / budget_s if cfg.minutes > 0 else t.step / cfg.steps)
        t.train_step()
        t.elapsed = elapsed_at_start + time.perf_counter() - session_start
        at_log = t.step % cfg.log_every == 0
        at_ckpt = t.step % cfg.checkpoint_every == 0
        if at_log or at_ckpt:
            stats = t.read_stats()
            if any(not math.isfinite(v) for v in stats.values()):
                outcome = _handle_divergence(t, stats)
                if outcome != "rolled-back":
                    return outcome
                last_log_time, last_log_images = time.perf_counter(), t.images_seen
                session_start, elapsed_at_start = time.perf_counter(), t.elapsed
                continue
            _log_interval(t, stats, time.perf_counter() - last_log_time, t.images_seen - last_log_images)
            last_log_time, last_log_images = time.perf_counter(), t.images_seen
        # One process checks every step; ranks of a DDP run agree at log steps (a collective).
        if (t.dist.world == 1 or at_log or at_ckpt) and _stop_requested(t, stop):
            state = "stopped"
            break
        if t.step % cfg.sample_every == 0:
            t.write_sample()
        if at_ckpt:
            t.save()
        if cfg.eval_every and t.step % cfg.eval_every == 0 and main:
            evaluate_in_run(t)
    if t.stats.count:  # ended between log steps (a stop): log that partial interval too
        stats = t.read_stats()
        if any(not math.isfinite(v) for v in stats.values()):
            return _handle_divergence(t, stats, allow_rollback=False)
        _log_interval(t, stats, time.perf_counter() - last_log_time, t.images_seen - last_log_images)
    t.write_sample()
    t.save()
    if main:
        run.write_status(state=state, step=t.step, images_seen=t.images_seen, elapsed_s=round(t.elapsed, 1),
                         eta_s=0 if state == "finished" else None, ended=time.time())
        say(run, f"{state} at step {t.step} ({t.images_seen:,} images, {t.elapsed:.0f}s)")
    return state


def _log_interval(t: Trainer, stats: dict[str, float], seconds: float, images: int) -> None:
    """One metrics record and a status update for the steps since the last log (rank 0)."""
    if not t.dist.main:
        return
    ips = images / max(seconds, 1e-9)
    record = {"step": t.step, "images": t.images_seen, "elapsed_s": round(t.elapsed, 3),
              "images_per_s": round(ips, 2), **{k: round(v, 6) for k, v in stats.items()}, "time": time.time()}
    if t.cfg.lr_decay:
        record["lr_g"] = t.opt_g.param_groups[0]["lr"]
    t.run.append_metrics(record)
    t.run.write_status(step=t.step, images_seen=t.images_seen, images_per_s=round(ips, 2),
                       elapsed_s=round(t.elapsed, 1), eta_s=_remaining_s(t.cfg, t, ips),
                       last={k: round(v, 4) for k, v in stats.items() if k in STAT_KEYS})
    say(None, _log_line(t.step, t.cfg, record))


def _stop_requested(t: Trainer, stop: _StopSignal) -> bool:
    flag = stop.requested or t.run.stop_path.exists()
    if t.dist.world > 1:  # every rank must agree to stop at the same step
        import torch.distributed as td

        f = torch.tensor([float(flag)], device=t.device)
        td.all_reduce(f, op=td.ReduceOp.MAX)
        flag = bool(f.item())
    return flag


def _handle_divergence(t: Trainer, stats: dict[str, float], allow_rollback: bool = True) -> str:
    bad = ", ".join(k for k, v in stats.items() if not math.isfinite(v))
    ckpt = t.run.latest_checkpoint()
    if allow_rollback and t.cfg.on_diverge == "rollback" and ckpt is not None and t.rollbacks < 3:
        tensors, meta = load_checkpoint_file(ckpt.weights)
        t.load_state(tensors, meta)
        t.rollbacks += 1
        for opt in (t.opt_g, t.opt_d):
            for group in opt.param_groups:
                group["lr"] *= 0.5
                group["initial_lr"] *= 0.5
        if t.dist.main:
            t.run.truncate_metrics_after(t.step)
            say(t.run, f"non-finite {bad}: rolled back to step {t.step} and halved the learning rates")
        return "rolled-back"
    where = f"the last good checkpoint (step {ckpt.step}) is intact" if ckpt else "no checkpoint had been written yet"
    raise Diverged(
        f"training diverged before step {t.step}: {bad} became NaN or infinite; {where}. "
        "Try a lower learning rate, spectral norm in D, the hinge loss, or --on-diverge rollback."
    )


def _remaining_s(cfg: TrainConfig, t: Trainer, ips: float) -> float | None:
    if cfg.minutes > 0:
        return round(max(cfg.minutes * 60 - t.elapsed, 0.0), 1)
    if ips <= 0:
        return None
    return round((cfg.steps - t.step) * cfg.batch_size * cfg.d_steps / ips, 1)


def _log_line(step: int, cfg: TrainConfig, r: dict[str, Any]) -> str:
    total = "" if cfg.minutes > 0 else f"/{cfg.steps}"
    return (f"step {step}{total}  loss_D {r['loss_d']:.4f}  loss_G {r['loss_g']:.4f}  D(x) {r['d_real']:.3f}"
            f"  D(G(z)) {r['d_fake']:.3f}  acc {r['acc_real']:.2f}/{r['acc_fake']:.2f}  {r['images_per_s']:.0f} img/s")
