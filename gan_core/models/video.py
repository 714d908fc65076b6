"""Video GAN networks in the spirit of DVD-GAN (Clark et al. 2019): one generator, two critics.

* ``VideoGenerator``: z (+ a class embedding) sets the first hidden state and the input
  of a ConvGRU at 4 x 4 (half the decoder's first width), unrolled over T frames (the
  motion), and one content map per clip (the item: MoCoGAN's content/motion split, Tulyakov
  et al. 2018) that every frame gets beside its hidden state; a shared DCGAN-style decoder
  (1x1 conv, then ConvT, BN, ReLU; ``cfg.width`` channels; per-class BN with
  ``g_norm=conditional``) turns each into a frame. Output
  ``[B, T, C, R, R]`` in [-1, 1]. Deterministic for a given z: a seed is a whole clip.
* ``DualDiscriminator`` (one module, so the engine's single D optimiser, checkpoints
  and EMA-free D need nothing new):
  ``spatial`` - a 2-D SN conv net (``models.image.DCGANDiscriminator``) on k = min(4, T)
  frames drawn at random per clip, at full resolution; its k scores are summed.
  ``temporal`` - 3-D SN convolutions over the whole clip after 2 x 2 average pooling.
  ``forward(x, y)`` returns the sum of both scores ([B]) and keeps the parts in
  ``last_parts``. Both use projection conditioning when the run is conditional.

The run type (``runtypes.video``) trains them; ``gan_core.video`` writes their clips as GIFs.
3-D convolution weights are stored flattened (``Conv3dFlat``): the trainer converts
D to channels_last on CUDA, which torch refuses for 5-D tensors.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

from gan_core.models.image import (
    DCGANDiscriminator,
    Generator,
    _stages,
    dcgan_init,
    norm_layer,
    run_layers,
)

SPATIAL_FRAMES = 4  # k: frames the spatial critic looks at per clip (fewer when T < 4)


# ---------------------------------------------------------------------------- generator


class ConvGRUCell(nn.Module):
    def __init__(self, in_ch: int, hid_ch: int):
        super().__init__()
        self.gates = nn.Conv2d(in_ch + hid_ch, 2 * hid_ch, 3, padding=1)
        self.candidate = nn.Conv2d(in_ch + hid_ch, hid_ch, 3, padding=1)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        r, u = torch.sigmoid(self.gates(torch.cat([x, h], 1))).chunk(2, 1)
        c = torch.tanh(self.candidate(torch.cat([x, r * h], 1)))
        return torch.lerp(h, c, u)


class VideoGenerator(Generator):
    def __init__(self, z_dim: int, channels: int, resolution: int, frames: int, width: int,
                 num_classes: int, norm: str):
        super().__init__()
        self.z_dim, self.num_classes, self.frames = z_dim, num_classes, frames
        self.out_shape = (frames, channels, resolution, resolution)
        n = _stages(resolution)
        chans = [width * 2 ** (n - 1 - i) for i in range(n)]  # 32 px, width 32: 128, 64, 32
        c0 = chans[0]
        self.embed = nn.Embedding(num_classes, z_dim) if num_classes else None
        in_dim = z_dim * (2 if num_classes else 1)
        ch = max(8, c0 // 2)  # the recurrence runs narrower than the decoder (it is the costly part)
        self.to_hidden = nn.Linear(in_dim, ch * 16)
        self.to_input = nn.Linear(in_dim, ch * 16)
        self.to_content = nn.Linear(in_dim, ch * 16)
        self.gru = ConvGRUCell(ch, ch)
        bn = norm_layer(norm, num_classes)
        layers: list[nn.Module] = [nn.Conv2d(2 * ch, c0, 1), bn(c0), nn.ReLU(True)]
        for a, b in zip(chans, chans[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), bn(b), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(chans[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.decoder = nn.Sequential(*layers)
        self.ch = ch

    def hidden_states(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Per-frame latents [B, T, 2 ch, 4, 4]: the ConvGRU's state (motion) beside one
        content map per clip (what the item is), the same for every frame."""
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)
        h = torch.tanh(self.to_hidden(z)).view(-1, self.ch, 4, 4)
        x = self.to_input(z).view(-1, self.ch, 4, 4)
        content = self.to_content(z).view(-1, self.ch, 4, 4)
        states = []
        for _ in range(self.frames):
            h = self.gru(x, h)
            states.append(torch.cat([h, content], 1))
        return torch.stack(states, 1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        hs = self.hidden_states(z, y)
        b, t = hs.shape[:2]
        ys = y.repeat_interleave(t) if y is not None and self.num_classes else None
        return run_layers(self.decoder, hs.flatten(0, 1), ys).view(b, t, *self.out_shape[1:])


# ---------------------------------------------------------------------------- discriminators


class Conv3dFlat(nn.Module):
    """A 3-D convolution whose weight is kept as a 2-D [out, in*kt*kh*kw] matrix
    (spectral norm sees the same matrix; channels_last conversion leaves it alone)."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int, int], stride: tuple[int, int, int],
                 padding: tuple[int, int, int], bias: bool = True):
        super().__init__()
        self.shape = (cout, cin, *kernel)
        self.stride, self.padding = stride, padding
        self.weight = nn.Parameter(torch.randn(cout, cin * math.prod(kernel)) * 0.02)
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv3d(x, self.weight.reshape(self.shape), self.bias, self.stride, self.padding)


class TemporalDiscriminator(nn.Module):
    """[B, C, T, r, r] -> [B]: 3-D convs (stride 2 in space, and in time while T >= 4)."""

    def __init__(self, channels: int, resolution: int, frames: int, width: int, num_classes: int, sn: bool):
        super().__init__()
        wrap = _sn if sn else (lambda m: m)
        n = max(1, _stages(resolution))
        chans = [width * 2**i for i in range(n)]
        layers: list[nn.Module] = []
        t, cin = frames, channels
        for i, c in enumerate(chans):
            st = 2 if i > 0 and t >= 4 else 1
            layers += [wrap(Conv3dFlat(cin, c, (3, 4, 4), (st, 2, 2), (1, 1, 1))), nn.LeakyReLU(0.2, True)]
            t, cin = (t + 2 - 3) // st + 1, c
        self.features = nn.Sequential(*layers)
        self.head = wrap(nn.Linear(chans[-1] * 16, 1))
        self.embed = wrap(nn.Embedding(num_classes, chans[-1])) if num_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)  # [B, c, T', 4, 4]
        b, c, t = h.shape[:3]
        out = self.head(h.transpose(1, 2).reshape(b, t, c * 16)).squeeze(2).sum(1)
        if self.embed is not None:
            out = out + (self.embed(y) * h.sum((2, 3, 4))).sum(1)
        return out


class DualDiscriminator(nn.Module):
    """Spatial critic on k random full-size frames + temporal critic on the pooled clip."""

    def __init__(self, channels: int, resolution: int, frames: int, width: int, num_classes: int,
                 norm: str, sn: bool, k: int = SPATIAL_FRAMES):
        super().__init__()
        self.k = min(k, frames)
        self.spatial = DCGANDiscriminator(channels, resolution, width, num_classes, norm, sn)
        self.spatial.apply(dcgan_init)
        self.temporal = TemporalDiscriminator(channels, resolution // 2, frames, width, num_classes, sn)
        self.last_parts: tuple[torch.Tensor, torch.Tensor] | None = None

    def pick_frames(self, x: torch.Tensor) -> torch.Tensor:
        """k distinct random frames of every clip: [B, k, C, R, R]."""
        b, t = x.shape[:2]
        idx = torch.rand(b, t, device=x.device).argsort(1)[:, : self.k]
        return x[torch.arange(b, device=x.device)[:, None], idx]

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        b, t, c, r, _ = x.shape
        frames = self.pick_frames(x).flatten(0, 1)
        ys = y.repeat_interleave(self.k) if y is not None else None
        s = self.spatial(frames, ys).view(b, self.k).sum(1)
        pooled = F.avg_pool2d(x.reshape(b * t, c, r, r), 2).view(b, t, c, r // 2, r // 2).transpose(1, 2)
        tm = self.temporal(pooled, y)
        self.last_parts = (s, tm)
        return s + tm


def build_generator(cfg, num_classes: int) -> VideoGenerator:
    k = num_classes if cfg.conditional else 0
    g = VideoGenerator(cfg.z_dim, cfg.channels, cfg.resolution, cfg.frames, cfg.width, k, cfg.g_norm)
    g.decoder.apply(dcgan_init)
    return g


def build_discriminator(cfg, num_classes: int) -> DualDiscriminator:
    k = num_classes if cfg.conditional else 0
    return DualDiscriminator(cfg.channels, cfg.resolution, cfg.frames, cfg.width, k, cfg.d_norm, cfg.spectral_norm)
