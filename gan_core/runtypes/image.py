"""The image GAN run types (``mlp``, ``dcgan``, ``stylegan2``): unconditional or class-conditional,
with DiffAugment or ADA (``--augment ada``: its p is task state, updated after each step)."""
from __future__ import annotations

import torch
from torch import nn

from gan_core.data.images import load_dataset
from gan_core.runtypes.ada import AdaController, AdaLoss
from gan_core.runtypes.augment import diff_augment
from gan_core.runtypes.base import Batch, InMemorySource, Task
from gan_core.runtypes.losses import AdversarialLoss
from gan_core.torch_utils.vision import torchvision


class ImageTask(Task):
    """Unconditional or class-conditional image GAN (mlp, dcgan, stylegan2)."""

    grid_size = 64
    ada: AdaController | None = None  # set in __init__ for --augment ada; subclasses without it (video) keep None
    graph_safe = True  # (restoration tasks are not: their loss weights change after a warm-up)

    def __init__(self, cfg, device: torch.device, rank: int = 0, *, networks):
        """``networks(cfg, num_classes) -> (G, D)``: the run type's builder (``models.image``)."""
        self.cfg, self.device = cfg, device
        data = load_dataset(cfg.data, cfg.resolution, cfg.channels, split="train", seed=cfg.seed)
        self.classes = list(data.classes) if cfg.conditional else []
        if cfg.conditional and not data.classes:
            raise ValueError(f"data set {cfg.data!r} has no class labels: train it unconditionally (drop --conditional)")
        self.source = InMemorySource(data.images, data.labels if cfg.conditional else None, device, cfg.seed * 1000 + rank)
        self.G, self.D = networks(cfg, len(self.classes))
        self.ada = AdaController(device, cfg.ada_target, cfg.ada_kimg) if "ada" in cfg.augment else None
        self.loss = AdversarialLoss(cfg, self) if self.ada is None else AdaLoss(cfg, self)
        if self.ada is not None or self.loss.d_reg_every:  # p's update and lazy R1 vary between steps
            self.graph_safe = False

    def real_batch(self, n: int) -> Batch:
        x, y = self.source.draw(n)
        return Batch(x, y)

    def latent(self, batch: Batch) -> torch.Tensor:
        return torch.randn(len(batch), self.cfg.z_dim, device=self.device)

    def fake(self, batch: Batch, G: nn.Module | None = None) -> torch.Tensor:
        return (self.G if G is None else G)(self.latent(batch), batch.y)

    def judge(self, x: torch.Tensor, batch: Batch, D: nn.Module | None = None) -> torch.Tensor:
        """D's logits for ``x`` (DiffAugment or ADA applied to reals and fakes alike)."""
        x = self.ada(x) if self.ada is not None else diff_augment(x, self.cfg.augment)
        return (self.D if D is None else D)(x, batch.y)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return self.ada.state_tensors() if self.ada is not None else {}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if self.ada is not None:
            self.ada.load_state_tensors(tensors)
        else:
            super().load_state_tensors(tensors)

    def after_step(self, step: int) -> None:
        if self.ada is not None:
            self.ada.maybe_update(step)

    def fixed_inputs(self, seed: int) -> dict[str, torch.Tensor]:
        """Fixed noise for the progress grid; for conditional runs one column per class."""
        gen = torch.Generator().manual_seed(seed + 12345)
        if self.num_classes:
            rows = max(1, self.grid_size // self.num_classes)
            y = torch.arange(self.num_classes).repeat(rows)
            return {"z": torch.randn(len(y), self.cfg.z_dim, generator=gen), "y": y}
        return {"z": torch.randn(self.grid_size, self.cfg.z_dim, generator=gen)}

    @torch.no_grad()
    def snapshot(self, G: nn.Module, fixed: dict[str, torch.Tensor]) -> torch.Tensor:
        """The progress grid as a [C, H, W] image in [0, 1]."""
        was_training = G.training
        G.eval()
        y = fixed.get("y")
        images = G(fixed["z"].to(self.device), y.to(self.device) if y is not None else None).float().cpu()
        G.train(was_training)
        nrow = self.num_classes or 8
        return torchvision.utils.make_grid(images, nrow=nrow, normalize=True, value_range=(-1, 1), pad_value=1.0)
