"""The restoration run types (``srgan``, ``inpaint-gan``): HR reals from an image set, degraded on
the fly; L1, then L1 + a small adversarial term after a warm-up (the first 20% of ``steps``,
or the first 500 steps of a ``--minutes`` run). The networks are in ``models.restoration``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan_core.data.images import load_dataset
from gan_core.data.masks import random_masks
from gan_core.models.restoration import (build_inpaint_generator, build_patch_discriminator, build_sr_generator,
                                         downscale)
from gan_core.runtypes.base import Batch, InMemorySource, Task
from gan_core.runtypes.losses import AdversarialLoss
from gan_core.torch_utils.vision import torchvision

ADV_WEIGHT = 5e-3
WARMUP_FRACTION = 0.2
WARMUP_STEPS_TIMED = 500


class RestorationTask(Task):
    """Shared part of the two run types: HR reals from the data set, L1 + delayed adversarial."""

    grid_columns = 8
    graph_safe = False  # adv_weight switches on after the warm-up steps: a host-side branch

    def __init__(self, cfg, device: torch.device, rank: int = 0):
        self.cfg, self.device = cfg, device
        data = load_dataset(cfg.data, cfg.resolution, cfg.channels, split="train", seed=cfg.seed)
        self.classes: list[str] = []  # restoration models are unconditional
        self.source = InMemorySource(data.images, None, device, cfg.seed * 1000 + rank)
        self.G, self.D = self.build_generator(cfg), build_patch_discriminator(cfg)
        self.loss = AdversarialLoss(cfg, self)

    def real_batch(self, n: int) -> Batch:
        x, _ = self.source.draw(n)
        batch = Batch(x)
        batch.extra = self.degrade(x, self.source.generator)
        return batch

    def degrade(self, x: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def judge(self, x: torch.Tensor, batch: Batch, D: nn.Module | None = None) -> torch.Tensor:
        return (self.D if D is None else D)(x)

    def warmup_steps(self) -> int:
        return WARMUP_STEPS_TIMED if self.cfg.minutes > 0 else int(WARMUP_FRACTION * self.cfg.steps)

    def adv_weight(self, step: int) -> float:
        return 0.0 if step < self.warmup_steps() else ADV_WEIGHT

    def fixed_inputs(self, seed: int) -> dict[str, torch.Tensor]:
        """The first held-out images (test split) and their degraded versions."""
        try:
            x = load_dataset(self.cfg.data, self.cfg.resolution, self.cfg.channels, split="test",
                             seed=self.cfg.seed, limit=self.grid_columns).images.clone()
        except Exception:  # noqa: BLE001 - a set without a test split: take training images
            x = self.source.images[: self.grid_columns].cpu().clone()
        return {"x": x, **{k: v.cpu() for k, v in self.degrade(x, torch.Generator().manual_seed(seed + 12345)).items()}}

    @torch.no_grad()
    def snapshot(self, G: nn.Module, fixed: dict[str, torch.Tensor]) -> torch.Tensor:
        """Rows: degraded input | output | target, as a [C, H, W] grid in [0, 1]."""
        was_training = G.training
        G.eval()
        x = fixed["x"].to(self.device)
        shown, out = self.show_and_restore(G, x, {k: v.to(self.device) for k, v in fixed.items()})
        G.train(was_training)
        images = torch.cat([shown, out.float(), x]).cpu()
        return torchvision.utils.make_grid(images, nrow=len(x), normalize=True, value_range=(-1, 1), pad_value=1.0)


class SRTask(RestorationTask):
    build_generator = staticmethod(build_sr_generator)

    def degrade(self, x, generator):
        return {"lr": downscale(x, self.cfg.resolution // self.cfg.scale)}

    def fake(self, batch: Batch, G: nn.Module | None = None) -> torch.Tensor:
        return (self.G if G is None else G)(batch.extra["lr"])

    def g_extra(self, fake, batch, step):
        l1 = (fake.float() - batch.x.float()).abs().mean()
        return l1, {"l1": l1}

    def show_and_restore(self, G, x, fixed):
        lr = fixed["lr"]
        return F.interpolate(lr, size=x.shape[-2:], mode="nearest"), G(lr)


class InpaintTask(RestorationTask):
    build_generator = staticmethod(build_inpaint_generator)

    def degrade(self, x, generator):
        mask = random_masks(len(x), self.cfg.resolution, generator, x.device)
        return {"mask": mask}

    def fake(self, batch: Batch, G: nn.Module | None = None) -> torch.Tensor:
        mask = batch.extra["mask"]
        return (self.G if G is None else G)(batch.x * (1 - mask), mask)

    def g_extra(self, fake, batch, step):
        mask = batch.extra["mask"]
        l1 = ((fake.float() - batch.x.float()).abs() * mask).sum() / (mask.sum() * self.cfg.channels).clamp(min=1)
        return l1, {"l1_hole": l1}

    def show_and_restore(self, G, x, fixed):
        mask = fixed["mask"]
        return x * (1 - mask), G(x * (1 - mask), mask)
