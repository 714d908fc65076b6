"""What every run type hands the training loop: batches of reals, and a seeded in-memory source.

A task (see ``runtypes.image.ImageTask``) supplies:

- ``G``, ``D`` and ``classes``;
- ``real_batch(n)`` -> ``Batch`` of reals (and labels / conditioning) on the device;
- ``fake(batch)`` -> what G makes for that batch (grad flows when enabled);
- ``judge(x, batch)`` -> D's logits [B] for images (or clips) ``x``, plus extra logs;
- ``g_extra(fake, batch, step)`` -> additional G loss (L1 for restoration) and its logs;
- ``adv_weight(step)`` -> weight of the adversarial term in G's loss (0 = warm-up);
- ``fixed_inputs()`` / ``snapshot(G, fixed)`` -> the fixed-noise grid shown through training.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


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
