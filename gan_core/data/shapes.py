"""The procedural ``shapes`` set: five shape classes drawn with random size, place, colour,
angle and background, rendered from signed distances (anti-aliased, any resolution)."""
from __future__ import annotations

import math

import numpy as np
import torch

SHAPE_CLASSES = ["circle", "square", "triangle", "cross", "ring"]
_CHUNK = 2048  # shapes rendered per step, to bound temporary memory


def make_shapes(n: int, resolution: int, seed: int = 0, *,
                stream: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` labelled RGB shapes in [-1, 1]: ``(images [n, 3, R, R], labels [n])``.

    Deterministic by ``(seed, stream)``; item ``i`` does not depend on ``n`` (parameters
    are drawn row by row), so a smaller ``n`` gives a prefix of a larger one. Labels
    cycle through ``SHAPE_CLASSES`` so every class is equally frequent.
    """
    p = np.random.default_rng([seed, stream]).random((n, 12))
    kinds = np.arange(n) % len(SHAPE_CLASSES)
    size = 0.3 + 0.4 * p[:, 0]  # 30-70% of the frame
    cx = size / 2 + (1 - size) * p[:, 1]  # keeps the shape's bounding circle inside
    cy = size / 2 + (1 - size) * p[:, 2]
    angle = 2 * np.pi * p[:, 3]
    colour = _hsv_to_rgb(p[:, 4], 0.5 + 0.5 * p[:, 5], 0.7 + 0.3 * p[:, 6])
    background = 0.02 + 0.3 * p[:, 7:10]  # dark, varied
    gradient = 0.4 * (p[:, 10:12] - 0.5)  # gentle linear shading
    images = render_shapes(kinds, cx, cy, size, colour, resolution, angle=angle,
                           background=background, gradient=gradient)
    return images, torch.as_tensor(kinds, dtype=torch.int64)


def render_shape(kind_index: int, cx: float, cy: float, size: float, colour, resolution: int,
                 *, angle: float = 0.0, background=(0.0, 0.0, 0.0)) -> torch.Tensor:
    """One shape as a float tensor ``[3, R, R]`` in [-1, 1]; see ``render_shapes``."""
    return render_shapes([kind_index], [cx], [cy], [size], [colour], resolution,
                         angle=[angle], background=[background])[0]


def render_shapes(kinds, cx, cy, size, colour, resolution: int, *, angle=None,
                  background=None, gradient=None) -> torch.Tensor:
    """Draw shapes, one per item, vectorised: float ``[B, 3, R, R]`` in [-1, 1].

    Per item: ``kinds`` index into ``SHAPE_CLASSES``; centre ``cx, cy`` and ``size``
    (bounding diameter) are fractions of the frame; ``colour`` and ``background`` are
    RGB in [0, 1]; ``angle`` in radians; ``gradient`` (gx, gy) shades the background.
    Edges are antialiased (1-pixel ramp on a signed distance). Moving clips: call once
    with every frame's centres.
    """
    f32 = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
    kinds = torch.as_tensor(np.asarray(kinds, dtype=np.int64))
    b = kinds.shape[0]
    cx, cy, size, colour = f32(cx), f32(cy), f32(size), f32(colour).reshape(b, 3)
    angle = torch.zeros(b) if angle is None else f32(angle)
    background = torch.zeros(b, 3) if background is None else f32(background).reshape(b, 3)
    gradient = torch.zeros(b, 2) if gradient is None else f32(gradient).reshape(b, 2)
    out = torch.empty(b, 3, resolution, resolution)
    step = max(1, (1 << 21) // (resolution * resolution))
    for s in range(0, b, step):
        e = min(b, s + step)
        out[s:e] = _render_chunk(kinds[s:e], cx[s:e], cy[s:e], size[s:e], colour[s:e],
                                 angle[s:e], background[s:e], gradient[s:e], resolution)
    return out


def _render_chunk(kinds, cx, cy, size, colour, angle, background, gradient, r) -> torch.Tensor:
    grid = (torch.arange(r, dtype=torch.float32) + 0.5) / r
    x, y = grid.view(1, 1, r), grid.view(1, r, 1)
    col = lambda t: t.view(-1, 1, 1)  # noqa: E731
    dx, dy = x - col(cx), y - col(cy)
    cos, sin = col(torch.cos(angle)), col(torch.sin(angle))
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos  # shape-local coordinates
    sd = torch.empty(len(kinds), r, r)
    for k in range(len(SHAPE_CLASSES)):
        m = kinds == k
        if m.any():
            sd[m] = _signed_distance(k, u[m], v[m], col(size[m]) / 2)
    alpha = (0.5 - sd * r).clamp(0, 1).unsqueeze(1)  # [B, 1, R, R]
    shade = (gradient[:, 0].view(-1, 1, 1) * (x - 0.5) + gradient[:, 1].view(-1, 1, 1) * (y - 0.5))
    bg = (background.view(-1, 3, 1, 1) + shade.unsqueeze(1)).clamp(0, 1)
    img = bg * (1 - alpha) + colour.view(-1, 3, 1, 1) * alpha
    return img * 2 - 1


def _signed_distance(kind: int, u, v, radius):
    """Approximate signed distance (frame units, < 0 inside) of shape ``kind``."""
    name = SHAPE_CLASSES[kind]
    if name == "circle":
        return torch.sqrt(u * u + v * v) - radius
    if name == "square":
        return torch.maximum(u.abs(), v.abs()) - 0.75 * radius
    if name == "triangle":  # equilateral, circumradius = radius, apex up
        edges = [u * math.cos(a) + v * math.sin(a) for a in (math.pi / 2, math.pi * 7 / 6, -math.pi / 6)]
        return torch.stack(edges).amax(0) - radius / 2
    if name == "cross":
        arm, half = 0.9 * radius, 0.3 * radius
        bar1 = torch.maximum(u.abs() - arm, v.abs() - half)
        bar2 = torch.maximum(u.abs() - half, v.abs() - arm)
        return torch.minimum(bar1, bar2)
    return (torch.sqrt(u * u + v * v) - 0.75 * radius).abs() - 0.25 * radius  # ring


def _hsv_to_rgb(h, s, v) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + h[:, None] * 6) % 6
    return v[:, None] - (v * s)[:, None] * np.clip(np.minimum(k, 4 - k), 0, 1)
