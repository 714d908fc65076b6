"""GAN losses on discriminator logits, the R1/R2 and WGAN-GP penalties, and ``AdversarialLoss``:
the objective the built-in run types share, which the loop calls for D's and G's step.

Each loss is a pair (D's loss on real/fake logits, G's loss on fake logits, and for the
relativistic loss the reals' logits too), so neither the loop nor a task branches on the loss name.
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
    if kind == "rpgan":  # relativistic pairing (R3GAN): each real against its paired fake
        return F.softplus(fake - real).mean()
    raise ValueError(f"unknown loss {kind!r}")


def g_loss(kind: str, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
    """``real``: D's logits on a real batch, which only the relativistic loss reads."""
    if kind == "minimax":  # the original, saturating objective: minimise log(1 - D(G(z)))
        return -F.softplus(fake).mean()
    if kind == "nonsaturating":  # maximise log D(G(z))
        return F.softplus(-fake).mean()
    if kind == "lsgan":
        return 0.5 * ((fake - 1) ** 2).mean()
    if kind in ("hinge", "wgan-gp"):
        return -fake.mean()
    if kind == "rpgan":
        return F.softplus(real - fake).mean()
    raise ValueError(f"unknown loss {kind!r}")


def d_probability(kind: str, logits: torch.Tensor) -> torch.Tensor:
    """What to log as D(x): a probability for BCE losses, the raw score otherwise."""
    return torch.sigmoid(logits) if kind in ("minimax", "nonsaturating") else logits


def real_threshold(kind: str) -> float:
    """The score above which D calls an image real (for D's accuracy)."""
    return 0.5 if kind == "lsgan" else 0.0


def r1_penalty(d_out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """||grad_x D(x)||^2 (Mescheder et al. 2018): R1 on reals, R2 on fakes; ``x`` must require grad."""
    (grad,) = torch.autograd.grad(d_out.sum(), x, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def gradient_penalty(discriminate, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): (||grad D(mix)|| - 1)^2 on random interpolates."""
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    mix = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminate(mix).sum(), mix, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


class AdversarialLoss:
    """D's loss on reals vs fakes (+ R1 on reals, R2 on fakes, + WGAN-GP) and G's adversarial loss
    weighted by the task (0 during a warm-up) plus the task's own term (L1 for restoration). Reports
    D(x), D(G(z)) and D's accuracy on both; the loop reports the totals and gradient norms.

    A run type with other maths subclasses this (``discriminate`` to read D's parts) or brings
    its own object with the same methods; ``d_reg_every`` > 0 asks the loop for a lazy
    regularisation phase ``d_reg`` every that many steps (likewise ``g_reg``)."""

    d_reg_every = 0
    g_reg_every = 0

    def __init__(self, cfg, task):
        self.cfg, self.task = cfg, task
        # Lazy R1/R2 (StyleGAN2): with r1_every > 1 the penalties are their own D phase every that
        # many steps, weighted by r1_every, instead of a term of every D step.
        self.lazy_reg = (cfg.r1_gamma > 0 or cfg.r2_gamma > 0) and cfg.r1_every > 1
        if self.lazy_reg:
            self.d_reg_every = cfg.r1_every
        self.last_fake = None  # the last D step's fakes, for lazy R2

    def discriminate(self, x: torch.Tensor, batch, D, which: str, report) -> torch.Tensor:
        """D's logits for reals (``which`` "real"), detached fakes ("fake") or G's fakes ("gen")."""
        return self.task.judge(x, batch, D)

    def d_loss(self, batch, fake: torch.Tensor, D, step: int, report) -> torch.Tensor:
        cfg = self.cfg
        eager_r1 = cfg.r1_gamma > 0 and not self.lazy_reg
        eager_r2 = cfg.r2_gamma > 0 and not self.lazy_reg
        if eager_r1:
            batch.x = batch.x.detach().requires_grad_(True)
        if eager_r2:
            fake = fake.detach().requires_grad_(True)
        self.last_fake = fake.detach()
        d_real = self.discriminate(batch.x, batch, D, "real", report)
        d_fake = self.discriminate(fake, batch, D, "fake", report)
        loss = d_loss(cfg.loss, d_real.float(), d_fake.float())
        if cfg.loss == "wgan-gp" and cfg.gp_weight > 0:
            loss = loss + cfg.gp_weight * gradient_penalty(
                lambda mix: self.task.judge(mix, batch, D).float(), batch.x.detach(), fake.detach())
        if eager_r1:
            loss = loss + 0.5 * cfg.r1_gamma * r1_penalty(d_real.float(), batch.x)
        if eager_r2:
            loss = loss + 0.5 * cfg.r2_gamma * r1_penalty(d_fake.float(), fake)
        real, fake_ = d_real.detach().float(), d_fake.detach().float()
        report("d_real", d_probability(cfg.loss, real).mean())
        report("d_fake", d_probability(cfg.loss, fake_).mean())
        if cfg.loss == "rpgan":  # only the pair's difference has a meaning: D is right when real > fake
            report("acc_real", (real > fake_).float().mean())
            report("acc_fake", (real > fake_).float().mean())
        else:
            threshold = real_threshold(cfg.loss)
            report("acc_real", (real > threshold).float().mean())
            report("acc_fake", (fake_ <= threshold).float().mean())
        return loss

    def d_reg(self, batch, D, step: int, report) -> torch.Tensor:
        """Lazy R1 on the last D batch's reals and R2 on its fakes (through the same augmentation D sees)."""
        total = 0.0
        for name, gamma, images in (("r1", self.cfg.r1_gamma, batch.x), ("r2", self.cfg.r2_gamma, self.last_fake)):
            if gamma > 0:
                x = images.detach().requires_grad_(True)
                d_out = self.task.judge(x, batch, D).float()
                penalty = r1_penalty(d_out, x)
                report(name, penalty)
                # (+ 0 * D's output, as stylegan2-ada does: a bias after D's last weight has no
                # gradient in the penalty, and under DDP every parameter must take part or the
                # next step fails on the missing reduction)
                total = total + 0.5 * gamma * self.d_reg_every * penalty + 0 * d_out.sum()
        return total

    def g_loss(self, batch, fake: torch.Tensor, D, step: int, report) -> torch.Tensor:
        d_gen = self.discriminate(fake, batch, D, "gen", report)
        d_real = None
        if self.cfg.loss == "rpgan":  # G is scored against reals too; they carry no gradient to G
            with torch.no_grad():
                d_real = self.discriminate(batch.x.detach(), batch, D, "real_for_g", report).float()
        loss = self.task.adv_weight(step) * g_loss(self.cfg.loss, d_gen.float(), d_real)
        extra, logs = self.task.g_extra(fake, batch, step)
        for name, value in logs.items():
            report(name, value)
        return loss if extra is None else loss + extra
