"""DiffAugment (Zhao et al. 2020): the same differentiable augmentation on real and fake.

Applied to every image D sees, in both D and G steps, so D cannot memorise a small data
set and G still gets gradients through the augmentation. Works on [B, C, H, W] and on
clips [B, T, C, H, W] (one transform per clip).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def diff_augment(x: torch.Tensor, policies: list[str]) -> torch.Tensor:
    if not policies:
        return x
    clip_shape = x.shape if x.dim() == 5 else None
    if clip_shape is not None:  # fold time into channels so each clip moves as one
        b, t, c, h, w = clip_shape
        x = x.reshape(b, t * c, h, w)
    for policy in policies:
        x = _POLICIES[policy](x, clip_shape)
    return x.reshape(clip_shape) if clip_shape is not None else x


def _per_sample(x: torch.Tensor) -> tuple[int, ...]:
    return (x.shape[0],) + (1,) * (x.dim() - 1)


def _color(x: torch.Tensor, clip_shape) -> torch.Tensor:
    x = x + (torch.rand(_per_sample(x), device=x.device, dtype=x.dtype) - 0.5)  # brightness
    if clip_shape is None and x.shape[1] > 1 or clip_shape is not None and clip_shape[2] > 1:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (torch.rand(_per_sample(x), device=x.device, dtype=x.dtype) * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(_per_sample(x), device=x.device, dtype=x.dtype) + 0.5) + mean  # contrast


def _translation(x: torch.Tensor, clip_shape, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gy = torch.clamp(gy[None] + dy + 1, 0, h + 1)
    gx = torch.clamp(gx[None] + dx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])  # zeros outside the frame
    idx = (gy * (w + 2) + gx).flatten(1)  # [B, H*W]
    flat = padded.flatten(2)  # [B, C, (H+2)*(W+2)]
    return flat.gather(2, idx[:, None, :].expand(-1, x.shape[1], -1)).view_as(x)


def _cutout(x: torch.Tensor, clip_shape, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    gy = torch.arange(h, device=x.device)[None, :, None]
    gx = torch.arange(w, device=x.device)[None, None, :]
    top, left = cy - ch // 2, cx - cw // 2
    inside = (gy >= top) & (gy < top + ch) & (gx >= left) & (gx < left + cw)
    return x * (~inside)[:, None].to(x.dtype)


_POLICIES = {"color": _color, "translation": _translation, "cutout": _cutout}
