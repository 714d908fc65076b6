"""Image GANs: vanilla MLP (Goodfellow et al. 2014) and DCGAN (Radford et al. 2016).

Both take an optional class: G gets a learned class embedding next to z, D scores with a
projection head (Miyato & Koyama 2018): ``D(x, y) = linear(h) + <embed(y), h>``.
Discriminators return logits (one per image); losses decide what to do with them.

With ``width=64``, batch norm and no class, ``DCGAN`` is exactly the classic
pytorch/examples architecture for its resolution (the Sigmoid lives in the BCE loss).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn


def truncated_normal(shape: tuple[int, ...], generator: torch.Generator | None, truncation: float | None) -> torch.Tensor:
    """Standard normal noise; values beyond ``truncation`` are redrawn (BigGAN's trick)."""
    z = torch.randn(shape, generator=generator)
    if truncation and truncation > 0:
        for _ in range(100):
            outside = z.abs() > truncation
            if not outside.any():
                break
            z[outside] = torch.randn(int(outside.sum()), generator=generator)
        z.clamp_(-truncation, truncation)
    return z


class Generator(nn.Module):
    """Common surface of every image generator: ``G(z, y)`` -> images in [-1, 1]."""

    z_dim: int
    num_classes: int
    out_shape: tuple[int, int, int]

    def make_latent(self, n: int, generator: torch.Generator | None = None, truncation: float | None = None) -> torch.Tensor:
        return truncated_normal((n, self.z_dim), generator, truncation)


class MLPGenerator(Generator):
    def __init__(self, z_dim: int, channels: int, resolution: int, width: int, num_classes: int, norm: str):
        super().__init__()
        self.z_dim, self.num_classes, self.out_shape = z_dim, num_classes, (channels, resolution, resolution)
        self.embed = nn.Embedding(num_classes, z_dim) if num_classes else None
        dims = [z_dim * (2 if num_classes else 1), width * 4, width * 8, width * 16]
        layers: list[nn.Module] = []
        for a, b in zip(dims, dims[1:]):
            layers += [nn.Linear(a, b)] + ([nn.BatchNorm1d(b)] if norm == "batch" else []) + [nn.LeakyReLU(0.2)]
        layers += [nn.Linear(dims[-1], channels * resolution * resolution), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)
        return self.net(z).view(-1, *self.out_shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, channels: int, resolution: int, width: int, num_classes: int, norm: str, sn: bool):
        super().__init__()
        wrap = _sn if sn else (lambda m: m)
        dims = [channels * resolution * resolution, width * 16, width * 8, width * 4]
        layers: list[nn.Module] = [nn.Flatten()]
        for i, (a, b) in enumerate(zip(dims, dims[1:])):
            layers += [wrap(nn.Linear(a, b))] + ([nn.BatchNorm1d(b)] if norm == "batch" and i > 0 else []) + [nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.head = wrap(nn.Linear(dims[-1], 1))
        self.embed = wrap(nn.Embedding(num_classes, dims[-1])) if num_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        out = self.head(h).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(y) * h).sum(1)
        return out


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose gain and bias are looked up per class (de Vries et al. 2017; as in
    Miyato & Koyama 2018 and BigGAN): the class reaches every layer of G, not only its input
    (where the class embedding still sits next to z). ``g_norm=conditional``."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Embedding(num_classes, channels)
        self.bias = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * self.gain(y)[:, :, None, None] + self.bias(y)[:, :, None, None]


def norm_layer(norm: str, num_classes: int):
    """A factory of G's normalisation layers: batch, conditional (per-class gain and bias; plain
    batch norm when there are no classes) or none."""
    if norm == "conditional" and num_classes:
        return lambda c: ConditionalBatchNorm2d(c, num_classes)
    return (lambda c: nn.BatchNorm2d(c)) if norm in ("batch", "conditional") else (lambda c: nn.Identity())


def run_layers(layers: nn.Sequential, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """``layers(h)``, handing the classes to the conditional batch norms among them."""
    for layer in layers:
        h = layer(h, y) if isinstance(layer, ConditionalBatchNorm2d) else layer(h)
    return h


class MinibatchStd(nn.Module):
    """Appends the batch's feature spread as one more channel (Karras et al. 2018), so D can
    tell a batch of near-copies from a varied real batch: the generator pays for collapse."""

    def __init__(self, group: int = 4):
        super().__init__()
        self.group = group

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        n, c, height, width = h.shape
        g = math.gcd(self.group, n)
        spread = h.float().view(g, n // g, c, height, width).std(0, unbiased=False)  # [n/g, c, h, w]
        spread = spread.mean((1, 2, 3)).to(h.dtype)[:, None, None, None].repeat(g, 1, height, width)
        return torch.cat([h, spread], 1)


def _stages(resolution: int) -> int:
    """Number of 2x up/down-sampling stages between 4x4 and ``resolution``."""
    return int(math.log2(resolution)) - 2


class DCGANGenerator(Generator):
    """z -> ConvT(4x4) -> [ConvT stride 2, BN, ReLU] ... -> ConvT -> Tanh."""

    def __init__(self, z_dim: int, channels: int, resolution: int, width: int, num_classes: int, norm: str):
        super().__init__()
        self.z_dim, self.num_classes, self.out_shape = z_dim, num_classes, (channels, resolution, resolution)
        n = _stages(resolution)
        self.embed = nn.Embedding(num_classes, z_dim) if num_classes else None
        in_dim = z_dim * (2 if num_classes else 1)
        chans = [width * 2 ** (n - 1 - i) for i in range(n)]  # e.g. 32 px, width 64: 256, 128, 64
        bn = norm_layer(norm, num_classes)
        layers: list[nn.Module] = [nn.ConvTranspose2d(in_dim, chans[0], 4, 1, 0, bias=False), bn(chans[0]), nn.ReLU(True)]
        for a, b in zip(chans, chans[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), bn(b), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(chans[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)
        return run_layers(self.net, z[:, :, None, None], y)


class DCGANDiscriminator(nn.Module):
    """Conv stride 2 + LeakyReLU(0.2) (no norm on the first) ... -> 4x4 conv head."""

    def __init__(self, channels: int, resolution: int, width: int, num_classes: int, norm: str, sn: bool,
                 minibatch_std: bool = False):
        super().__init__()
        wrap = _sn if sn else (lambda m: m)
        n = _stages(resolution)
        chans = [width * 2**i for i in range(n)]  # e.g. 32 px, width 64: 64, 128, 256
        layers: list[nn.Module] = [wrap(nn.Conv2d(channels, chans[0], 4, 2, 1, bias=False)), nn.LeakyReLU(0.2, True)]
        for a, b in zip(chans, chans[1:]):
            layers += [wrap(nn.Conv2d(a, b, 4, 2, 1, bias=False))]
            layers += [nn.BatchNorm2d(b)] if norm == "batch" else []
            layers += [nn.LeakyReLU(0.2, True)]
        self.features = nn.Sequential(*layers)
        self.spread = MinibatchStd() if minibatch_std else None
        self.head = wrap(nn.Conv2d(chans[-1] + (1 if minibatch_std else 0), 1, 4, 1, 0, bias=False))
        self.embed = wrap(nn.Embedding(num_classes, chans[-1])) if num_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        out = self.head(self.spread(h) if self.spread is not None else h).flatten()
        if self.embed is not None:
            out = out + (self.embed(y) * h.sum((2, 3))).sum(1)
        return out


def dcgan_init(module: nn.Module) -> None:
    """The DCGAN paper's init: conv weights N(0, 0.02), BN weights N(1, 0.02)."""
    name = type(module).__name__
    weight = getattr(module, "weight", None)
    if weight is None and hasattr(module, "parametrizations"):
        weight = module.parametrizations.weight.original
    if name.startswith("Conv") and weight is not None:
        nn.init.normal_(weight, 0.0, 0.02)
    elif name.startswith("BatchNorm") and module.weight is not None:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def build_mlp(cfg, num_classes: int) -> tuple[Generator, nn.Module]:
    """The ``mlp`` run type's G and D; ``num_classes`` 0 (or an unconditional run) = no labels."""
    k = num_classes if cfg.conditional else 0
    return (MLPGenerator(cfg.z_dim, cfg.channels, cfg.resolution, cfg.width, k, cfg.g_norm),
            MLPDiscriminator(cfg.channels, cfg.resolution, cfg.width, k, cfg.d_norm, cfg.spectral_norm))


def build_dcgan(cfg, num_classes: int) -> tuple[Generator, nn.Module]:
    """The ``dcgan`` run type's G and D (DCGAN's N(0, 0.02) initialisation)."""
    k = num_classes if cfg.conditional else 0
    g = DCGANGenerator(cfg.z_dim, cfg.channels, cfg.resolution, cfg.width, k, cfg.g_norm)
    d = DCGANDiscriminator(cfg.channels, cfg.resolution, cfg.width, k, cfg.d_norm, cfg.spectral_norm, cfg.minibatch_std)
    g.apply(dcgan_init)
    d.apply(dcgan_init)
    return g, d


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
