"""The augmentation lab's yardstick: one small CNN, one fixed budget, any training images.

Every arm of the lab (real only, real + synthetic, synthetic only) trains the *same*
network (``gan_core.metrics.features.SmallCNN``, ~240k parameters, the studio's offline metric
classifier) for the *same* number of optimiser steps and batch size, with the same
ordinary augmentation, and is scored on the whole held-out test split. Only the training
images differ, so a difference in accuracy is the data's doing.

Why a fixed number of steps rather than epochs: with K = 10 images per class an "epoch"
is one batch; fixed steps give every arm the same compute and the same number of
gradient updates. Batches are drawn uniformly from the arm's training images (real and
synthetic pooled; no re-weighting), the naive "add the synthetic images to the set".

Ordinary augmentation: a random shift of up to 1/8 of the image (replicate-padded crop)
and, for sets whose classes survive a mirror image, a horizontal flip (not for digits).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from gan_core.metrics.features import SmallCNN, accuracy_of

NO_FLIP_SETS = ("mnist", "digits")  # a mirrored 2, 3, 7 ... is not a digit


@dataclass
class ClassifierBudget:
    """The fixed recipe every arm trains with (recorded beside each result)."""

    steps: int = 500
    batch_size: int = 64
    lr: float = 3e-3  # Adam, one-cycle schedule (as the offline metric classifier)
    flip: bool = True
    shift: float = 0.125  # largest random shift, as a fraction of the image side

    def to_dict(self) -> dict:
        return asdict(self)


def flips_preserve_class(dataset: str) -> bool:
    return not any(dataset == s or dataset.startswith(s + "/") for s in NO_FLIP_SETS)


def augment(x: torch.Tensor, gen: torch.Generator, shift: float, flip: bool) -> torch.Tensor:
    """Random shift (replicate padding, then a crop) and optional horizontal flip, per image."""
    n, _, h, w = x.shape
    pad = int(round(shift * h))
    if pad > 0:
        padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen).tolist()
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen).tolist()
        x = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    if flip:
        mirror = torch.rand(n, generator=gen) < 0.5
        x = torch.where(mirror.view(-1, 1, 1, 1), x.flip(-1), x)
    return x


def train_classifier(images: torch.Tensor, labels: torch.Tensor, num_classes: int, seed: int,
                     budget: ClassifierBudget) -> SmallCNN:
    """Train a fresh SmallCNN on ``images`` [N, C, R, R] in [-1, 1] for ``budget.steps`` steps."""
    if len(images) == 0:
        raise ValueError("no training images")
    gen = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = SmallCNN(images.shape[1], num_classes)
    opt = torch.optim.Adam(net.parameters(), lr=budget.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, budget.lr, total_steps=budget.steps)
    net.train()
    n = len(images)
    batch = min(budget.batch_size, n) if n >= 2 else 1
    order, pos = torch.randperm(n, generator=gen), 0
    for _ in range(budget.steps):
        if pos + batch > n:  # a fresh shuffle per pass: every image equally often
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos:pos + batch]
        pos += batch
        xb = augment(images[idx], gen, budget.shift, budget.flip)
        loss = F.cross_entropy(net(xb), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return net.eval()


@torch.no_grad()
def test_accuracy(net: SmallCNN, images: torch.Tensor, labels: torch.Tensor, num_classes: int,
                  batch: int = 500) -> tuple[float, list[float]]:
    """(accuracy, per-class accuracy) on a labelled set."""
    preds = torch.cat([net(images[s:s + batch]).argmax(1) for s in range(0, len(images), batch)])
    per_class = []
    for c in range(num_classes):
        mask = labels == c
        per_class.append(accuracy_of(preds[mask], labels[mask]) if mask.any() else math.nan)
    return accuracy_of(preds, labels), per_class


def run_arm(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
            num_classes: int, seed: int, budget: ClassifierBudget) -> dict:
    """Train on one arm's images and score on the test split: a JSON-ready result."""
    start = time.perf_counter()
    net = train_classifier(train_x, train_y, num_classes, seed, budget)
    train_s = time.perf_counter() - start
    acc, per_class = test_accuracy(net, test_x, test_y, num_classes)
    return {"accuracy": acc, "per_class_accuracy": per_class, "n_train": int(len(train_x)),
            "n_test": int(len(test_x)), "seed": int(seed), "train_seconds": round(train_s, 2),
            "threads": torch.get_num_threads(), "budget": budget.to_dict()}
