"""Small operations on modules that the loop needs: an EMA copy, freezing, gradient norms."""
from __future__ import annotations

import copy
import sys
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def ema_copy(module: nn.Module) -> nn.Module:
    """A frozen copy in eval mode, to hold an exponential moving average of ``module``."""
    ema = copy.deepcopy(module).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


@contextmanager
def frozen(module: nn.Module, enabled: bool = True) -> Iterator[None]:
    """No gradients for ``module``'s weights inside (G's step needs none for D's)."""
    if enabled:
        for p in module.parameters():
            p.requires_grad_(False)
    try:
        yield
    finally:
        if enabled:
            for p in module.parameters():
                p.requires_grad_(True)


def grad_norm(module: nn.Module) -> torch.Tensor:
    """The global L2 norm of ``module``'s gradients, on the device (no host sync)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros((), device=next(module.parameters()).device)
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))).float()


def maybe_compile(module: nn.Module) -> nn.Module:
    try:
        return torch.compile(module)
    except Exception as exc:  # noqa: BLE001 - any compiler failure falls back to eager
        print(f"torch.compile unavailable ({type(exc).__name__}: {exc}); running eagerly", file=sys.stderr)
        return module
