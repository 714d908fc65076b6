"""Networks for image-to-image translation: pix2pix (Isola et al. 2017) and CycleGAN
(Zhu et al. 2017), sized for 32-128 px on a CPU.

- ``UNetGenerator``: the pix2pix encoder-decoder with skip connections (4x4 stride-2
  convolutions down, transposed convolutions up, LeakyReLU 0.2 / ReLU, tanh out), down to
  a 2x2 bottleneck. Dropout 0.5 on the three innermost decoder blocks, as in the paper,
  but only in training mode: the paper keeps it on at test time as the only noise, yet
  reports that the output barely varies with it, and a live drawing demo must not
  flicker, so inference (``eval()``) is deterministic.
- ``ResnetGenerator``: CycleGAN's generator (7x7 stem, two stride-2 downsamplings,
  residual blocks, two transposed-convolution upsamplings, reflection padding).
- ``PatchDiscriminator``: the PatchGAN, one score per overlapping patch ([N, 1, h, w]
  logits). pix2pix conditions it on the input by concatenating input and output
  channels (``in_channels`` = both); CycleGAN's sees one domain's images only.
  Its depth is chosen so that a patch sees about half the image side: the paper's
  70 px patch on 256 px images is a quarter of the side, but a quarter of 32 px (8 px)
  sees strokes, not shapes.

Normalisation is instance norm (affine) everywhere a norm is used, instead of pix2pix's
batch norm: a translation of one image must not depend on the rest of its batch (the
page translates one drawing at a time), and there is no train/eval gap. As in the paper,
the first encoder layer and the bottleneck have no norm (a 2x2 map's statistics are
too few). The CycleGAN pair is wrapped as one module for G (``CycleGenerators``) and one
for D (``CycleDiscriminators``) so that a loop with one G and one D optimizer, EMA and
checkpoint prefix trains it unchanged.

Default widths (``PIX2PIX_WIDTH``, ``CYCLEGAN_WIDTH``, ``CYCLEGAN_BLOCKS``) are set from a
step measured on the 2-core CPU: see the constants below and ``bench/translate_step.py``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

# Widths measured on this 2-core CPU (bench/translate_step.py: one thread, batch 16, 32 px,
# 1 channel, one full train_step = G forward, D phase, G phase, both Adam updates):
#   pix2pix  G16/D16 0.40 M params  28 ms;  G32/D32 1.58 M  78 ms;  G64/D64 6.3 M  330 ms
#   cyclegan G16/D32 4 blocks 0.76 M 282 ms; G32/D32 4 blocks 2.8 M 691 ms
# (CycleGAN runs six generator passes per step: two translations, two cycles, two
# identities). The defaults keep a step under 0.1 s (pix2pix) and 0.3 s (CycleGAN): a
# ten-minute run gets ~7,700 and ~2,100 steps, and a 64 px 3-channel model stays usable
# (pix2pix G32 277 ms, CycleGAN G16 1.1 s per step).
PIX2PIX_WIDTH = 32
PIX2PIX_D_WIDTH = 32
CYCLEGAN_WIDTH = 16
CYCLEGAN_D_WIDTH = 32
CYCLEGAN_BLOCKS = 4
MIN_RESOLUTION, MAX_RESOLUTION = 16, 256


def check_resolution(resolution: int) -> int:
    """Translation models take square power-of-two images from 16 to 256 px."""
    if not (isinstance(resolution, int) and MIN_RESOLUTION <= resolution <= MAX_RESOLUTION
            and resolution & (resolution - 1) == 0):
        raise ValueError(f"translation models need a power-of-two resolution from {MIN_RESOLUTION} "
                         f"to {MAX_RESOLUTION}, got {resolution!r}")
    return resolution


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=True)


class _Down(nn.Module):
    def __init__(self, a: int, b: int, norm: bool):
        super().__init__()
        self.body = nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(a, b, 4, 2, 1, bias=not norm),
                                  _norm(b) if norm else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _Up(nn.Module):
    def __init__(self, a: int, b: int, dropout: float):
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), _norm(b),
                                  nn.Dropout(dropout) if dropout else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class UNetGenerator(nn.Module):
    """[N, in_channels, R, R] in [-1, 1] -> [N, out_channels, R, R] in [-1, 1].

    Encoder widths w, 2w, 4w, 8w, 8w, ... down to 2x2; the decoder mirrors them and
    concatenates each encoder map (the skips carry the input's layout to the output)."""

    def __init__(self, in_channels: int, out_channels: int, resolution: int,
                 width: int = PIX2PIX_WIDTH, dropout: float = 0.5):
        super().__init__()
        check_resolution(resolution)
        self.in_channels, self.out_channels, self.resolution = in_channels, out_channels, resolution
        levels = int(math.log2(resolution)) - 1  # R -> 2x2
        widths = [min(width * 2**i, width * 8) for i in range(levels)]
        self.stem = nn.Conv2d(in_channels, widths[0], 4, 2, 1)
        self.downs = nn.ModuleList(
            _Down(widths[i - 1], widths[i], norm=i < levels - 1) for i in range(1, levels))
        ups = []
        for i in reversed(range(1, levels)):  # up from level i to level i-1
            skip = 1 if i == levels - 1 else 2  # the innermost input has no skip beside it
            innermost = levels - 1 - i < 3
            ups.append(_Up(widths[i] * skip, widths[i - 1], dropout if innermost else 0.0))
        self.ups = nn.ModuleList(ups)
        self.head = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(widths[0] * 2, out_channels, 4, 2, 1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, self.resolution, "U-Net generator")
        skips = [self.stem(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        h = skips.pop()
        for up in self.ups:
            h = torch.cat([up(h), skips.pop()], 1)
        return self.head(h)


class _ResBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3, bias=False), _norm(width), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3, bias=False), _norm(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """CycleGAN's generator: c7s1-w, d2w, d4w, ``blocks`` x R4w, u2w, uw, c7s1-out, tanh.

    The residual blocks work at a quarter of the resolution (8x8 for 32 px): most of a
    translation between domains of similar layout is a change of texture and local shape,
    which this keeps cheap; the paper uses 6 blocks at 128 px and 9 at 256 px."""

    def __init__(self, in_channels: int, out_channels: int, resolution: int,
                 width: int = CYCLEGAN_WIDTH, blocks: int = CYCLEGAN_BLOCKS):
        super().__init__()
        check_resolution(resolution)
        self.in_channels, self.out_channels, self.resolution = in_channels, out_channels, resolution
        w = width
        self.net = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(in_channels, w, 7, bias=False), _norm(w), nn.ReLU(True),
            nn.Conv2d(w, 2 * w, 3, 2, 1, bias=False), _norm(2 * w), nn.ReLU(True),
            nn.Conv2d(2 * w, 4 * w, 3, 2, 1, bias=False), _norm(4 * w), nn.ReLU(True),
            *[_ResBlock(4 * w) for _ in range(blocks)],
            nn.ConvTranspose2d(4 * w, 2 * w, 3, 2, 1, output_padding=1, bias=False), _norm(2 * w), nn.ReLU(True),
            nn.ConvTranspose2d(2 * w, w, 3, 2, 1, output_padding=1, bias=False), _norm(w), nn.ReLU(True),
            nn.ReflectionPad2d(3), nn.Conv2d(w, out_channels, 7), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, self.resolution, "ResNet generator")
        return self.net(x)


def patch_layers(resolution: int) -> int:
    """Stride-2 layers of the PatchGAN: patches of about half the image side.

    Receptive field for n layers (then two stride-1 4x4 convolutions): 16, 34, 70 px
    for n = 1, 2, 3; so 32 px -> 1, 64 -> 2, 128 and 256 -> 3 (the paper's 70 px)."""
    return max(1, min(3, int(math.log2(resolution)) - 4))


class PatchDiscriminator(nn.Module):
    """PatchGAN: [N, in_channels, R, R] (with ``cond``: the two concatenated) -> [N, 1, h, w]
    logits, one per overlapping patch (C w, 2w, 4w ... with stride 2, then 8w stride 1)."""

    def __init__(self, in_channels: int, resolution: int, width: int = PIX2PIX_D_WIDTH,
                 layers: int | None = None):
        super().__init__()
        check_resolution(resolution)
        self.in_channels = in_channels
        n = patch_layers(resolution) if layers is None else layers
        seq: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        a = width
        for i in range(1, n):
            b = min(width * 2**i, width * 8)
            seq += [nn.Conv2d(a, b, 4, 2, 1, bias=False), _norm(b), nn.LeakyReLU(0.2, True)]
            a = b
        b = min(a * 2, width * 8)
        seq += [nn.Conv2d(a, b, 4, 1, 1, bias=False), _norm(b), nn.LeakyReLU(0.2, True),
                nn.Conv2d(b, 1, 4, 1, 1)]
        self.net = nn.Sequential(*seq)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is not None:
            x = torch.cat([cond, x], 1)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"PatchGAN discriminator expects {self.in_channels} channels "
                             f"(input and output together when conditioned), got {x.shape[1]}")
        return self.net(x)


class CycleGenerators(nn.Module):
    """CycleGAN's two generators as one module: ``G(a)`` is A -> B, ``G(b, reverse=True)``
    is B -> A (so a loop, EMA and sampling treat the pair like any G)."""

    def __init__(self, ab: nn.Module, ba: nn.Module):
        super().__init__()
        self.ab, self.ba = ab, ba

    def forward(self, x: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        return (self.ba if reverse else self.ab)(x)


class CycleDiscriminators(nn.Module):
    """D_A (judges images of domain A) and D_B, as one module for one optimizer."""

    def __init__(self, d_a: nn.Module, d_b: nn.Module):
        super().__init__()
        self.a, self.b = d_a, d_b

    def forward(self, x: torch.Tensor, domain: str = "b") -> torch.Tensor:
        return (self.a if domain == "a" else self.b)(x)


def build_pix2pix(in_channels: int, out_channels: int, resolution: int, width: int = PIX2PIX_WIDTH,
                  d_width: int = PIX2PIX_D_WIDTH) -> tuple[UNetGenerator, PatchDiscriminator]:
    """U-Net G (input -> output) and the PatchGAN D conditioned on the input."""
    return (UNetGenerator(in_channels, out_channels, resolution, width),
            PatchDiscriminator(in_channels + out_channels, resolution, d_width))


def build_cyclegan(channels: int, resolution: int, width: int = CYCLEGAN_WIDTH,
                   d_width: int = CYCLEGAN_D_WIDTH, blocks: int = CYCLEGAN_BLOCKS
                   ) -> tuple[CycleGenerators, CycleDiscriminators]:
    """Two ResNet generators (A -> B, B -> A) and two unconditioned PatchGANs; both
    domains have ``channels`` channels (the identity loss feeds B images to G_AB)."""
    g = CycleGenerators(ResnetGenerator(channels, channels, resolution, width, blocks),
                        ResnetGenerator(channels, channels, resolution, width, blocks))
    d = CycleDiscriminators(PatchDiscriminator(channels, resolution, d_width),
                            PatchDiscriminator(channels, resolution, d_width))
    return g, d


def _check_input(x: torch.Tensor, channels: int, resolution: int, what: str) -> None:
    if x.dim() != 4 or x.shape[1] != channels or x.shape[-2:] != (resolution, resolution):
        raise ValueError(f"the {what} takes images [N, {channels}, {resolution}, {resolution}], "
                         f"got {list(x.shape)}")
