"""The ``dvdgan`` run type: clips from an in-memory clip set, a video G and the dual D.

Besides the usual stats it logs each branch's mean score on reals (``d_spatial``,
``d_temporal``) and each branch's own D loss (``loss_d_spatial``, ``loss_d_temporal``, the
run's loss on that branch's scores alone; they are logs, D is trained on the sum).
"""
from __future__ import annotations

import torch
from torch import nn

from gan_core.data.clips import ClipSet, load_clips
from gan_core.models.video import build_discriminator, build_generator
from gan_core.runtypes import losses
from gan_core.runtypes.base import InMemorySource
from gan_core.runtypes.image import ImageTask
from gan_core.torch_utils.vision import torchvision


class VideoLoss(losses.AdversarialLoss):
    """The shared objective, plus each critic's view: the branch scores on reals and each
    branch's own D loss (logs only: D is trained on the sum)."""

    def discriminate(self, x, batch, D, which, report):
        logits = super().discriminate(x, batch, D, which, report)
        spatial, temporal = self.task.D.last_parts  # the unwrapped D (under DDP, D is its wrapper)
        if which == "real":
            self._real = (spatial.detach().float(), temporal.detach().float())
            report("d_spatial", self._real[0].mean())
            report("d_temporal", self._real[1].mean())
        elif which == "fake":
            (rs, rt), kind = self._real, self.cfg.loss
            report("loss_d_spatial", losses.d_loss(kind, rs, spatial.detach().float()))
            report("loss_d_temporal", losses.d_loss(kind, rt, temporal.detach().float()))
        return logits


class VideoTask(ImageTask):
    """``dvdgan`` runs: clips from an in-memory clip set, a video G and the dual D."""

    def __init__(self, cfg, device: torch.device, rank: int = 0):
        self.cfg, self.device = cfg, device
        if cfg.resolution < 16:
            raise ValueError("resolution: dvdgan needs at least 16 px")
        data: ClipSet = load_clips(cfg.data, cfg.resolution, cfg.channels, cfg.frames, split="train", seed=cfg.seed)
        self.classes = list(data.classes) if cfg.conditional else []
        if cfg.conditional and (not data.classes or data.labels is None):
            raise ValueError(f"clip set {cfg.data!r} has no class labels: train it unconditionally (drop --conditional)")
        self.source = InMemorySource(data.clips, data.labels if cfg.conditional else None, device, cfg.seed * 1000 + rank)
        self.G = build_generator(cfg, len(self.classes))
        self.D = build_discriminator(cfg, len(self.classes))
        self.loss = VideoLoss(cfg, self)

    def fixed_inputs(self, seed: int) -> dict[str, torch.Tensor]:
        """One clip per row: one row per class (up to 16) when conditional, else 8 rows."""
        gen = torch.Generator().manual_seed(seed + 12345)
        if self.num_classes:
            y = torch.arange(min(self.num_classes, 16))
            return {"z": torch.randn(len(y), self.cfg.z_dim, generator=gen), "y": y}
        return {"z": torch.randn(8, self.cfg.z_dim, generator=gen)}

    @torch.no_grad()
    def snapshot(self, G: nn.Module, fixed: dict[str, torch.Tensor]) -> torch.Tensor:
        """Still grid [C, H, W] in [0, 1]: a clip per row, its frames along the columns."""
        was_training = G.training
        G.eval()
        y = fixed.get("y")
        clips = G(fixed["z"].to(self.device), y.to(self.device) if y is not None else None).float().cpu()
        G.train(was_training)
        return torchvision.utils.make_grid(clips.flatten(0, 1), nrow=clips.shape[1], normalize=True,
                                           value_range=(-1, 1), pad_value=1.0)
