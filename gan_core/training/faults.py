"""Fault injection for tests, set up once and outside the step's code: with
``GAN_STUDIO_INJECT_NAN_AT_STEP=N`` (documented in the README) the run type's loss is wrapped
so that D's loss becomes NaN once, in step N. The divergence handling is then tested on a
real run. Such a run is never replayed as a CUDA graph (the wrapper branches on the host)."""
from __future__ import annotations

import os

import torch

ENV = "GAN_STUDIO_INJECT_NAN_AT_STEP"


class NaNOnce:
    """``loss`` with D's loss poisoned once, in step ``at`` (counted from 1)."""

    def __init__(self, loss, at: int):
        self.inner, self.at = loss, at

    def __getattr__(self, name):  # everything else (g_loss, reg phases, intervals) as the loss has it
        return getattr(self.inner, name)

    def d_loss(self, batch, fake, D, step: int, report) -> torch.Tensor:
        loss = self.inner.d_loss(batch, fake, D, step, report)
        if self.at and step + 1 == self.at:
            self.at = 0
            loss = loss * float("nan")
        return loss


def inject_faults(task) -> bool:
    """Wrap ``task.loss`` when the environment asks for a fault; True if it did."""
    at = int(os.environ.get(ENV, "0") or 0)
    if at:
        task.loss = NaNOnce(task.loss, at)
    return bool(at)
