"""Dedicated restoration networks; ``runtypes.restoration`` trains them with the same loop and jobs.

- ``srgan`` (``--scale 2|4``): an SRResNet-style generator (residual blocks without batch
  norm, PixelShuffle x2 stages) that predicts a residual on top of the bicubic upscale of
  its input; trained on HR images of any data set, the LR input made on the fly with an
  antialiased bicubic downscale (``downscale``). Loss: L1, then L1 + 5e-3 adversarial.
- ``inpaint-gan``: a small U-Net taking the masked image and the mask (context-encoder
  style), output composited with the known pixels; trained on random boxes and strokes
  (``data.masks.random_masks``). Loss: L1 on the hole, then + 5e-3 adversarial.

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


def build_sr_generator(cfg, num_classes: int = 0) -> nn.Module:
    return SRGenerator(cfg.channels, cfg.scale, cfg.width)


def build_inpaint_generator(cfg, num_classes: int = 0) -> nn.Module:
    return InpaintGenerator(cfg.channels, cfg.width)


def build_patch_discriminator(cfg, num_classes: int = 0) -> nn.Module:
    return PatchDiscriminator(cfg.channels, cfg.resolution, cfg.width)
