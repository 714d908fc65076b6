"""StyleGAN2 (Karras et al. 2020) in plain PyTorch: no custom CUDA ops to compile.

Generator: a mapping network z (+ class) -> w, a learned constant 4x4 input, per resolution
two modulated/demodulated 3x3 convolutions (bilinear 2x upsampling before the first) with
per-pixel noise, and a *skip* output (each resolution's 1x1 toRGB added to the upsampled
image so far). Discriminator: *residual* blocks (two 3x3 convs beside a 1x1 shortcut, both
halving the resolution, summed / sqrt 2), minibatch standard deviation and a projection head
for classes (``out = <h, cmap(y)> / sqrt(dim)``, as stylegan2-ada does). Every weight uses
the equalized learning rate (stored N(0, 1), scaled by He's constant at run time).

Differences from NVlabs' code, each for a reason: bilinear up/downsampling instead of the
[1, 3, 3, 1] FIR filters (plain PyTorch ops, fast on CPU); modulation by scaling activations
(``x * s -> conv -> * d``, the "non-fused" path of stylegan2-ada), which is one ordinary
batched convolution with a shared weight instead of a grouped convolution over a per-sample
weight tensor (on this CPU the grouped form was faster for the 16-32-channel layers at 64 px
and slower at 16 px, in bf16 and fp32: no clear winner, so one form); each constant gain (sqrt 2 after a
leaky ReLU, 1/sqrt 2 on a residual sum) folded into weights, biases or the demodulation instead
of a pass over the activations, and styles applied before the 2x upsampling, not after: the
same maths, 1.05-1.11x the CPU step (``bench/stylegan2_step_ab.py``). Then leaky ReLUs in place
on the fresh tensor before them (their backward reads the result; gradients bit-identical) and
D's 2x2 means as bilinear resizes (``halve``; avg_pool2d's backward zero-filled its output
first): 1.17x more in two of three A/B runs.

The W space, where users see it: ``G.mapping`` keeps ``w_avg`` (a buffer, saved with the
weights), ``truncate(w, psi)`` pulls toward it, ``G.synthesis(ws)`` takes one w per layer
(``num_ws`` of them, coarse first) so styles can be mixed, and sampling in eval mode uses
each layer's constant noise buffer, as StyleGAN's tools do: with psi = 0 every seed gives the
same image.

Depends only on torch. The ``stylegan2`` run type (``runtypes.registry``) builds it from a config (``build_stylegan2``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU with StyleGAN's gain sqrt(2), which keeps activations at unit variance."""
    return F.leaky_relu(x, 0.2) * SQRT2


def channels_for(resolution: int, width: int, max_channels: int = 0) -> int:
    """Feature maps at one resolution: ``16 * width / resolution`` (halved per doubling, floor 16),
    capped at ``max_channels`` (0: ``width``), as stylegan2-ada's channel_base / channel_max.
    At 64 px and width 128: 128, 128, 128, 64, 32 for 4..64 px; width 64 with cap 256:
    256, 128, 64, 32, 16."""
    return max(16, min(max_channels or width, width * 16 // resolution))


def log2_of(resolution: int) -> int:
    k = int(math.log2(resolution))
    if 2**k != resolution or not 8 <= resolution <= 256:
        raise ValueError(f"stylegan2 needs a power of two from 8 to 256 px, got {resolution}")
    return k


class EqualLinear(nn.Module):
    """Linear layer with the equalized learning rate; ``lr_mul`` slows it (mapping net: 0.01)."""

    def __init__(self, in_dim: int, out_dim: int, bias_init: float = 0.0, lr_mul: float = 1.0, act: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init) / lr_mul))
        self.scale, self.lr_mul, self.act = lr_mul / math.sqrt(in_dim), lr_mul, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return lrelu(out) if self.act else out


class EqualConv2d(nn.Module):
    """Plain convolution with the equalized learning rate (the discriminator's layers), times
    ``gain`` (with ``act``: after the leaky ReLU, sqrt 2 by default). The gain is applied to the
    weight and bias, not the output: lrelu(g * y) = g * lrelu(y) for g > 0, and it spares a
    pass over the activations forward and backward."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, bias: bool = True, act: bool = True,
                 gain: float | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.gain = (SQRT2 if act else 1.0) if gain is None else gain
        self.scale, self.pad, self.act = self.gain / math.sqrt(in_ch * kernel * kernel), kernel // 2, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.gain if self.bias is not None else None
        weight = self.weight * self.scale
        if x.shape[1] == 3 and x.shape[0] * x.shape[2] * x.shape[3] == 2**19:
            # A zero 4th channel and weight column: the same numbers, but oneDNN's AMX bf16 kernels
            # (torch 2.13, Xeon with AMX) die of SIGFPE in R1's double backward of a 3-channel
            # 1x1 conv over exactly 2^19 pixels (128 px at batch 32, 256 px at batch 8; 2^17-2^21
            # pixels and 1, 2 or 4 channels were fine). Padding every batch cost 3-6% of a 64 px
            # D step, fromRGB in fp32 5-25%: so only this size.
            x, weight = F.pad(x, (0, 0, 0, 0, 0, 1)), F.pad(weight, (0, 0, 0, 0, 0, 1))
        out = F.conv2d(x, weight, bias, padding=self.pad)
        return F.leaky_relu_(out, 0.2) if self.act else out


# ---------------------------------------------------------------------------- generator


class MappingNetwork(nn.Module):
    """z (and a class embedding) -> w through ``layers`` equalized FC layers at lr x0.01.

    ``w_avg`` follows the mean w during training (decay ``w_avg_beta`` per batch): the
    centre that truncation pulls toward.
    """

    def __init__(self, z_dim: int, w_dim: int, num_classes: int, layers: int = 2, w_avg_beta: float = 0.995):
        super().__init__()
        self.z_dim, self.w_dim, self.num_classes, self.w_avg_beta = z_dim, w_dim, num_classes, w_avg_beta
        self.embed = EqualLinear(num_classes, w_dim) if num_classes else None
        dims = [z_dim + (w_dim if num_classes else 0)] + [w_dim] * layers
        self.net = nn.Sequential(*[EqualLinear(a, b, lr_mul=0.01, act=True) for a, b in zip(dims, dims[1:])])
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x = normalize_2nd_moment(z)
        if self.embed is not None:
            if y is None:
                raise ValueError("this generator is class-conditional: give a class for each image")
            onehot = F.one_hot(y.long(), self.num_classes).to(z.dtype)
            x = torch.cat([x, normalize_2nd_moment(self.embed(onehot))], dim=1)
        w = self.net(x)
        if self.training and torch.is_grad_enabled():  # a G training step, not a sample
            with torch.no_grad():
                self.w_avg.copy_(w.detach().float().mean(0).lerp(self.w_avg, self.w_avg_beta))
        return w


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class ModulatedConv2d(nn.Module):
    """Conv whose input channels are scaled by a style from w, then (``demodulate``) each
    output channel renormalised to unit expected variance: StyleGAN2's replacement for AdaIN."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, w_dim: int, demodulate: bool = True, up: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.affine = EqualLinear(w_dim, in_ch, bias_init=1.0)  # styles start at 1: plain convs at init
        self.scale, self.pad, self.demodulate, self.up = 1 / math.sqrt(in_ch * kernel * kernel), kernel // 2, demodulate, up

    def forward(self, x: torch.Tensor, w: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        """``gain`` scales the output at the cost of a [B, out] multiply (demodulated layers)."""
        styles = self.affine(w)  # [B, in]
        weight = self.weight * self.scale
        x = x * styles[:, :, None, None].to(x.dtype)
        if self.up:  # after the modulation, which commutes with it and costs a quarter here
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = F.conv2d(x, weight.to(x.dtype), padding=self.pad)
        if self.demodulate:  # 1 / ||w * s|| per sample and output channel, without a per-sample weight
            dcoefs = (styles.square() @ weight.square().sum(dim=(2, 3)).t() + 1e-8).rsqrt() * gain  # [B, out]
            x = x * dcoefs[:, :, None, None].to(x.dtype)
        elif gain != 1.0:
            x = x * gain
        return x


class SynthesisLayer(nn.Module):
    """Modulated conv + per-pixel noise (learned strength) + bias + leaky ReLU.

    ``noise_const`` is a fixed noise image drawn at construction and saved with the weights;
    ``noise_mode`` 'const' uses it (sampling), 'random' draws fresh noise (training), 'none' none.
    """

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, resolution: int, up: bool = False):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, 3, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str) -> torch.Tensor:
        # lrelu(conv + noise + bias) * sqrt 2, with the gain moved into the demodulation, the
        # noise strength and the bias (lrelu(g * y) = g * lrelu(y)): one pass fewer over x
        x = self.conv(x, w, gain=SQRT2)
        strength = self.noise_strength * SQRT2
        if noise_mode == "random":
            x = x + torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype) * strength
        elif noise_mode == "const":
            x = x + self.noise_const.to(x.dtype) * strength
        return F.leaky_relu_(x + (self.bias * SQRT2).to(x.dtype)[None, :, None, None], 0.2)


class ToRGB(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(out_ch))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias.to(x.dtype)[None, :, None, None]


class SynthesisNetwork(nn.Module):
    """ws [B, num_ws, w_dim] -> image. Layer order (coarse to fine): the 4x4 conv, then per
    resolution conv0 (upsampling) and conv1; each toRGB shares its w with the next conv, so
    ``num_ws = 2 * log2(R) - 2`` (10 at 64 px)."""

    def __init__(self, w_dim: int, resolution: int, channels: int, width: int, max_channels: int = 0):
        super().__init__()
        top = log2_of(resolution)
        self.resolution, self.num_ws = resolution, 2 * top - 2
        ch = {2**k: channels_for(2**k, width, max_channels) for k in range(2, top + 1)}
        self.const = nn.Parameter(torch.randn(ch[4], 4, 4))
        self.layers = nn.ModuleList([SynthesisLayer(ch[4], ch[4], w_dim, 4)])
        self.torgbs = nn.ModuleList([ToRGB(ch[4], channels, w_dim)])
        for k in range(3, top + 1):
            r = 2**k
            self.layers.append(SynthesisLayer(ch[r // 2], ch[r], w_dim, r, up=True))
            self.layers.append(SynthesisLayer(ch[r], ch[r], w_dim, r))
            self.torgbs.append(ToRGB(ch[r], channels, w_dim))

    def forward(self, ws: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        x = self.const[None].expand(ws.shape[0], -1, -1, -1).to(ws.dtype)
        x = self.layers[0](x, ws[:, 0], noise_mode)
        img = self.torgbs[0](x, ws[:, 1])
        for i, torgb in enumerate(self.torgbs[1:]):
            x = self.layers[1 + 2 * i](x, ws[:, 1 + 2 * i], noise_mode)
            x = self.layers[2 + 2 * i](x, ws[:, 2 + 2 * i], noise_mode)
            img = F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False) + torgb(x, ws[:, 3 + 2 * i])
        return img


class StyleGenerator(nn.Module):
    """``G(z, y)`` -> images (about [-1, 1]; no tanh, as in StyleGAN).

    ``truncation_psi`` < 1 pulls w toward ``mapping.w_avg`` (0: the mean image);
    ``noise_mode`` None means 'random' while training and 'const' in eval mode;
    in training, ``mixing_prob`` of the batches mix two latents at a random layer
    (style-mixing regularisation, which keeps coarse and fine styles separable).
    """

    def __init__(self, z_dim: int, w_dim: int, channels: int, resolution: int, width: int, num_classes: int,
                 mapping_layers: int = 2, mixing_prob: float = 0.9, max_channels: int = 0):
        super().__init__()
        self.z_dim, self.num_classes, self.out_shape = z_dim, num_classes, (channels, resolution, resolution)
        self.mapping = MappingNetwork(z_dim, w_dim, num_classes, mapping_layers)
        self.synthesis = SynthesisNetwork(w_dim, resolution, channels, width, max_channels)
        self.num_ws, self.mixing_prob = self.synthesis.num_ws, mixing_prob

    def make_latent(self, n: int, generator: torch.Generator | None = None, truncation: float | None = None) -> torch.Tensor:
        return torch.randn((n, self.z_dim), generator=generator)  # truncation happens in W

    def truncate(self, w: torch.Tensor, psi: float) -> torch.Tensor:
        return w if psi == 1 else self.mapping.w_avg.to(w.dtype).lerp(w, psi)

    def ws(self, z: torch.Tensor, y: torch.Tensor | None = None, truncation_psi: float = 1.0) -> torch.Tensor:
        """One (truncated) w per layer: [B, num_ws, w_dim]."""
        w = self.truncate(self.mapping(z, y), truncation_psi)
        return w[:, None].expand(-1, self.num_ws, -1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None, truncation_psi: float = 1.0,
                noise_mode: str | None = None) -> torch.Tensor:
        ws = self.ws(z, y, truncation_psi)
        if self.training and self.mixing_prob > 0 and torch.is_grad_enabled():
            ws = self._mix_randomly(ws, y)
        return self.synthesis(ws, noise_mode or ("random" if self.training else "const"))

    def _mix_randomly(self, ws: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """On the device, no host branch: per image, with prob ``mixing_prob`` the layers from a
        random cutoff on take the w of a second latent."""
        b = ws.shape[0]
        w2 = self.mapping(torch.randn(b, self.z_dim, device=ws.device, dtype=ws.dtype), y)
        cutoff = torch.randint(1, self.num_ws, (b, 1), device=ws.device)
        cutoff = torch.where(torch.rand(b, 1, device=ws.device) < self.mixing_prob, cutoff, self.num_ws)
        second = torch.arange(self.num_ws, device=ws.device)[None] >= cutoff  # [B, num_ws]
        return torch.where(second[:, :, None], w2[:, None].to(ws.dtype), ws)


def mix_styles(ws_a: torch.Tensor, ws_b: torch.Tensor, cutoff: int) -> torch.Tensor:
    """Layers before ``cutoff`` (coarse: pose, layout) from A, the rest (fine: colours, texture) from B."""
    return torch.cat([ws_a[:, :cutoff], ws_b[:, cutoff:]], dim=1)


# ---------------------------------------------------------------------------- discriminator


class ResidualBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv0 = EqualConv2d(in_ch, in_ch, 3)
        # (lrelu * sqrt 2 + skip) / sqrt 2, the two gains folded into the layers' weights
        self.conv1 = EqualConv2d(in_ch, out_ch, 3, gain=1.0)
        self.skip = EqualConv2d(in_ch, out_ch, 1, bias=False, act=False, gain=1 / SQRT2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.skip(halve(x))
        x = self.conv1(halve(self.conv0(x)))  # pool, then conv: the second conv costs 1/4
        return x + skip


def halve(x: torch.Tensor) -> torch.Tensor:
    """The 2x2 mean (bilinear at half size with pixel centres is exactly that): on this CPU,
    channels_last, its forward and backward took 0.55-0.76x avg_pool2d's at 32 and 64 px."""
    return F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)


def minibatch_std(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """Append the std of each feature across a group of images (averaged) as one channel:
    D sees the batch's variety, so a generator that collapses is easy to spot."""
    b, c, h, w = x.shape
    g = max(d for d in range(1, min(group, b) + 1) if b % d == 0)
    y = x.float().reshape(g, -1, c, h, w)
    y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # [B/g]
    y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w).to(x.dtype)
    return torch.cat([x, y], dim=1)


class StyleDiscriminator(nn.Module):
    """Residual D: fromRGB at full resolution, blocks down to 4x4, minibatch std, conv, FC,
    then a logit (or, with classes, the projection onto the class's learned vector)."""

    def __init__(self, channels: int, resolution: int, width: int, num_classes: int, cmap_dim: int = 128,
                 max_channels: int = 0):
        super().__init__()
        top = log2_of(resolution)
        ch = {2**k: channels_for(2**k, width, max_channels) for k in range(2, top + 1)}
        self.num_classes = num_classes
        self.from_rgb = EqualConv2d(channels, ch[resolution], 1)
        self.blocks = nn.Sequential(*[ResidualBlock(ch[2**k], ch[2**(k - 1)]) for k in range(top, 2, -1)])
        self.conv = EqualConv2d(ch[4] + 1, ch[4], 3)
        self.fc = EqualLinear(ch[4] * 16, ch[4], act=True)
        self.cmap_dim = cmap_dim if num_classes else 1
        self.out = EqualLinear(ch[4], self.cmap_dim)
        self.embed = EqualLinear(num_classes, cmap_dim) if num_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.blocks(self.from_rgb(x))
        h = self.conv(minibatch_std(h))
        out = self.out(self.fc(h.flatten(1)))
        if self.embed is None:
            return out.squeeze(1)
        cmap = self.embed(F.one_hot(y.long(), self.num_classes).to(out.dtype))
        return (out * cmap).sum(dim=1) / math.sqrt(self.cmap_dim)


def build_stylegan2(cfg, num_classes: int) -> tuple[StyleGenerator, StyleDiscriminator]:
    """The ``stylegan2`` run type's G and D (w has z's size; equalized lr: the layers init themselves)."""
    k = num_classes if cfg.conditional else 0
    return (StyleGenerator(cfg.z_dim, cfg.z_dim, cfg.channels, cfg.resolution, cfg.width, k, cfg.mapping_layers,
                           cfg.style_mixing, cfg.max_channels),
            StyleDiscriminator(cfg.channels, cfg.resolution, cfg.width, k, max_channels=cfg.max_channels))
