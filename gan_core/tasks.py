"""Run types as small task objects: what the loop trains, on what, and how it shows it.

The loop in ``train.py`` is the same for every run type. A task supplies:

- ``G``, ``D`` and ``classes``;
- ``real_batch(n)`` -> ``Batch`` of reals (and labels / conditioning) on the device;
- ``fake(batch)`` -> what G makes for that batch (grad flows when enabled);
- ``judge(x, batch)`` -> D's logits [B] for images (or clips) ``x``, plus extra logs;
- ``g_extra(fake, batch, step)`` -> additional G loss (L1 for restoration) and its logs;
- ``adv_weight(step)`` -> weight of the adversarial term in G's loss (0 = warm-up);
- ``fixed_inputs()`` / ``snapshot(G, fixed)`` -> the fixed-noise grid shown through training;
- optional hooks: ``observe_real(d_real)`` (D's logits on reals, each D step: ADA's signal),
  ``after_step(step)`` (host side, after each step: ADA's p update) and
  ``state_tensors()`` / ``load_state_tensors(t)`` (extra checkpoint state: ADA's p).

Registering: ``TASKS[model] = factory(cfg, device) -> Task``. Restoration and video
modules add their own entries when imported (see ``task_for``).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from .ada import AdaController
from .augment import diff_augment
from .config import TrainConfig
from .data import load_dataset
from .models import build_image_gan


@dataclass
class Batch:
    x: torch.Tensor
    y: torch.Tensor | None = None
    extra: dict[str, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.x.shape[0]


class InMemorySource:
    """A data set held as one tensor on the device; batches drawn with replacement by a
    seeded generator whose state goes into checkpoints (exact resume)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None, device: torch.device, seed: int):
        self.images = images.to(device)
        self.labels = labels.to(device) if labels is not None else None
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def generator_on_device(self) -> None:
        """Draw indices on the data's device (a CUDA graph cannot copy them from the host)."""
        self.generator = torch.Generator(device=self.images.device).manual_seed(self.seed)

    def __len__(self) -> int:
        return self.images.shape[0]

    def draw(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        idx = torch.randint(len(self), (n,), generator=self.generator, device=self.generator.device)
        idx = idx.to(self.images.device, non_blocking=True)
        return self.images[idx], (self.labels[idx] if self.labels is not None else None)


class ImageTask:
    """Unconditional or class-conditional image GAN (mlp, dcgan)."""

    grid_size = 64
    # The step does no host-side work that varies between steps, so it can be replayed as
    # one CUDA graph (gan_core.train). Restoration tasks are not: their loss weights change.
    graph_safe = True

    def __init__(self, cfg: TrainConfig, device: torch.device, rank: int = 0):
        self.cfg, self.device = cfg, device
        data = load_dataset(cfg.data, cfg.resolution, cfg.channels, split="train", seed=cfg.seed)
        self.classes = list(data.classes) if cfg.conditional else []
        if cfg.conditional and not data.classes:
            raise ValueError(f"data set {cfg.data!r} has no class labels: train it unconditionally (drop --conditional)")
        self.source = InMemorySource(data.images, data.labels if cfg.conditional else None, device, cfg.seed * 1000 + rank)
        self.G, self.D = build_image_gan(cfg, len(self.classes))
        self.ada = (AdaController(device, cfg.ada_target, cfg.ada_kimg) if "ada" in cfg.augment else None)
        if self.ada is not None:  # p changes between steps: not replayed as one CUDA graph (untested there)
            self.graph_safe = False

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def real_batch(self, n: int) -> Batch:
        x, y = self.source.draw(n)
        return Batch(x, y)

    def latent(self, batch: Batch) -> torch.Tensor:
        return torch.randn(len(batch), self.cfg.z_dim, device=self.device)

    def fake(self, batch: Batch, G: nn.Module | None = None) -> torch.Tensor:
        return (self.G if G is None else G)(self.latent(batch), batch.y)

    def judge(self, x: torch.Tensor, batch: Batch, D: nn.Module | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.ada is not None:
            return (self.D if D is None else D)(self.ada(x), batch.y), {"ada_p": self.ada.p}
        return (self.D if D is None else D)(diff_augment(x, self.cfg.augment), batch.y), {}

    # ---- ADA's hooks (no-ops without it) ----
    def observe_real(self, d_real: torch.Tensor) -> None:
        if self.ada is not None:
            self.ada.observe(d_real)

    def after_step(self, step: int) -> None:
        if self.ada is not None:
            self.ada.maybe_update(step)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return self.ada.state_tensors() if self.ada is not None else {}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if self.ada is not None:
            self.ada.load_state_tensors(tensors)

    def g_extra(self, fake: torch.Tensor, batch: Batch, step: int) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        return None, {}

    def adv_weight(self, step: int) -> float:
        return 1.0

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
        from ._torchvision import torchvision

        was_training = G.training
        G.eval()
        y = fixed.get("y")
        images = G(fixed["z"].to(self.device), y.to(self.device) if y is not None else None).float().cpu()
        G.train(was_training)
        nrow = self.num_classes or 8
        return torchvision.utils.make_grid(images, nrow=nrow, normalize=True, value_range=(-1, 1), pad_value=1.0)


TaskFactory = Callable[[TrainConfig, torch.device, int], ImageTask]
TASKS: dict[str, TaskFactory] = {"mlp": ImageTask, "dcgan": ImageTask, "stylegan2": ImageTask}
# Modules that register more run types when imported.
_TASK_MODULES = {"srgan": "gan_core.restore_models", "inpaint-gan": "gan_core.restore_models", "dvdgan": "gan_core.video"}


def task_for(cfg: TrainConfig, device: torch.device, rank: int = 0):
    if cfg.model not in TASKS and cfg.model in _TASK_MODULES:
        importlib.import_module(_TASK_MODULES[cfg.model])
    if cfg.model not in TASKS:
        raise ValueError(f"run type {cfg.model!r} is not available in this build")
    return TASKS[cfg.model](cfg, device, rank)
