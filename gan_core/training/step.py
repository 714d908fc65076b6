"""One training step, read as pytorch/examples' dcgan reads: update D on reals and fakes, then
G through D. The run type's loss (``task.loss``) owns the maths; this file owns the phases.

Device work only (no host sync, nothing on the host that varies between steps unless the run
type asks for a lazy regularisation phase), so ``runner.StepRunner`` can capture it as one
CUDA graph. Statistics go to ``t.stats`` by name and accumulate in place on the device.
"""
from __future__ import annotations

import torch

from gan_core.torch_utils.modules import frozen, grad_norm


def train_step(t) -> None:
    """``t``: the ``training.trainer.Trainer`` (its task, modules, optimisers, stats)."""
    cfg, loss, report, step = t.cfg, t.task.loss, t.stats, t.step

    # (1) Update D, k times: real images against fresh fakes. One G forward per D update; the
    #     last one keeps its graph for G's step, as the classic loop does.
    for k in range(cfg.d_steps):
        batch = t.real_batch()
        with torch.set_grad_enabled(k == cfg.d_steps - 1), t.autocast():
            fake = t.task.fake(batch, t.G_train)
        with t.autocast():
            loss_d = loss.d_loss(batch, fake.detach(), t.D_train, step, report)
        t.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        report("loss_d", loss_d)
        report("grad_norm_d", grad_norm(t.D))
        t.opt_d.step()
    if loss.d_reg_every and step % loss.d_reg_every == 0:  # lazy regularisation, its own update
        with t.autocast():
            reg = loss.d_reg(batch, t.D_train, step, report)
        t.opt_d.zero_grad(set_to_none=True)
        reg.backward()
        t.opt_d.step()

    # (2) Update G on the last fakes, through D (D's weights need no gradients; under DDP
    #     they stay trainable, as the wrapper expects every parameter to take part).
    with frozen(t.D, enabled=t.dist.world == 1):
        with t.autocast():
            loss_g = loss.g_loss(batch, fake, t.D_train, step, report)
        t.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        report("loss_g", loss_g)
        report("grad_norm_g", grad_norm(t.G))
        t.opt_g.step()
    if loss.g_reg_every and step % loss.g_reg_every == 0:
        with t.autocast():
            reg = loss.g_reg(batch, t.G_train, step, report)
        t.opt_g.zero_grad(set_to_none=True)
        reg.backward()
        t.opt_g.step()

    report.accumulate()
