"""GAN losses on discriminator logits, plus the R1 and WGAN-GP penalties.

Each loss is a pair (D's loss on real/fake logits, G's loss on fake logits), so the
training loop never branches on the loss name.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def d_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    if kind in ("minimax", "nonsaturating"):  # BCE: -log D(x) - log(1 - D(G(z)))
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "lsgan":
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    if kind == "wgan-gp":
        return fake.mean() - real.mean()
    raise ValueError(f"unknown loss {kind!r}")


def g_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    if kind == "minimax":  # the original, saturating objective: minimise log(1 - D(G(z)))
        return -F.softplus(fake).mean()
    if kind == "nonsaturating":  # maximise log D(G(z))
        return F.softplus(-fake).mean()
    if kind == "lsgan":
        return 0.5 * ((fake - 1) ** 2).mean()
    if kind in ("hinge", "wgan-gp"):
        return -fake.mean()
    raise ValueError(f"unknown loss {kind!r}")


def d_probability(kind: str, logits: torch.Tensor) -> torch.Tensor:
    """What to log as D(x): a probability for BCE losses, the raw score otherwise."""
    return torch.sigmoid(logits) if kind in ("minimax", "nonsaturating") else logits


def real_threshold(kind: str) -> float:
    """The score above which D calls an image real (for D's accuracy)."""
    return 0.5 if kind == "lsgan" else 0.0


def r1_penalty(d_out: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """||grad_x D(x)||^2 on reals (Mescheder et al. 2018); ``real`` must require grad."""
    (grad,) = torch.autograd.grad(d_out.sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def gradient_penalty(discriminate, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): (||grad D(mix)|| - 1)^2 on random interpolates."""
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    mix = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminate(mix).sum(), mix, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()
