"""Losses of the translation run types: the maths lives here, the loop owns the phases.

A loss object has three calls, all on tensors, so any loop can drive it:

- ``generate(G, a, b)`` -> dict of the generator outputs this step (with grad);
- ``d_phase(D, a, b, out)`` -> (D's loss, logs): uses ``out`` detached;
- ``g_phase(D, a, b, out)`` -> (G's loss, logs).

``a`` is the input domain (pix2pix: the drawing / grey / low-res / masked image; CycleGAN:
domain A), ``b`` the target domain. Logs are detached scalar tensors named like the
image loop's (``loss_d``, ``loss_g``, ``d_real``, ``d_fake``) plus each run type's own
terms (``l1``; ``cycle_a``, ``cycle_b``, ``identity_a``, ``identity_b``), so Monitor can
show them beside the adversarial terms. ``train_step`` is the reference loop: D phase,
then G phase with D's weights frozen, as ``training.step`` orders its step (the run types in
``runtypes.translation`` adapt these calls to it).

- ``Pix2PixLoss`` (Isola et al. 2017): conditional GAN with the paper's
  cross-entropy on PatchGAN logits, D's objective halved, plus ``lambda_l1 * L1(G(a), b)``
  with lambda 100.
- ``CycleGANLoss`` (Zhu et al. 2017): least-squares GAN for both directions,
  ``lambda_cycle * (|G_BA(G_AB(a)) - a| + |G_AB(G_BA(b)) - b|)`` with lambda 10, identity
  ``lambda_identity * lambda_cycle * (|G_AB(b) - b| + |G_BA(a) - a|)`` with 0.5 (the
  official code's convention: the identity weight is relative to the cycle weight), and D
  trained on fakes drawn from a 50-image history buffer (``FakeHistory``) per direction.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LAMBDA_L1 = 100.0
LAMBDA_CYCLE = 10.0
LAMBDA_IDENTITY = 0.5  # relative to lambda_cycle, as in the CycleGAN paper's code
HISTORY_SIZE = 50

Logs = dict[str, torch.Tensor]


class FakeHistory:
    """The CycleGAN history of generated images (Shrivastava et al. 2017, 50 per paper).

    While not full, every new fake is stored and returned. Then each new fake is, with
    probability 1/2, returned as is; otherwise a stored one chosen at random is returned
    and the new fake takes its place. The random draws come from the buffer's own
    generator, a fixed number per call (B uniforms and B indices), so the whole state
    is the stored images plus that generator's state: ``state_dict()`` gives both as
    tensors (they go into a safetensors checkpoint) and a loaded buffer continues
    exactly as the saved one would."""

    def __init__(self, size: int = HISTORY_SIZE, seed: int = 0):
        if size < 0:
            raise ValueError(f"history size must be >= 0, got {size}")
        self.size = size
        self.images: torch.Tensor | None = None  # [count, C, H, W]
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return 0 if self.images is None else self.images.shape[0]

    @torch.no_grad()
    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        """The images D sees as fakes this step, in place of ``fakes`` (detached)."""
        fakes = fakes.detach()
        if self.size == 0:
            return fakes
        n = fakes.shape[0]
        coins = torch.rand(n, generator=self.generator).tolist()
        slots = torch.randint(self.size, (n,), generator=self.generator).tolist()
        out = []
        for i in range(n):
            image = fakes[i:i + 1]
            if len(self) < self.size:
                self.images = image.clone() if self.images is None else torch.cat([self.images, image])
                out.append(image)
            elif coins[i] > 0.5:
                out.append(self.images[slots[i]:slots[i] + 1].clone())
                self.images[slots[i]] = image[0]
            else:
                out.append(image)
        return torch.cat(out)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """``images`` ([count, C, H, W]; [0] while empty) and ``rng`` (uint8)."""
        images = self.images if self.images is not None else torch.zeros(0)
        return {"images": images.detach().clone(), "rng": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor], device: torch.device | str | None = None) -> None:
        images = state["images"]
        if images.dim() not in (1, 4) or (images.dim() == 1 and images.numel()) or len(images) > self.size:
            raise ValueError(f"history state holds {tuple(images.shape)}: expected at most "
                             f"{self.size} images [count, C, H, W]")
        self.images = images.to(device or images.device).clone() if images.dim() == 4 and len(images) else None
        self.generator.set_state(state["rng"].to(torch.uint8).cpu())


# ---- adversarial terms -----------------------------------------------------------------------
def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits.float(), target)


def _lsgan(scores: torch.Tensor, real: bool) -> torch.Tensor:
    return ((scores.float() - (1.0 if real else 0.0)) ** 2).mean()


def _accuracy(real: torch.Tensor, fake: torch.Tensor, threshold: float) -> Logs:
    """D's share of patches called right (real above ``threshold``, fakes at or below)."""
    return {"acc_real": (real.detach().float() > threshold).float().mean(),
            "acc_fake": (fake.detach().float() <= threshold).float().mean()}


def _l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x.float() - y.float()).abs().mean()


class Pix2PixLoss:
    """cGAN + L1. D judges (input, output) pairs patch by patch."""

    generators = ("G",)
    discriminators = ("D",)

    def __init__(self, lambda_l1: float = LAMBDA_L1):
        if lambda_l1 < 0:
            raise ValueError(f"lambda_l1 must be >= 0, got {lambda_l1}")
        self.lambda_l1 = float(lambda_l1)

    def generate(self, G: nn.Module, a: torch.Tensor, b: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return {"fake_b": G(a)}

    def d_phase(self, D: nn.Module, a: torch.Tensor, b: torch.Tensor, out: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Logs]:
        real = D(b, a)
        fake = D(out["fake_b"].detach(), a)
        loss = 0.5 * (_bce(real, True) + _bce(fake, False))  # halved, per the paper
        return loss, {"loss_d": loss.detach(), "d_real": torch.sigmoid(real.detach().float()).mean(),
                      "d_fake": torch.sigmoid(fake.detach().float()).mean(), **_accuracy(real, fake, 0.0)}

    def g_phase(self, D: nn.Module, a: torch.Tensor, b: torch.Tensor, out: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Logs]:
        adv = _bce(D(out["fake_b"], a), True)
        l1 = _l1(out["fake_b"], b)
        loss = adv + self.lambda_l1 * l1
        return loss, {"loss_g": loss.detach(), "g_adv": adv.detach(), "l1": l1.detach()}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor], device: torch.device | str | None = None) -> None:
        pass


class CycleGANLoss:
    """LSGAN both ways + cycle consistency + identity, D fed from history buffers.

    ``G`` is a ``CycleGenerators`` (``G(x)`` A -> B, ``G(x, reverse=True)`` B -> A) and
    ``D`` a ``CycleDiscriminators`` (``D(x, "a")``, ``D(x, "b")``)."""

    generators = ("G.ab", "G.ba")
    discriminators = ("D.a", "D.b")

    def __init__(self, lambda_cycle: float = LAMBDA_CYCLE, lambda_identity: float = LAMBDA_IDENTITY,
                 history: int = HISTORY_SIZE, seed: int = 0):
        if lambda_cycle < 0 or lambda_identity < 0:
            raise ValueError(f"lambda_cycle and lambda_identity must be >= 0, got {lambda_cycle}, {lambda_identity}")
        self.lambda_cycle, self.lambda_identity = float(lambda_cycle), float(lambda_identity)
        # One buffer per discriminator, each with its own random stream (2 seed + 1, 2 seed + 2).
        self.history_a = FakeHistory(history, seed * 2 + 1)
        self.history_b = FakeHistory(history, seed * 2 + 2)

    def generate(self, G: nn.Module, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        fake_b, fake_a = G(a), G(b, reverse=True)
        out = {"fake_b": fake_b, "rec_a": G(fake_b, reverse=True), "fake_a": fake_a, "rec_b": G(fake_a)}
        if self.lambda_identity > 0:
            out["idt_b"], out["idt_a"] = G(b), G(a, reverse=True)
        return out

    def d_phase(self, D: nn.Module, a: torch.Tensor, b: torch.Tensor, out: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Logs]:
        old_b = self.history_b.query(out["fake_b"])
        old_a = self.history_a.query(out["fake_a"])
        real_b, fake_b = D(b, "b"), D(old_b, "b")
        real_a, fake_a = D(a, "a"), D(old_a, "a")
        d_b = 0.5 * (_lsgan(real_b, True) + _lsgan(fake_b, False))
        d_a = 0.5 * (_lsgan(real_a, True) + _lsgan(fake_a, False))
        loss = d_a + d_b
        return loss, {"loss_d": loss.detach(), "d_a": d_a.detach(), "d_b": d_b.detach(),
                      "d_real": 0.5 * (real_a.detach().float().mean() + real_b.detach().float().mean()),
                      "d_fake": 0.5 * (fake_a.detach().float().mean() + fake_b.detach().float().mean()),
                      **_accuracy(torch.cat([real_a.flatten(), real_b.flatten()]),
                                  torch.cat([fake_a.flatten(), fake_b.flatten()]), 0.5)}

    def g_phase(self, D: nn.Module, a: torch.Tensor, b: torch.Tensor, out: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Logs]:
        adv_ab = _lsgan(D(out["fake_b"], "b"), True)
        adv_ba = _lsgan(D(out["fake_a"], "a"), True)
        cycle_a, cycle_b = _l1(out["rec_a"], a), _l1(out["rec_b"], b)
        loss = adv_ab + adv_ba + self.lambda_cycle * (cycle_a + cycle_b)
        logs = {"g_adv_ab": adv_ab.detach(), "g_adv_ba": adv_ba.detach(),
                "cycle_a": cycle_a.detach(), "cycle_b": cycle_b.detach()}
        if self.lambda_identity > 0:
            idt_a, idt_b = _l1(out["idt_a"], a), _l1(out["idt_b"], b)
            loss = loss + self.lambda_cycle * self.lambda_identity * (idt_a + idt_b)
            logs.update(identity_a=idt_a.detach(), identity_b=idt_b.detach())
        logs["loss_g"] = loss.detach()
        return loss, logs

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Both history buffers, as tensors named ``history_a.images`` etc."""
        return {f"history_{d}.{k}": v for d, h in (("a", self.history_a), ("b", self.history_b))
                for k, v in h.state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor], device: torch.device | str | None = None) -> None:
        for d, h in (("a", self.history_a), ("b", self.history_b)):
            prefix = f"history_{d}."
            part = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            if set(part) != {"images", "rng"}:
                raise ValueError(f"CycleGAN state lacks {prefix}images / {prefix}rng (found {sorted(state)[:6]})")
            h.load_state_dict(part, device)


def _requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def train_step(loss: Pix2PixLoss | CycleGANLoss, G: nn.Module, D: nn.Module,
               opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
               a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    """The reference loop step: G's forward once, D phase on detached outputs, then G
    phase with D frozen. Returns the logs of both phases as floats."""
    out = loss.generate(G, a, b)
    loss_d, logs_d = loss.d_phase(D, a, b, out)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    _requires_grad(D, False)
    try:
        loss_g, logs_g = loss.g_phase(D, a, b, out)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
    finally:
        _requires_grad(D, True)
    return {k: float(v) for k, v in {**logs_d, **logs_g}.items()}


def adam_pair(G: nn.Module, D: nn.Module, lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999)
              ) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Both papers' optimiser: Adam, lr 2e-4, betas (0.5, 0.999), one for G and one for D."""
    return torch.optim.Adam(G.parameters(), lr, betas=betas), torch.optim.Adam(D.parameters(), lr, betas=betas)
