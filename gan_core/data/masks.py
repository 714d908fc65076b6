"""Masks for inpainting: presets for people (PIL "L", white = missing) and random masks
for training (boxes and brush strokes, as tensors on the device).

A mask array is float in {0, 1} with 1 = missing; ``mask_to_pil`` / ``mask_from_pil`` convert.
Any pixel of a mask image brighter than mid-grey counts as missing.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw

PRESETS = ("centre box", "random strokes", "half", "none", "all")


def centre_box(size: tuple[int, int], fraction: float = 0.5) -> Image.Image:
    """A centred box covering ``fraction`` of each side (0.5 of 28 px = the benchmark's 14x14)."""
    w, h = size
    bw, bh = max(1, round(w * fraction)), max(1, round(h * fraction))
    left, top = (w - bw) // 2, (h - bh) // 2
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle([left, top, left + bw - 1, top + bh - 1], fill=255)
    return mask


def half(size: tuple[int, int], side: str = "right") -> Image.Image:
    """One half missing: ``side`` in left, right, top, bottom."""
    w, h = size
    box = {"left": [0, 0, w // 2 - 1, h - 1], "right": [w // 2, 0, w - 1, h - 1],
           "top": [0, 0, w - 1, h // 2 - 1], "bottom": [0, h // 2, w - 1, h - 1]}[side]
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return mask


def random_strokes(size: tuple[int, int], seed: int = 0, strokes: int = 4, width: float = 0.08) -> Image.Image:
    """Free-form brush strokes (random walks), reproducible by ``seed``."""
    w, h = size
    rng = np.random.default_rng(seed)
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    line = max(1, round(min(w, h) * width))
    for _ in range(strokes):
        x, y = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
        points = [(x, y)]
        angle = rng.uniform(0, 2 * math.pi)
        for _ in range(int(rng.integers(3, 7))):
            angle += rng.uniform(-1.2, 1.2)
            step = rng.uniform(0.1, 0.25) * min(w, h)
            x = float(np.clip(x + step * math.cos(angle), 0, w - 1))
            y = float(np.clip(y + step * math.sin(angle), 0, h - 1))
            points.append((x, y))
        draw.line(points, fill=255, width=line, joint="curve")
        r = line / 2
        for px, py in points:
            draw.ellipse([px - r, py - r, px + r, py + r], fill=255)
    return mask


def preset(name: str, size: tuple[int, int], seed: int = 0) -> Image.Image:
    """A named preset mask (see ``PRESETS``) for an image of ``size`` (w, h)."""
    if name == "centre box":
        return centre_box(size)
    if name == "random strokes":
        return random_strokes(size, seed)
    if name == "half":
        return half(size)
    if name == "none":
        return Image.new("L", size, 0)
    if name == "all":
        return Image.new("L", size, 255)
    raise ValueError(f"unknown mask preset {name!r}; presets: {', '.join(PRESETS)}")


def mask_from_pil(mask: Image.Image, size: tuple[int, int] | None = None) -> np.ndarray:
    """[H, W] float32 in {0, 1} (1 = missing); resized to ``size`` (w, h) keeping every hole.
    Transparency counts as known: an RGBA mask is missing where it is opaque and bright."""
    if mask.mode in ("RGBA", "LA", "PA") or (mask.mode == "P" and "transparency" in mask.info):
        rgba = mask.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
        grey = np.asarray(rgba.convert("L"), dtype=np.float32) / 255.0 * alpha
        mask = Image.fromarray((grey * 255).astype(np.uint8), "L")
    else:
        mask = mask.convert("L")
    missing = (np.asarray(mask, dtype=np.float32) > 127.5).astype(np.float32)
    return missing if size is None else resize_mask(missing, size)


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a {0,1} mask [H, W] to ``size`` (w, h) so that any pixel touched by the hole stays
    missing: a box filter, > 0, whenever a side shrinks. Nearest sampling dropped holes: a
    1-px stroke on a 4x-larger mask survived on one row in four, a 4x4 box on a 10x10 mask
    vanished at 3x2 (and the image came back unchanged)."""
    h, w = mask.shape
    if (w, h) == tuple(size):
        return mask
    im = Image.fromarray((mask * 255).astype(np.uint8), "L")
    resample = Image.Resampling.BOX if size[0] < w or size[1] < h else Image.Resampling.NEAREST
    small = np.asarray(im.resize(tuple(size), resample), dtype=np.float32)
    return (small > 0).astype(np.float32)


def mask_to_pil(mask: np.ndarray) -> Image.Image:
    return Image.fromarray((np.asarray(mask) > 0.5).astype(np.uint8) * 255, "L")


# ---- training masks -----------------------------------------------------------------------
def random_masks(n: int, resolution: int, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` training masks [n, 1, R, R] (1 = missing) on ``device``: per image one random box
    (a quarter to a half of each side) or 1-3 thick random-walk strokes, about half each.
    Made with ``generator`` (a CPU generator) so they are reproducible and resumable."""
    r = resolution
    u = torch.rand(n, 8, generator=generator)
    ys = torch.arange(r).view(1, r, 1).float()
    xs = torch.arange(r).view(1, 1, r).float()
    # boxes
    bh = (0.25 + 0.25 * u[:, 0]) * r
    bw = (0.25 + 0.25 * u[:, 1]) * r
    top = u[:, 2] * (r - bh)
    left = u[:, 3] * (r - bw)
    box = ((ys >= top.view(-1, 1, 1)) & (ys < (top + bh).view(-1, 1, 1))
           & (xs >= left.view(-1, 1, 1)) & (xs < (left + bw).view(-1, 1, 1))).float()
    # strokes: capsules between consecutive random-walk points, up to 3 strokes x 4 segments
    strokes = torch.zeros(n, r, r)
    width = (0.05 + 0.05 * u[:, 4]) * r
    count = 1 + (u[:, 5] * 3).long().clamp(max=2)
    for s in range(3):
        p = torch.rand(n, 2, generator=generator) * r
        angle = torch.rand(n, generator=generator) * 2 * math.pi
        active = (count > s).float().view(-1, 1, 1)
        for _ in range(4):
            angle = angle + (torch.rand(n, generator=generator) - 0.5) * 2.4
            length = (0.15 + 0.2 * torch.rand(n, generator=generator)) * r
            q = (p + length.unsqueeze(1) * torch.stack([torch.cos(angle), torch.sin(angle)], 1)).clamp(0, r - 1)
            strokes = torch.maximum(strokes, active * _capsule(p, q, width, xs, ys))
            p = q
    use_box = (u[:, 6] < 0.5).float().view(-1, 1, 1)
    masks = use_box * box + (1 - use_box) * strokes
    return masks.unsqueeze(1).to(device)


def _capsule(p: torch.Tensor, q: torch.Tensor, width: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """1 inside the thick segment p-q (per image), 0 outside."""
    px, py = p[:, 0].view(-1, 1, 1), p[:, 1].view(-1, 1, 1)
    dx, dy = (q[:, 0] - p[:, 0]).view(-1, 1, 1), (q[:, 1] - p[:, 1]).view(-1, 1, 1)
    t = (((xs - px) * dx + (ys - py) * dy) / (dx * dx + dy * dy + 1e-6)).clamp(0, 1)
    dist2 = (xs - px - t * dx) ** 2 + (ys - py - t * dy) ** 2
    return (dist2 <= (width.view(-1, 1, 1) / 2) ** 2).float()
