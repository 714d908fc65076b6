"""The training loop: one plain function over a task (see ``tasks.py``).

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
import sys
import time
import traceback
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from . import losses
from .config import TrainConfig
from .rundir import CheckpointError, RunDir, load_checkpoint_file
from .tasks import Batch, task_for

STAT_KEYS = ("loss_d", "loss_g", "d_real", "d_fake", "acc_real", "acc_fake", "grad_norm_g", "grad_norm_d")


class Diverged(RuntimeError):
    """Losses or weights became NaN/Inf."""


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: cuda was asked for but torch sees no CUDA GPU here (try --device auto)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device: mps was asked for but is not available here (try --device auto)")
    if name == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device(name)


def bf16_supported(device: torch.device) -> bool:
    """bf16 autocast pays on CUDA and on CPUs with native bf16 (AVX512-BF16/AMX via oneDNN)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


@dataclass
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "Dist":
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)))


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


def say(run: RunDir | None, message: str) -> None:
    """Print a log line; also append it to the run's log unless stdout already is that log."""
    print(message, flush=True)
    if run is not None and os.environ.get("GAN_STUDIO_STDOUT_IS_LOG") != "1":
        run.log(message)


class Trainer:
    def __init__(self, run: RunDir, cfg: TrainConfig, dist: Dist | None = None):
        self.run, self.cfg = run, cfg
        self.dist = dist or Dist.from_env()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = pick_device(cfg.device)
        torch.manual_seed(cfg.seed + self.dist.rank)
        self.task = task_for(cfg, self.device, self.dist.rank)
        self.G, self.D = self.task.G.to(self.device), self.task.D.to(self.device)
        self.cuda = self.device.type == "cuda"
        # channels_last suits oneDNN (CPU) and cuDNN alike; only 4-D weights are affected.
        # Not under torch.compile: inductor lays tensors out itself, and with channels_last
        # weights its CUDA code asserted strides that cuDNN did not give (H100, torch 2.11).
        if not cfg.compile:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        if self.cuda:
            torch.backends.cudnn.benchmark = True
        self.G_ema = _copy_module(self.G) if cfg.ema else None
        # A CUDA graph of the whole step: at batch 64 the eager step is launch-bound (an H100
        # sat idle 80-90% of it); replayed as one graph it ran 5-6x the images/s (BENCHMARKS.md).
        # (lazy R1 makes every r1_every-th step different: such runs go eagerly)
        self.use_graph = (cfg.cuda_graph and self.cuda and self.dist.world == 1 and not cfg.compile
                          and getattr(self.task, "graph_safe", False) and cfg.r1_every == 1)
        self._graph: torch.cuda.CUDAGraph | None = None
        self._graph_warm = 0  # eager steps since the graph was last dropped (capture needs 2)
        if self.use_graph:
            self.task.source.generator_on_device()
        fused = {"fused": True, "capturable": self.use_graph} if self.cuda else {"foreach": True}
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2), **fused)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2), **fused)
        self.fixed = self.task.fixed_inputs(cfg.seed)
        self.step = 0
        self.images_seen = 0
        self.elapsed = 0.0
        self.rollbacks = 0
        self.best: dict[str, Any] | None = run.read_status().get("best")  # best-FID step (gan_core.metrics)
        self.batch = cfg.batch_size // self.dist.world
        self.bf16 = cfg.bf16 and bf16_supported(self.device)
        # (autocast's cast cache would hand a graph tensors freed after capture)
        self.autocast = (lambda: torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=not self.use_graph)
                         if self.bf16 else nullcontext())
        self.G_train, self.D_train = self.G, self.D
        if self.dist.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.cuda else None
            self.G_train = DDP(self.G, device_ids=ids)
            self.D_train = DDP(self.D, device_ids=ids)
        self._eager = (self.G_train, self.D_train)
        if cfg.compile:
            self.G_train, self.D_train = _maybe_compile(self.G_train), _maybe_compile(self.D_train)
        self._compile_pending = cfg.compile
        # Fault injection for tests: poison D's loss once at this step (env, documented in README).
        self._inject_nan_at = int(os.environ.get("GAN_STUDIO_INJECT_NAN_AT_STEP", "0") or 0)
        self._stats: dict[str, torch.Tensor] = {}
        self._stat_count = 0

    # ---- one step -------------------------------------------------------------------
    def step_once(self) -> None:
        """``train_step``, except that a compiler failure on the first (compiling) step
        falls back to the eager modules. The failure surfaces in a forward pass of that
        step (D is compiled again for G's step), so at worst the retry repeats one D update."""
        if not self._compile_pending:
            return self.train_step()
        self._compile_pending = False
        try:
            self.train_step()
        except Exception as exc:  # noqa: BLE001 - any compiler failure means: run eagerly
            self.G_train, self.D_train = self._eager
            self._zero_stats()
            say(self.run if self.dist.main else None,
                f"torch.compile failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}); running eagerly")
            self.train_step()

    def train_step(self) -> None:
        """One generator step: the device work (eagerly, or replayed from a CUDA graph), then
        the host's bookkeeping."""
        if self._graph is None and self.use_graph and not self._inject_nan_at and self._graph_warm >= 2:
            self._capture()
        if self._graph is not None:  # (never captured while a fault injection is pending)
            self._graph.replay()
        elif self.use_graph:  # warm-up for a capture: on a side stream, as CUDA graphs ask
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                self._device_step()
            torch.cuda.current_stream(self.device).wait_stream(side)
            self._graph_warm += 1
        else:
            self._device_step()
        self.images_seen += self.batch * self.dist.world * self.cfg.d_steps
        if self.G_ema is not None:
            _update_ema(self.G_ema, self.G, min(self.cfg.ema_decay, (1 + self.step) / (10 + self.step)))
        self.step += 1
        self._stat_count += 1
        if hasattr(self.task, "after_step"):  # host-side hook between steps (ADA's p update)
            self.task.after_step(self.step)

    def _capture(self) -> None:
        """Record one step's kernels as a CUDA graph (recording runs nothing). Anything the
        step does on the host that a graph cannot hold (a sync, a copy from host memory)
        fails the capture; training then goes on eagerly and says why."""
        graph = torch.cuda.CUDAGraph()
        graph.register_generator_state(self.task.source.generator)
        try:
            with torch.cuda.graph(graph):
                self._device_step()
        except Exception as exc:  # noqa: BLE001 - any capture failure means: run eagerly
            self.use_graph = False
            say(self.run if self.dist.main else None,
                f"CUDA graph capture failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}); running eagerly")
            return
        self._graph = graph

    def drop_graph(self) -> None:
        """Forget the captured step: it holds this moment's optimizer tensors and learning
        rates, which a checkpoint load or a rollback replaces. The next steps capture anew."""
        self._graph, self._graph_warm = None, 0

    def _device_step(self) -> None:
        """K discriminator updates, then one generator update on the last fakes (as in the
        classic loop: one G forward per D update, its graph kept for G's step). Device work
        only, so that it can be captured: stats accumulate in place into fixed buffers."""
        cfg, task = self.cfg, self.task
        for k in range(cfg.d_steps):
            batch = task.real_batch(self.batch)
            if batch.x.dim() == 4 and not cfg.compile:
                batch.x = batch.x.contiguous(memory_format=torch.channels_last)
            last = k == cfg.d_steps - 1
            with torch.set_grad_enabled(last), self.autocast():
                fake = task.fake(batch, self.G_train)
            # R1 every r1_every steps, weighted by r1_every (StyleGAN2's lazy regularisation)
            r1_now = cfg.r1_gamma > 0 and self.step % cfg.r1_every == 0
            if r1_now:
                batch.x = batch.x.detach().requires_grad_(True)
            with self.autocast():
                d_real, logs_d = task.judge(batch.x, batch, self.D_train)
                d_fake, _ = task.judge(fake.detach(), batch, self.D_train)
                loss_d = losses.d_loss(cfg.loss, d_real.float(), d_fake.float())
                if cfg.loss == "wgan-gp" and cfg.gp_weight > 0:
                    loss_d = loss_d + cfg.gp_weight * losses.gradient_penalty(
                        lambda m: task.judge(m, batch, self.D_train)[0].float(), batch.x.detach(), fake.detach()
                    )
                if r1_now:
                    loss_d = loss_d + 0.5 * cfg.r1_gamma * cfg.r1_every * losses.r1_penalty(d_real.float(), batch.x)
            if hasattr(task, "observe_real"):  # D's verdict on reals (ADA's overfitting signal)
                task.observe_real(d_real)
            if self._inject_nan_at and self.step + 1 == self._inject_nan_at:
                self._inject_nan_at = 0
                loss_d = loss_d * float("nan")
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            grad_norm_d = _grad_norm(self.D)
            self.opt_d.step()

        distributed = self.dist.world > 1
        if not distributed:
            _requires_grad(self.D, False)  # G's step needs no grads for D's weights
        try:
            with self.autocast():
                d_gen, _ = task.judge(fake, batch, self.D_train)
                loss_g = task.adv_weight(self.step) * losses.g_loss(cfg.loss, d_gen.float())
                extra, extra_logs = task.g_extra(fake, batch, self.step)
                if extra is not None:
                    loss_g = loss_g + extra
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            grad_norm_g = _grad_norm(self.G)
            self.opt_g.step()
        finally:
            if not distributed:
                _requires_grad(self.D, True)

        threshold = losses.real_threshold(cfg.loss)
        d_real, d_fake = d_real.detach().float(), d_fake.detach().float()
        stats = {
            "loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
            "d_real": losses.d_probability(cfg.loss, d_real).mean(), "d_fake": losses.d_probability(cfg.loss, d_fake).mean(),
            "acc_real": (d_real > threshold).float().mean(), "acc_fake": (d_fake <= threshold).float().mean(),
            "grad_norm_g": grad_norm_g, "grad_norm_d": grad_norm_d,
        }
        for logs in (logs_d, extra_logs):
            stats.update({k: v.detach().float() for k, v in logs.items()})
        for k, v in stats.items():
            if k in self._stats:
                self._stats[k].add_(v)
            else:
                self._stats[k] = v.clone()

    def _zero_stats(self) -> None:
        for value in self._stats.values():
            value.zero_()
        self._stat_count = 0

    def read_stats(self) -> dict[str, float]:
        """Average of the accumulated step stats (the one host sync per log interval)."""
        if not self._stat_count:
            return {}
        keys = list(self._stats)
        values = (torch.stack([self._stats[k] for k in keys]) / self._stat_count).tolist()
        if self.dist.world > 1:
            import torch.distributed as td

            t = torch.tensor(values, device=self.device)
            td.all_reduce(t)
            values = (t / self.dist.world).tolist()
        self._zero_stats()
        return dict(zip(keys, values))

    # ---- state --------------------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        tensors = _prefixed("G.", self.G.state_dict()) | _prefixed("D.", self.D.state_dict())
        if self.G_ema is not None:
            tensors |= _prefixed("G_ema.", self.G_ema.state_dict())
        tensors |= _optimizer_tensors("opt_G.", self.opt_g) | _optimizer_tensors("opt_D.", self.opt_d)
        tensors |= _prefixed("fixed.", self.fixed)
        if hasattr(self.task, "state_tensors"):  # the task's own state (ADA's p and its running sums)
            tensors |= _prefixed("task.", self.task.state_tensors())
        tensors["rng.torch"] = torch.get_rng_state()
        tensors["rng.data"] = self.task.source.generator.get_state()
        if self.cuda:
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        return tensors

    def checkpoint_meta(self) -> dict[str, Any]:
        return {
            "model": self.cfg.model, "config": self.cfg.to_dict(), "classes": self.task.classes,
            "images_seen": self.images_seen, "elapsed_s": self.elapsed, "run": self.run.name,
            "opt_G": _param_groups(self.opt_g), "opt_D": _param_groups(self.opt_d),
            "has_ema": self.G_ema is not None,
        } | ({"best": True, "fid": self.best.get("fid"), "feature_space": self.best.get("feature_space")}
             if self.best and self.best.get("step") == self.step else {})

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        self.G.load_state_dict(_unprefixed("G.", tensors))
        self.D.load_state_dict(_unprefixed("D.", tensors))
        if self.G_ema is not None:
            ema = _unprefixed("G_ema.", tensors)
            self.G_ema.load_state_dict(ema or _unprefixed("G.", tensors))
        _load_optimizer(self.opt_g, "opt_G.", tensors, meta.get("opt_G"))
        _load_optimizer(self.opt_d, "opt_D.", tensors, meta.get("opt_D"))
        self.fixed = _unprefixed("fixed.", tensors) or self.fixed
        if hasattr(self.task, "load_state_tensors"):
            self.task.load_state_tensors(_unprefixed("task.", tensors))
        torch.set_rng_state(tensors["rng.torch"])
        self._restore_data_rng(tensors["rng.data"], int(meta["step"]))
        if self.cuda and "rng.cuda" in tensors:
            torch.cuda.set_rng_state(tensors["rng.cuda"], self.device)
        self.step = int(meta["step"])
        self.images_seen = int(meta.get("images_seen", 0))
        self.elapsed = float(meta.get("elapsed_s", 0.0))
        self.drop_graph()

    def _restore_data_rng(self, state: torch.Tensor, step: int) -> None:
        """The batch order's generator lives on the CPU, or on the GPU in a CUDA-graph run;
        a checkpoint from the other kind cannot continue its sequence, so it is reseeded."""
        generator = self.task.source.generator
        try:
            generator.set_state(state)
        except (RuntimeError, ValueError):
            generator.manual_seed(self.task.source.seed + 7919 * step)
            say(self.run if self.dist.main else None,
                f"batch order reseeded at step {step}: the checkpoint drew batches on another device")

    def init_from(self, other: str) -> str:
        """Start G and D from another run's newest weights, keeping the layers that fit."""
        source = RunDir.open(other, self.run.path.parent)
        ckpt = source.latest_checkpoint()
        if ckpt is None:
            raise ValueError(f"init_from: run {other!r} has no checkpoint yet")
        tensors, _ = load_checkpoint_file(ckpt.weights)
        report = []
        for prefix, module in (("G.", self.G), ("D.", self.D)):
            own = module.state_dict()
            theirs = _unprefixed(prefix, tensors)
            fit = {k: v for k, v in theirs.items() if k in own and own[k].shape == v.shape}
            module.load_state_dict(fit, strict=False)
            report.append(f"{prefix[:-1]}: {len(fit)}/{len(own)} tensors")
        if self.G_ema is not None:
            self.G_ema.load_state_dict(self.G.state_dict())
        return f"initialised from {other} step {ckpt.step} ({', '.join(report)})"

    def save(self) -> None:
        if not self.dist.main:
            return
        self.run.save_checkpoint(self.step, self.state_tensors(), self.checkpoint_meta())
        self.run.prune_checkpoints(keep=3)

    def write_sample(self) -> None:
        if not self.dist.main:
            return
        from ._torchvision import torchvision

        grid = self.task.snapshot(self.G_ema if self.G_ema is not None else self.G, self.fixed)
        path = self.run.sample_path(self.step)
        tmp = path.with_name(f".{path.name}.tmp.png")
        torchvision.utils.save_image(grid, tmp)
        os.replace(tmp, path)


# ---- the loop ------------------------------------------------------------------------
def train(run: RunDir, resume: bool = False) -> str:
    """Train (or resume) ``run`` to the end of its budget. Returns the final state."""
    cfg = run.config()
    dist = Dist.from_env()
    if dist.world > 1:
        import torch.distributed as td

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
                     f" x{dist.world}{' bf16' if trainer.bf16 else ''}, G {_count(trainer.G):,} params, D {_count(trainer.D):,} params")
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
                td.destroy_process_group()
    return state


def _target_steps(cfg: TrainConfig) -> int | None:
    return None if cfg.minutes > 0 else cfg.steps


def _loop(t: Trainer, stop: _StopSignal) -> str:
    cfg, run, main = t.cfg, t.run, t.dist.main
    budget_s = cfg.minutes * 60 if cfg.minutes > 0 else math.inf
    last_log_time, last_log_images = time.perf_counter(), t.images_seen
    session_start, elapsed_at_start = time.perf_counter(), t.elapsed
    state = "finished"
    while True:
        if cfg.minutes <= 0 and t.step >= cfg.steps or t.elapsed >= budget_s:
            break
        t.step_once()
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
            _evaluate_in_run(t)
    if t._stat_count:  # ended between log steps (a stop): log that partial interval too
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
        if t.dist.main:
            t.run.truncate_metrics_after(t.step)
            say(t.run, f"non-finite {bad}: rolled back to step {t.step} and halved the learning rates")
        return "rolled-back"
    where = f"the last good checkpoint (step {ckpt.step}) is intact" if ckpt else "no checkpoint had been written yet"
    raise Diverged(
        f"training diverged before step {t.step}: {bad} became NaN or infinite; {where}. "
        "Try a lower learning rate, spectral norm in D, the hinge loss, or --on-diverge rollback."
    )


def _evaluate_in_run(t: Trainer) -> None:
    """Hook for in-run metrics (gan_core.metrics); absent module = no metrics."""
    try:
        from .metrics import evaluate_during_training
    except ImportError:
        return
    evaluate_during_training(t)


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


# ---- small helpers -----------------------------------------------------------------------
def _count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _copy_module(module: nn.Module) -> nn.Module:
    import copy

    ema = copy.deepcopy(module).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema


@torch.no_grad()
def _update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    ema_params = list(ema.parameters())
    torch._foreach_lerp_(ema_params, list(model.parameters()), 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


def _requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def _grad_norm(module: nn.Module) -> torch.Tensor:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros((), device=next(module.parameters()).device)
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))).float()


def _maybe_compile(module: nn.Module) -> nn.Module:
    try:
        return torch.compile(module)
    except Exception as exc:  # noqa: BLE001 - any compiler failure falls back to eager
        print(f"torch.compile unavailable ({type(exc).__name__}: {exc}); running eagerly", file=sys.stderr)
        return module


def _prefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {prefix + k: v for k, v in tensors.items()}


def _unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def _optimizer_tensors(prefix: str, opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    out = {}
    for index, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            out[f"{prefix}{index}.{key}"] = value if isinstance(value, torch.Tensor) else torch.tensor(value)
    return out


def _param_groups(opt: torch.optim.Optimizer) -> list[dict[str, Any]]:
    return [{k: v for k, v in g.items() if k != "params" and isinstance(v, (int, float, bool, list, tuple, type(None)))} | {"params": g["params"]}
            for g in opt.state_dict()["param_groups"]]


_ADAM_IMPLEMENTATION = {"params", "fused", "foreach", "capturable", "differentiable"}


def _load_optimizer(opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor], groups) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in _unprefixed(prefix, tensors).items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    current = opt.state_dict()
    if groups:  # the saved hyperparameters (a rollback halves lr), not how this device runs Adam
        current["param_groups"] = [dict(cur, **{k: v for k, v in g.items() if k not in _ADAM_IMPLEMENTATION})
                                   for cur, g in zip(current["param_groups"], groups)]
    current["state"] = state
    opt.load_state_dict(current)
    # Saved moments come back contiguous; a channels_last weight's moments must share its
    # strides, or CUDA's fused Adam refuses the step ("... must have same ... layout").
    for group in opt.param_groups:
        for param in group["params"]:
            moments = opt.state.get(param, {})
            for key, value in moments.items():
                if isinstance(value, torch.Tensor) and value.shape == param.shape and value.stride() != param.stride():
                    moments[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)
