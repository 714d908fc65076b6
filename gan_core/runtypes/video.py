"""The ``dvdgan`` run type: clips from an in-memory clip set, a video G and the dual D.

Besides the usual stats it logs each branch's mean score on reals (``d_spatial``,
``d_temporal``) and each branch's own D loss (``loss_d_spatial``, ``loss_d_temporal``, the
run's loss on that branch's scores alone; they are logs, D is trained on the sum).
"""
from __future__ import annotations

import torch
from torch import nn

from gan_core.data.clips import ClipSet, load_clips
from gan_core.models.video import (
    DualDiscriminator,
    build_discriminator,
    build_generator,
)
from gan_core.runtypes import losses
from gan_core.runtypes.augment import diff_augment
from gan_core.runtypes.base import Batch, InMemorySource
from gan_core.runtypes.image import ImageTask
from gan_core.torch_utils.vision import torchvision


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
        self._parts: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._expect_fake = False

    def judge(self, x: torch.Tensor, batch: Batch, D: nn.Module | None = None):
        """D's summed score; the branch scores are noted so the step can log both D losses.
        In a D step the loop judges the real batch, then the fakes: those two are kept."""
        D = self.D if D is None else D
        logits = D(diff_augment(x, self.cfg.augment), batch.y)
        s, t = (D if isinstance(D, DualDiscriminator) else self.D).last_parts
        if x is batch.x:
            self._parts["real"] = (s.detach(), t.detach())
            self._expect_fake = True
            return logits, {"d_spatial": s.detach().float().mean(), "d_temporal": t.detach().float().mean()}
        if self._expect_fake:
            self._parts["fake"] = (s.detach(), t.detach())
            self._expect_fake = False
        return logits, {}

    def g_extra(self, fake: torch.Tensor, batch: Batch, step: int):
        if "real" not in self._parts or "fake" not in self._parts:
            return None, {}
        (rs, rt), (fs, ft) = self._parts["real"], self._parts["fake"]
        kind = self.cfg.loss
        return None, {"loss_d_spatial": losses.d_loss(kind, rs.float(), fs.float()),
                      "loss_d_temporal": losses.d_loss(kind, rt.float(), ft.float())}

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
