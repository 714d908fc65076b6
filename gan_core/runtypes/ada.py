"""Adaptive discriminator augmentation (ADA, Karras et al. 2020) in plain, differentiable torch.

Every image D sees (reals and fakes, in D's and G's steps) goes through the same random
pipeline; each transform is applied to each image with probability ``p``. Because the
augmentations are invertible in distribution for p < ~0.8 they do not leak into G's images,
while D can no longer memorise a small training set.

Pipeline (the paper's 'bgc' set, in its order): x-flip, 90-degree rotations, integer
translation (up to 1/8 of the image), isotropic scaling (lognormal, std 0.2 ln 2), rotation
(uniform, at most 180 degrees; applied with 1 - sqrt(1 - p) twice, as in the paper),
anisotropic scaling, then colour: brightness (+N(0, 0.2)), contrast (x lognormal(0, 0.5 ln 2)),
saturation (x lognormal(0, ln 2), RGB only) and optionally hue rotation. All geometric
steps are composed into one 2x3 matrix per image and applied with a single ``grid_sample``
with reflection padding (so no black borders for D to spot); colour steps are one 4x4
matrix per image. p is a 0-d tensor on the device, so nothing here waits for the host.

``AdaController`` adjusts p from D's overfitting signal r_t = E[sign(D(real))]: above the
target (0.6) D is too sure of the reals, p goes up; below, down. Each adjustment moves p by
``images / (ada_kimg * 1000)``, so p can travel 0 -> 1 in ``ada_kimg`` thousand images.
Its state (p and the running sums) is three tensors, saved in checkpoints for an exact resume.
Under DDP the sums are added over the ranks before each adjustment, so every rank holds one p.

``AdaLoss`` feeds D's logits on reals to the controller each D step; the task applies the
pipeline in ``judge``, keeps the controller's tensors as its checkpoint state and updates p in
its ``after_step`` hook (``runtypes.image.ImageTask``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gan_core.runtypes.losses import AdversarialLoss


def _gate(values: torch.Tensor, identity: float, prob: torch.Tensor) -> torch.Tensor:
    """Per image: ``values`` with probability ``prob``, else the identity value."""
    return torch.where(torch.rand_like(values) < prob, values, torch.full_like(values, identity))


def _translate(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    m = torch.eye(3, device=tx.device).repeat(len(tx), 1, 1)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def _scale(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    m = torch.eye(3, device=sx.device).repeat(len(sx), 1, 1)
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def _rotate(theta: torch.Tensor) -> torch.Tensor:
    m = torch.eye(3, device=theta.device).repeat(len(theta), 1, 1)
    c, s = torch.cos(theta), torch.sin(theta)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    return m


def geometric_matrix(b: int, p: torch.Tensor, device: torch.device, size: int) -> torch.Tensor:
    """[B, 3, 3] maps from output to input coordinates (affine_grid's normalised [-1, 1] units)."""
    ones = torch.ones(b, device=device)
    m = torch.eye(3, device=device).repeat(b, 1, 1)
    m = m @ _scale(1 - 2 * _gate(torch.randint(0, 2, (b,), device=device).float(), 0, p), ones)  # x-flip
    m = m @ _rotate(_gate(torch.randint(0, 4, (b,), device=device).float(), 0, p) * (math.pi / 2))  # 90-degree turns
    pixel = 2.0 / size  # one pixel in normalised units: translate by whole pixels
    shift = torch.round((torch.rand(b, 2, device=device) * 2 - 1) * 0.125 * size) * pixel
    m = m @ _translate(_gate(shift[:, 0], 0, p), _gate(shift[:, 1], 0, p))
    iso = torch.exp2(_gate(torch.randn(b, device=device) * 0.2, 0, p))
    m = m @ _scale(iso, iso)
    p_rot = 1 - torch.sqrt((1 - p).clamp(min=0))  # rotation twice, so its total chance is p
    m = m @ _rotate(_gate((torch.rand(b, device=device) * 2 - 1) * math.pi, 0, p_rot))
    aniso = torch.exp2(_gate(torch.randn(b, device=device) * 0.2, 0, p))
    m = m @ _scale(aniso, 1 / aniso)
    m = m @ _rotate(_gate((torch.rand(b, device=device) * 2 - 1) * math.pi, 0, p_rot))
    return m


def colour_matrix(b: int, p: torch.Tensor, device: torch.device, rgb: bool, hue: bool) -> torch.Tensor:
    """[B, 4, 4] acting on homogeneous (r, g, b, 1) colours in [-1, 1] units."""
    eye = torch.eye(4, device=device).repeat(b, 1, 1)
    brightness = _gate(torch.randn(b, device=device) * 0.2 * 2, 0, p)  # 0.2 of the [0, 1] range
    c = eye.clone()
    c[:, :3, 3] = brightness[:, None]
    contrast = torch.exp2(_gate(torch.randn(b, device=device) * 0.5, 0, p))
    c = _scale4(contrast, contrast, contrast) @ c
    if rgb:
        luma = torch.tensor([1.0, 1.0, 1.0, 0.0], device=device) / math.sqrt(3)
        axis = luma[:3]
        if hue:
            theta = _gate((torch.rand(b, device=device) * 2 - 1) * math.pi, 0, p)
            c = _rotate_about(axis, theta) @ c
        sat = torch.exp2(_gate(torch.randn(b, device=device) * 1.0, 0, p))
        outer = torch.zeros(4, 4, device=device)
        outer[:3, :3] = torch.outer(axis, axis)
        c = (outer + (eye - outer) * sat[:, None, None]) @ c
        c[:, 3] = torch.tensor([0.0, 0.0, 0.0, 1.0], device=device)
    return c


def _scale4(sr: torch.Tensor, sg: torch.Tensor, sb: torch.Tensor) -> torch.Tensor:
    m = torch.eye(4, device=sr.device).repeat(len(sr), 1, 1)
    m[:, 0, 0], m[:, 1, 1], m[:, 2, 2] = sr, sg, sb
    return m


def _rotate_about(axis: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Rodrigues rotation of RGB about the grey axis (a hue shift that keeps luminance)."""
    k = torch.tensor([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]], device=theta.device)
    c, s = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    r = torch.eye(3, device=theta.device) * c + s * k + (1 - c) * torch.outer(axis, axis)
    m = torch.eye(4, device=theta.device).repeat(len(theta), 1, 1)
    m[:, :3, :3] = r
    return m


def augment(x: torch.Tensor, p: torch.Tensor, hue: bool = False) -> torch.Tensor:
    """ADA's pipeline on a batch [B, C, H, W] in [-1, 1]; differentiable w.r.t. ``x``."""
    b, c, h, w = x.shape
    p = p.to(x.device, torch.float32)
    m = geometric_matrix(b, p, x.device, max(h, w))
    grid = F.affine_grid(m[:, :2].to(x.dtype), list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    cm = colour_matrix(b, p, x.device, rgb=c == 3, hue=hue).to(x.dtype)
    if c == 3:
        x = torch.einsum("bij,bjhw->bihw", cm[:, :3, :3], x) + cm[:, :3, 3, None, None]
    else:  # grey: brightness and contrast only (scalar entries of the same matrix)
        x = x * cm[:, 0, 0, None, None, None] + cm[:, 0, 3, None, None, None]
    return x


class AdaController:
    """Holds p and adjusts it every ``interval`` steps from the signs of D's real logits."""

    def __init__(self, device: torch.device, target: float = 0.6, ada_kimg: float = 100.0, interval: int = 4,
                 hue: bool = False):
        self.target, self.ada_kimg, self.interval, self.hue = target, ada_kimg, interval, hue
        self.p = torch.zeros((), device=device)
        self.sign_sum = torch.zeros((), device=device)
        self.count = torch.zeros((), device=device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return augment(x, self.p, self.hue)

    @torch.no_grad()
    def observe(self, d_real: torch.Tensor) -> None:
        """Accumulate sign(D(real)) of one D step (on the device, no sync)."""
        self.sign_sum.add_(torch.sign(d_real.detach().float()).sum())
        self.count.add_(d_real.numel())

    @torch.no_grad()
    def maybe_update(self, step: int) -> None:
        """After step ``step`` (1-based): every ``interval`` steps move p toward the target."""
        if step % self.interval:
            return
        if torch.distributed.is_available() and torch.distributed.is_initialized():  # every rank, one p
            both = torch.stack([self.sign_sum, self.count])
            torch.distributed.all_reduce(both)
            self.sign_sum.copy_(both[0])
            self.count.copy_(both[1])
        adjust = torch.sign(self.r_t() - self.target) * (self.count / (self.ada_kimg * 1000))
        self.p.add_(adjust).clamp_(0.0, 1.0)
        self.sign_sum.zero_()
        self.count.zero_()

    def r_t(self) -> torch.Tensor:
        return self.sign_sum / self.count.clamp(min=1)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {"ada.p": self.p.clone(), "ada.sign_sum": self.sign_sum.clone(), "ada.count": self.count.clone()}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        for name in ("p", "sign_sum", "count"):
            if f"ada.{name}" in tensors:
                getattr(self, name).copy_(tensors[f"ada.{name}"])


class AdaLoss(AdversarialLoss):
    """The shared objective; D's verdict on reals (r_t's signal) goes to the task's controller.

    With the relativistic loss D's common level is free (the loss sees only real minus fake, so
    nothing anchors sign(D(real)) at 0): there the signal is the sign of each real's margin over
    its paired fake in D's step, which goes to 1 as D separates (memorises) the reals, as r_t does.
    """

    def discriminate(self, x, batch, D, which, report):
        logits = super().discriminate(x, batch, D, which, report)
        if which == "real":
            self._real = logits
            if self.cfg.loss != "rpgan":
                self.task.ada.observe(logits)
            report("ada_p", self.task.ada.p)
        elif which == "fake" and self.cfg.loss == "rpgan":
            self.task.ada.observe(self._real.detach() - logits.detach())
        return logits
