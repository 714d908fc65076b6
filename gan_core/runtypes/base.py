"""What every run type hands the training loop (the seam; stylegan2-ada-pytorch's split: the
run type's loss owns the maths, the loop owns the phases).

A task (``Task`` below; ``runtypes.image.ImageTask`` is the plain one) supplies:

- ``G``, ``D`` and ``classes`` (two generators and two critics go in one ``nn.ModuleDict`` each:
  one optimiser per side, checkpoints and EMA need nothing new);
- ``real_batch(n)`` -> ``Batch`` of reals (labels, paired inputs, masks in ``extra``) on the device;
- ``fake(batch, G)`` -> what G makes for that batch (grad flows when enabled);
- ``loss``: an object with ``d_loss(batch, fake, D, step, report)`` and ``g_loss(...)`` (see
  ``runtypes.losses.AdversarialLoss``), and optionally lazy regularisation phases
  ``d_reg(batch, D, step, report)`` / ``g_reg(batch, G, step, report)`` run every
  ``d_reg_every`` / ``g_reg_every`` steps as their own optimiser steps;
- ``state_tensors()`` / ``load_state_tensors(tensors)``: extra state for checkpoints (an ADA
  probability, a fake-history buffer), saved under ``task.``;
- ``after_step(step)``: a host hook after every step (adjust ADA's p; may only change tensors
  in place when the task is ``graph_safe``);
- ``fixed_inputs(seed)`` / ``snapshot(G, fixed)``: the progress grid shown through training.

Losses and tasks report step statistics by name through ``report(name, tensor)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


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


class Task:
    """Defaults for the optional parts of a task; run types subclass it."""

    G: nn.Module
    D: nn.Module
    classes: list[str] = []
    # The step does no host-side work that varies between steps, so it can be replayed as one
    # CUDA graph (gan_core.training.runner).
    graph_safe = False

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def adv_weight(self, step: int) -> float:
        """Weight of the adversarial term in G's loss (0 during a warm-up)."""
        return 1.0

    def g_extra(self, fake: torch.Tensor, batch: Batch, step: int) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """An extra term of G's loss (L1 for restoration) and the stats it reports."""
        return None, {}

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if tensors:
            raise ValueError(f"this run type keeps no task state, but the checkpoint has {sorted(tensors)[:3]}")

    def after_step(self, step: int) -> None:
        """Called on the host after each step (``step``: the number of steps done)."""
