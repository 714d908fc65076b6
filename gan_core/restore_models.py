"""Dedicated restoration models, trained as run types by the same loop and jobs.

- ``srgan`` (``--scale 2|4``): an SRResNet-style generator (residual blocks without batch
  norm, PixelShuffle x2 stages) that predicts a residual on top of the bicubic upscale of
  its input; trained on HR images of any data set, the LR input made on the fly with an
  antialiased bicubic downscale (``downscale``). Loss: L1, then L1 + 5e-3 adversarial.
- ``inpaint-gan``: a small U-Net taking the masked image and the mask (context-encoder
  style), output composited with the known pixels; trained on random boxes and strokes
  (``gan_core.masks.random_masks``). Loss: L1 on the hole, then + 5e-3 adversarial.

Both discriminators are spectral-normalised PatchGANs on the HR image (``d_norm`` and
``spectral_norm`` of the config do not apply to them); the config's ``loss`` is used
(the presets' hinge is recommended). Restoration models are unconditional: the config's
``conditional`` flag is ignored. The adversarial term is off for a warm-up: the first 20%
of ``steps``, or the first 500 steps of a ``--minutes`` run.

Generators here do not take a latent: ``python -m gan_core sample`` refuses them with a
message pointing at ``superres`` / ``inpaint`` (the commands that use them).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

from .config import TrainConfig
from .data import load_dataset
from .masks import random_masks
from .tasks import TASKS, Batch, InMemorySource

ADV_WEIGHT = 5e-3
WARMUP_FRACTION = 0.2
WARMUP_STEPS_TIMED = 500
SR_BLOCKS = 6


def downscale(x: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Antialiased bicubic downscale of [N, C, H, W] to ``size`` (the SR degradation)."""
    size = (size, size) if isinstance(size, int) else tuple(size)
    return F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False).clamp(-1, 1)


def upscale(x: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    size = (size, size) if isinstance(size, int) else tuple(size)
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False)


def _refuse_latent(x: torch.Tensor, model: str, command: str) -> None:
    if x.dim() != 4:
        raise ValueError(f"a {model} run restores images rather than sampling from noise: "
                         f"use `python -m gan_core {command} --run RUN --method model ...`")


class ResBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, 1, 1), nn.PReLU(width), nn.Conv2d(width, width, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.body(x)


class SRGenerator(nn.Module):
    """LR [N, C, R/s, R/s] in [-1, 1] -> HR [N, C, R, R] in [-1, 1]."""

    def __init__(self, channels: int, scale: int, width: int, blocks: int = SR_BLOCKS):
        super().__init__()
        self.channels, self.scale = channels, scale
        self.head = nn.Conv2d(channels, width, 3, 1, 1)
        self.blocks = nn.Sequential(*[ResBlock(width) for _ in range(blocks)], nn.Conv2d(width, width, 3, 1, 1))
        ups: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            ups += [nn.Conv2d(width, width * 4, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU(width)]
        self.up = nn.Sequential(*ups)
        self.tail = nn.Conv2d(width, channels, 3, 1, 1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, lr: torch.Tensor, _unused: torch.Tensor | None = None) -> torch.Tensor:
        _refuse_latent(lr, "srgan", "superres")
        h = self.head(lr)
        h = h + self.blocks(h)
        out = upscale(lr, (lr.shape[-2] * self.scale, lr.shape[-1] * self.scale)) + self.tail(self.up(h))
        return out.clamp(-1, 1)


def _conv_block(a: int, b: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    k = 4 if stride == 2 else 3
    pad = 1 if stride == 2 else dilation
    return nn.Sequential(nn.Conv2d(a, b, k, stride, pad, dilation=dilation), nn.LeakyReLU(0.2, True))


class InpaintGenerator(nn.Module):
    """(masked image [N, C, R, R], mask [N, 1, R, R] with 1 = missing) -> filled image.

    A three-level U-Net with dilated convolutions at the bottleneck (wide context);
    the result keeps the known pixels exactly."""

    def __init__(self, channels: int, width: int):
        super().__init__()
        w = width
        self.channels = channels
        self.enc0 = _conv_block(channels + 1, w)
        self.enc1 = _conv_block(w, w * 2, 2)
        self.enc2 = _conv_block(w * 2, w * 4, 2)
        self.enc3 = _conv_block(w * 4, w * 4, 2)
        self.mid = nn.Sequential(_conv_block(w * 4, w * 4, dilation=2), _conv_block(w * 4, w * 4, dilation=2), _conv_block(w * 4, w * 4))
        self.dec3 = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), _conv_block(w * 4, w * 4))
        self.dec2 = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), _conv_block(w * 8, w * 2))
        self.dec1 = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), _conv_block(w * 4, w))
        self.out = nn.Sequential(_conv_block(w * 2, w), nn.Conv2d(w, channels, 3, 1, 1), nn.Tanh())

    def forward(self, masked: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        _refuse_latent(masked, "inpaint-gan", "inpaint")
        if mask is None:
            raise ValueError("inpaint-gan needs the mask (1 = missing) next to the image")
        known = masked * (1 - mask)
        e0 = self.enc0(torch.cat([known, mask], 1))
        e1 = self.enc1(e0)
        e2 = self.enc2(e1)
        h = self.mid(self.enc3(e2))
        h = self.dec3(h)
        h = self.dec2(torch.cat([h, e2], 1))
        h = self.dec1(torch.cat([h, e1], 1))
        filled = self.out(torch.cat([h, e0], 1))
        return known + filled * mask


class PatchDiscriminator(nn.Module):
    """Spectral-normalised PatchGAN: stride-2 convs down to 4x4 patches, scores averaged."""

    def __init__(self, channels: int, resolution: int, width: int):
        super().__init__()
        layers: list[nn.Module] = []
        a, size = channels, resolution
        b = width
        while size > 4:
            layers += [_sn(nn.Conv2d(a, b, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
            a, b, size = b, min(b * 2, width * 8), size // 2
        layers += [_sn(nn.Conv2d(a, a, 3, 1, 1)), nn.LeakyReLU(0.2, True), _sn(nn.Conv2d(a, 1, 3, 1, 1))]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).mean((1, 2, 3))


def build_generator(cfg: TrainConfig, num_classes: int = 0) -> nn.Module:
    if cfg.model == "srgan":
        return SRGenerator(cfg.channels, cfg.scale, cfg.width)
    if cfg.model == "inpaint-gan":
        return InpaintGenerator(cfg.channels, cfg.width)
    raise ValueError(f"not a restoration model: {cfg.model}")


def build_discriminator(cfg: TrainConfig, num_classes: int = 0) -> nn.Module:
    if cfg.model not in ("srgan", "inpaint-gan"):
        raise ValueError(f"not a restoration model: {cfg.model}")
    return PatchDiscriminator(cfg.channels, cfg.resolution, cfg.width)


# ---- run types ---------------------------------------------------------------------------
class RestorationTask:
    """Shared part of the two run types: HR reals from the data set, L1 + delayed adversarial."""

    grid_columns = 8
    graph_safe = False  # adv_weight switches on after the warm-up steps: a host-side branch

    def __init__(self, cfg: TrainConfig, device: torch.device, rank: int = 0):
        self.cfg, self.device = cfg, device
        data = load_dataset(cfg.data, cfg.resolution, cfg.channels, split="train", seed=cfg.seed)
        self.classes: list[str] = []  # restoration models are unconditional
        self.source = InMemorySource(data.images, None, device, cfg.seed * 1000 + rank)
        self.G, self.D = build_generator(cfg), build_discriminator(cfg)

    num_classes = 0

    def real_batch(self, n: int) -> Batch:
        x, _ = self.source.draw(n)
        batch = Batch(x)
        batch.extra = self.degrade(x, self.source.generator)
        return batch

    def degrade(self, x: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def judge(self, x: torch.Tensor, batch: Batch, D: nn.Module | None = None):
        return (self.D if D is None else D)(x), {}

    def warmup_steps(self) -> int:
        return WARMUP_STEPS_TIMED if self.cfg.minutes > 0 else int(WARMUP_FRACTION * self.cfg.steps)

    def adv_weight(self, step: int) -> float:
        return 0.0 if step < self.warmup_steps() else ADV_WEIGHT

    def fixed_inputs(self, seed: int) -> dict[str, torch.Tensor]:
        """The first held-out images (test split) and their degraded versions."""
        try:
            x = load_dataset(self.cfg.data, self.cfg.resolution, self.cfg.channels, split="test",
                             seed=self.cfg.seed, limit=self.grid_columns).images.clone()
        except Exception:  # noqa: BLE001 - a set without a test split: take training images
            x = self.source.images[: self.grid_columns].cpu().clone()
        return {"x": x, **{k: v.cpu() for k, v in self.degrade(x, torch.Generator().manual_seed(seed + 12345)).items()}}

    @torch.no_grad()
    def snapshot(self, G: nn.Module, fixed: dict[str, torch.Tensor]) -> torch.Tensor:
        """Rows: degraded input | output | target, as a [C, H, W] grid in [0, 1]."""
        from ._torchvision import torchvision

        was_training = G.training
        G.eval()
        x = fixed["x"].to(self.device)
        shown, out = self.show_and_restore(G, x, {k: v.to(self.device) for k, v in fixed.items()})
        G.train(was_training)
        images = torch.cat([shown, out.float(), x]).cpu()
        return torchvision.utils.make_grid(images, nrow=len(x), normalize=True, value_range=(-1, 1), pad_value=1.0)


class SRTask(RestorationTask):
    def degrade(self, x, generator):
        return {"lr": downscale(x, self.cfg.resolution // self.cfg.scale)}

    def fake(self, batch: Batch, G: nn.Module | None = None) -> torch.Tensor:
        return (self.G if G is None else G)(batch.extra["lr"])

    def g_extra(self, fake, batch, step):
        l1 = (fake.float() - batch.x.float()).abs().mean()
        return l1, {"l1": l1}

    def show_and_restore(self, G, x, fixed):
        lr = fixed["lr"]
        return F.interpolate(lr, size=x.shape[-2:], mode="nearest"), G(lr)


class InpaintTask(RestorationTask):
    def degrade(self, x, generator):
        mask = random_masks(len(x), self.cfg.resolution, generator, x.device)
        return {"mask": mask}

    def fake(self, batch: Batch, G: nn.Module | None = None) -> torch.Tensor:
        mask = batch.extra["mask"]
        return (self.G if G is None else G)(batch.x * (1 - mask), mask)

    def g_extra(self, fake, batch, step):
        mask = batch.extra["mask"]
        l1 = ((fake.float() - batch.x.float()).abs() * mask).sum() / (mask.sum() * self.cfg.channels).clamp(min=1)
        return l1, {"l1_hole": l1}

    def show_and_restore(self, G, x, fixed):
        mask = fixed["mask"]
        return x * (1 - mask), G(x * (1 - mask), mask)


TASKS["srgan"] = SRTask
TASKS["inpaint-gan"] = InpaintTask
