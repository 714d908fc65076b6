"""Everything one training process holds: the task (G, D, data, loss), the optimisers, the
EMA copy, the step runner and the step statistics; and how that state goes into a
checkpoint and comes back (bit-exact: weights, optimiser moments, every random stream)."""
from __future__ import annotations

import os
from contextlib import nullcontext
from typing import Any

import torch

from gan_core.config import TrainConfig
from gan_core.runs.rundir import RunDir, load_checkpoint_file, say
from gan_core.runtypes.base import Batch
from gan_core.runtypes.registry import task_for
from gan_core.torch_utils.devices import Dist, bf16_supported, pick_device
from gan_core.torch_utils.modules import ema_copy, maybe_compile, update_ema
from gan_core.torch_utils.stats import StepStats
from gan_core.torch_utils.vision import torchvision
from gan_core.training.faults import inject_faults
from gan_core.training.runner import StepRunner, first_line
from gan_core.training.state import load_optimizer, optimizer_tensors, param_groups, prefixed, unprefixed
from gan_core.training.step import train_step


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
        self.G_ema = ema_copy(self.G) if cfg.ema else None
        faulty = inject_faults(self.task)  # tests only (GAN_STUDIO_INJECT_NAN_AT_STEP): never captured
        # (a graph bakes the learning rate into its replayed Adam kernels: a decaying one runs eagerly)
        use_graph = (cfg.cuda_graph and self.cuda and self.dist.world == 1 and not cfg.compile
                     and self.task.graph_safe and not faulty and not cfg.lr_decay)
        if use_graph:
            self.task.source.generator_on_device()
        fused = {"fused": True, "capturable": use_graph} if self.cuda else {"foreach": True}
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2), **fused)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2), **fused)
        for group in self.opt_g.param_groups + self.opt_d.param_groups:
            group["initial_lr"] = group["lr"]  # what --lr-decay scales (saved with the groups; a rollback halves it)
        self.fixed = self.task.fixed_inputs(cfg.seed)
        self.step = 0
        self.images_seen = 0
        self.elapsed = 0.0
        self.rollbacks = 0
        self.best: dict[str, Any] | None = run.read_status().get("best")  # best-FID step (training.evaluation)
        self.batch = cfg.batch_size // self.dist.world
        self.bf16 = cfg.bf16 and bf16_supported(self.device)
        # (autocast's cast cache would hand a graph tensors freed after capture)
        self.autocast = (lambda: torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=not use_graph)
                         if self.bf16 else nullcontext())
        self.G_train, self.D_train = self.G, self.D
        if self.dist.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP  # (only under torchrun)

            ids = [self.device.index] if self.cuda else None
            self.G_train = DDP(self.G, device_ids=ids)
            self.D_train = DDP(self.D, device_ids=ids)
        self._eager = (self.G_train, self.D_train)
        if cfg.compile:
            self.G_train, self.D_train = maybe_compile(self.G_train), maybe_compile(self.D_train)
        self.stats = StepStats()
        self.runner = StepRunner(lambda: train_step(self), device=self.device, use_graph=use_graph,
                                 generators=[self.task.source.generator], compiled=cfg.compile,
                                 on_compile_failure=self._run_eagerly, say=self.say)

    @property
    def use_graph(self) -> bool:
        return self.runner.use_graph

    def say(self, message: str) -> None:
        say(self.run if self.dist.main else None, message)

    # ---- one step -------------------------------------------------------------------
    def real_batch(self) -> Batch:
        batch = self.task.real_batch(self.batch)
        if batch.x.dim() == 4 and not self.cfg.compile:
            batch.x = batch.x.contiguous(memory_format=torch.channels_last)
        return batch

    def train_step(self) -> None:
        """One generator step: the device work (eagerly, or replayed from a CUDA graph), then
        the host's bookkeeping and the task's host hook."""
        self.runner.run()
        self.images_seen += self.batch * self.dist.world * self.cfg.d_steps
        if self.G_ema is not None:
            update_ema(self.G_ema, self.G, min(self.cfg.ema_decay, (1 + self.step) / (10 + self.step)))
        self.step += 1
        self.stats.count += 1
        self.task.after_step(self.step)

    def decay_lr(self, progress: float) -> None:
        """Both learning rates at ``progress`` (0..1) through the run: constant, then over the
        last ``lr_decay`` share linearly toward 0 (pix2pix's and CycleGAN's schedule)."""
        factor = min(1.0, max(0.0, 1.0 - progress) / self.cfg.lr_decay)
        for group in self.opt_g.param_groups + self.opt_d.param_groups:
            group["lr"] = group["initial_lr"] * factor

    def _run_eagerly(self, exc: Exception) -> None:
        self.G_train, self.D_train = self._eager
        self.stats.reset()
        self.say(f"torch.compile failed ({type(exc).__name__}: {first_line(exc)}); running eagerly")

    def read_stats(self) -> dict[str, float]:
        """Average of the step stats since the last read (the one host sync per log interval)."""
        return self.stats.read(self._mean_over_ranks if self.dist.world > 1 else None)

    def _mean_over_ranks(self, values: torch.Tensor) -> torch.Tensor:
        import torch.distributed as td  # (only under torchrun)

        values = values.to(self.device)
        td.all_reduce(values)
        return values / self.dist.world

    # ---- state --------------------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        tensors = prefixed("G.", self.G.state_dict()) | prefixed("D.", self.D.state_dict())
        if self.G_ema is not None:
            tensors |= prefixed("G_ema.", self.G_ema.state_dict())
        tensors |= optimizer_tensors("opt_G.", self.opt_g) | optimizer_tensors("opt_D.", self.opt_d)
        tensors |= prefixed("fixed.", self.fixed)
        tensors |= prefixed("task.", self.task.state_tensors())
        tensors["rng.torch"] = torch.get_rng_state()
        tensors["rng.data"] = self.task.source.generator.get_state()
        if self.cuda:
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        return tensors

    def checkpoint_meta(self) -> dict[str, Any]:
        return {
            "model": self.cfg.model, "config": self.cfg.to_dict(), "classes": self.task.classes,
            "images_seen": self.images_seen, "elapsed_s": self.elapsed, "run": self.run.name,
            "opt_G": param_groups(self.opt_g), "opt_D": param_groups(self.opt_d),
            "has_ema": self.G_ema is not None,
        } | ({"best": True, "fid": self.best.get("fid"), "feature_space": self.best.get("feature_space")}
             if self.best and self.best.get("step") == self.step else {})

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        self.G.load_state_dict(unprefixed("G.", tensors))
        self.D.load_state_dict(unprefixed("D.", tensors))
        if self.G_ema is not None:
            ema = unprefixed("G_ema.", tensors)
            self.G_ema.load_state_dict(ema or unprefixed("G.", tensors))
        load_optimizer(self.opt_g, "opt_G.", tensors, meta.get("opt_G"))
        load_optimizer(self.opt_d, "opt_D.", tensors, meta.get("opt_D"))
        self.fixed = unprefixed("fixed.", tensors) or self.fixed
        self.task.load_state_tensors(unprefixed("task.", tensors))
        torch.set_rng_state(tensors["rng.torch"])
        self._restore_data_rng(tensors["rng.data"], int(meta["step"]))
        if self.cuda and "rng.cuda" in tensors:
            torch.cuda.set_rng_state(tensors["rng.cuda"], self.device)
        self.step = int(meta["step"])
        self.images_seen = int(meta.get("images_seen", 0))
        self.elapsed = float(meta.get("elapsed_s", 0.0))
        self.runner.drop()

    def _restore_data_rng(self, state: torch.Tensor, step: int) -> None:
        """The batch order's generator lives on the CPU, or on the GPU in a CUDA-graph run;
        a checkpoint from the other kind cannot continue its sequence, so it is reseeded."""
        generator = self.task.source.generator
        try:
            generator.set_state(state)
        except (RuntimeError, ValueError):
            generator.manual_seed(self.task.source.seed + 7919 * step)
            self.say(f"batch order reseeded at step {step}: the checkpoint drew batches on another device")

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
            theirs = unprefixed(prefix, tensors)
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
        grid = self.task.snapshot(self.G_ema if self.G_ema is not None else self.G, self.fixed)
        path = self.run.sample_path(self.step)
        tmp = path.with_name(f".{path.name}.tmp.png")
        torchvision.utils.save_image(grid, tmp)
        os.replace(tmp, path)
        self.run.thin_samples()  # a long run keeps a bounded number of grids
