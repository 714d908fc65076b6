"""ADA (issue 18): the pipeline is differentiable and does nothing at p = 0, and p moves the
right way for the signs of D's outputs on reals."""
from __future__ import annotations

import pytest
import torch

from gan_core.runtypes.ada import AdaController, augment


def test_p_rises_when_d_is_sure_of_the_reals_and_falls_when_not():
    ada = AdaController(torch.device("cpu"), target=0.6, ada_kimg=1.0, interval=4)
    confident = torch.full((32,), 3.0)  # r_t = 1 > 0.6: D overfits
    for step in range(1, 9):
        ada.observe(confident)
        ada.maybe_update(step)
    assert ada.p.item() == pytest.approx(2 * 4 * 32 / 1000)  # two updates of 128 images each
    high = ada.p.item()
    unsure = torch.tensor([1.0, -1.0] * 16)  # r_t = 0 < 0.6
    for step in range(9, 13):
        ada.observe(unsure)
        ada.maybe_update(step)
    assert ada.p.item() == pytest.approx(high - 0.128)
    for step in range(13, 200):  # clamped at 0, never negative
        ada.observe(-confident)
        ada.maybe_update(step)
    assert ada.p.item() == 0.0


def test_pipeline_is_identity_at_p0_random_at_p1_and_differentiable():
    torch.manual_seed(0)
    x = torch.rand(16, 3, 32, 32) * 2 - 1
    assert torch.allclose(augment(x, torch.tensor(0.0)), x, atol=1e-5)
    y = augment(x, torch.tensor(1.0))
    assert y.shape == x.shape and (y - x).abs().mean() > 0.1 and torch.isfinite(y).all()
    grey = augment(x[:, :1], torch.tensor(1.0))
    assert grey.shape == (16, 1, 32, 32)
    x.requires_grad_(True)
    augment(x, torch.tensor(0.5), hue=True).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # each transform fires with probability p per image: at p = 0.3 some images stay exact
    same = (augment(x.detach(), torch.tensor(0.3)) - x.detach()).flatten(1).abs().amax(1) < 1e-5
    assert 0 < same.sum() < len(same)
