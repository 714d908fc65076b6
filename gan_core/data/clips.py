"""Clip data sets for the video GAN: two built-in moving sets and folders of animations.

``load_clips`` returns every set the same way: ``ClipSet.clips`` float32
``[N, T, C, R, R]`` in [-1, 1] (T frames, C = 1 or 3 channels, square R px frames) and
``labels`` int64 ``[N]`` (or None for an unlabelled folder).

Built-ins, generated deterministically from ``seed`` (and the split) in a few seconds:

* ``moving-fashion``: one Fashion-MNIST item (needs the Fashion-MNIST files, see
  ``gan_core.data``), scaled to half the frame, moving in a straight line at 1-2.5 px
  per frame (at 32 px) and bouncing off the edges, on black. Label = the item's class.
  Train clips use train-split items, test clips t10k items.
* ``moving-shapes``: one shape of the ``shapes`` set (circle, square, ...; 40-55 % of
  the frame, its own colour on a dark shaded background) moving, bouncing and slowly
  spinning. Label = the shape.

Sub-pixel motion: items are pasted with bilinear resampling (``grid_sample``), so a
clip moves smoothly rather than by whole pixels. Sizes: ``CLIP_COUNT`` clips per split,
capped so one set stays under ``MAX_SET_FLOATS`` values (about 512 MiB).

Anything else is a folder or ``.zip`` (or an imported set's name) of animated GIF, WebP
or PNG files, read with Pillow under the same safety rules and layout rules as image
folders (``data.importer``: class subfolders become labels; bad files are skipped and
reported in ``ClipSet.report``, never a crash). Each file gives one clip of T frames
picked evenly over its frames (frames repeat when it has fewer than T); every frame is
centre-cropped and resized like an image. Still (single-frame) files are skipped.
Every 10th file is held out as the test split when there are 10 or more.

Loaded sets are cached in-process; callers must not modify the cached tensors.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gan_core.data.images import (
    DatasetError,
    ImportReport,
    _set_path,
    fit_image,
    load_dataset,
    match_channels,
    to_image_tensor,
)
from gan_core.data.importer import (
    Limits,
    SkipFile,
    open_source,
    open_untrusted,
    to_l_or_rgb,
)
from gan_core.data.shapes import SHAPE_CLASSES, _hsv_to_rgb, render_shapes

CLIP_SETS = ("moving-shapes", "moving-fashion")
CLIP_COUNT = {"train": 4096, "test": 512}
MAX_SET_FLOATS = 1 << 27  # 128 M float32 values = 512 MiB per loaded set
MAX_CLIP_FRAMES_DECODED = 4096  # frames of one file we are willing to step through
SPLITS = ("train", "test")
_FOLDER_LIMITS = Limits(max_files=1_000_000, max_total_bytes=None)


@dataclass
class ClipSet:
    clips: torch.Tensor  # float32 [N, T, C, R, R] in [-1, 1], CPU
    labels: torch.Tensor | None  # int64 [N] or None
    classes: list[str]
    name: str
    report: ImportReport | None = None  # skipped files, for folders / zips

    def __len__(self) -> int:
        return self.clips.shape[0]

    @property
    def frames(self) -> int:
        return self.clips.shape[1]


def is_clip_set(name: str) -> bool:
    return name in CLIP_SETS


def load_clips(name: str, resolution: int, channels: int, frames: int, split: str = "train",
               seed: int = 0, limit: int | None = None) -> ClipSet:
    """Load a clip set (cached; see the module docstring)."""
    if not isinstance(resolution, int) or not 4 <= resolution <= 1024:
        raise DatasetError(f"resolution must be an integer from 4 to 1024, got {resolution!r}")
    if channels not in (1, 3):
        raise DatasetError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
    if not isinstance(frames, int) or not 1 <= frames <= 256:
        raise DatasetError(f"frames must be an integer from 1 to 256, got {frames!r}")
    if split not in SPLITS:
        raise DatasetError(f"split must be 'train' or 'test', got {split!r}")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise DatasetError(f"limit must be a positive integer or None, got {limit!r}")
    if name in CLIP_SETS:
        key: tuple = ("builtin",)
    else:
        try:
            path = _set_path(name)
        except DatasetError:
            raise DatasetError(
                f"unknown clip set {name!r}: not a built-in ({', '.join(CLIP_SETS)}), nor an imported "
                "set's name, nor a folder or .zip of animated GIF/WebP/PNG files"
            ) from None
        st = path.stat()
        key = ("path", str(path.resolve()), st.st_ino, st.st_mtime_ns, st.st_size)
    return _load_cached(name, resolution, channels, frames, split, seed, limit, key)


def clear_cache() -> None:
    _load_cached.cache_clear()


def default_count(split: str, frames: int, channels: int, resolution: int) -> int:
    per_clip = frames * channels * resolution * resolution
    return max(16, min(CLIP_COUNT[split], MAX_SET_FLOATS // per_clip))


@functools.lru_cache(maxsize=4)
def _load_cached(name, resolution, channels, frames, split, seed, limit, key) -> ClipSet:
    if key[0] == "builtin":
        n = default_count(split, frames, channels, resolution)
        n = n if limit is None else min(n, limit)
        maker = moving_fashion if name == "moving-fashion" else moving_shapes
        clips, labels, classes = maker(n, resolution, frames, seed, split)
        clips = match_channels(clips.flatten(0, 1), channels).view(n, frames, channels, resolution, resolution)
        return ClipSet(clips.contiguous(), labels, classes, name)
    return _load_folder(name, Path(key[1]), resolution, channels, frames, split, limit)


# ---------------------------------------------------------------------------- motion


def bounce(start: np.ndarray, velocity: np.ndarray, frames: int, high: np.ndarray | float) -> np.ndarray:
    """Positions ``[N, T]`` of points moving at ``velocity`` from ``start`` inside
    ``[0, high]``, reflected at both ends (a triangle wave: no stalls, exact bounces)."""
    t = np.arange(frames)[None, :]
    high = np.broadcast_to(np.asarray(high, dtype=np.float64), start.shape)[:, None]
    p = start[:, None] + velocity[:, None] * t
    period = 2 * np.maximum(high, 1e-9)
    q = np.mod(p, period)
    return high - np.abs(high - q)


def _motion(rng: np.random.Generator, n: int, frames: int, high: float, resolution: int):
    """Start positions and bouncing paths (x, y) in [0, high] pixels; speed 1-2.5 px per
    frame at 32 px (scaled with the resolution)."""
    start = rng.random((n, 2)) * high
    speed = (1.0 + 1.5 * rng.random(n)) * resolution / 32
    angle = 2 * np.pi * rng.random(n)
    vx, vy = speed * np.cos(angle), speed * np.sin(angle)
    return bounce(start[:, 0], vx, frames, high), bounce(start[:, 1], vy, frames, high)


def paste(items: torch.Tensor, x: torch.Tensor, y: torch.Tensor, resolution: int) -> torch.Tensor:
    """Paste ``items`` [M, C, s, s] (values in [0, 1], 0 = empty) into black R x R frames
    with their top-left corner at float pixel positions ``x, y`` [M] (bilinear)."""
    m, _, s, _ = items.shape
    r = resolution
    theta = torch.zeros(m, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = r / s
    theta[:, 0, 2] = r / s - 2 * x / s - 1
    theta[:, 1, 2] = r / s - 2 * y / s - 1
    grid = F.affine_grid(theta, (m, items.shape[1], r, r), align_corners=False)
    return F.grid_sample(items, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def moving_fashion(n: int, resolution: int, frames: int, seed: int = 0, split: str = "train"):
    """``n`` clips ``[n, T, 1, R, R]`` of a Fashion-MNIST item bouncing around."""
    size = max(4, resolution // 2)
    items = load_dataset("fashion-mnist", size, 1, split=split)
    rng = np.random.default_rng([seed, SPLITS.index(split), 7])
    pick = rng.choice(len(items), size=n, replace=n > len(items))
    px, py = _motion(rng, n, frames, float(resolution - size), resolution)
    base = (items.images[torch.as_tensor(pick)] + 1) / 2  # [n, 1, s, s] in [0, 1]
    out = torch.empty(n, frames, 1, resolution, resolution)
    chunk = max(1, 8192 // frames)
    for s0 in range(0, n, chunk):
        e = min(n, s0 + chunk)
        it = base[s0:e, None].expand(-1, frames, -1, -1, -1).flatten(0, 1)
        xs = torch.as_tensor(px[s0:e], dtype=torch.float32).flatten()
        ys = torch.as_tensor(py[s0:e], dtype=torch.float32).flatten()
        out[s0:e] = paste(it, xs, ys, resolution).view(e - s0, frames, 1, resolution, resolution)
    labels = items.labels[torch.as_tensor(pick)].clone()
    return (out * 2 - 1).clamp_(-1, 1), labels, list(items.classes)


def moving_shapes(n: int, resolution: int, frames: int, seed: int = 0, split: str = "train"):
    """``n`` clips ``[n, T, 3, R, R]`` of a shape bouncing and slowly spinning."""
    rng = np.random.default_rng([seed, SPLITS.index(split), 11])
    p = rng.random((n, 10))
    kinds = np.arange(n) % len(SHAPE_CLASSES)
    size = 0.40 + 0.15 * p[:, 0]  # bounding diameter, fraction of the frame
    colour = _hsv_to_rgb(p[:, 1], 0.5 + 0.5 * p[:, 2], 0.7 + 0.3 * p[:, 3])
    background = 0.02 + 0.3 * p[:, 4:7]
    gradient = 0.4 * (p[:, 7:9] - 0.5)
    angle0 = 2 * np.pi * p[:, 9]
    spin = rng.uniform(-0.2, 0.2, n)  # radians per frame
    # centre moves in [size/2, 1 - size/2] (fractions): bounce the top-left corner in [0, 1 - size]
    px, py = _motion(rng, n, frames, 1.0, resolution)
    px = px * (1 - size)[:, None] + (size / 2)[:, None]
    py = py * (1 - size)[:, None] + (size / 2)[:, None]
    angle = angle0[:, None] + spin[:, None] * np.arange(frames)[None]  # [n, T]
    # Each shape is drawn once (white on black, upright, filling an S x S canvas at twice
    # the frame's resolution); every frame then places it with one affine resample.
    canvas = 2 * resolution
    k = len(SHAPE_CLASSES)
    masks = (render_shapes(np.arange(k), np.full(k, 0.5), np.full(k, 0.5), np.ones(k), np.ones((k, 3)), canvas)[:, :1] + 1) / 2
    masks = masks[torch.as_tensor(kinds)]  # [n, 1, S, S] (views of 5 drawings)
    f32 = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    grid1 = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution
    gx, gy = grid1.view(1, 1, 1, -1), grid1.view(1, 1, -1, 1)
    shade = f32(gradient[:, 0]).view(-1, 1, 1, 1) * (gx - 0.5) + f32(gradient[:, 1]).view(-1, 1, 1, 1) * (gy - 0.5)
    bg = (f32(background).view(-1, 3, 1, 1) + shade).clamp(0, 1)  # [n, 3, R, R]
    out = torch.empty(n, frames, 3, resolution, resolution)
    chunk = max(1, 8192 // frames)
    for s0 in range(0, n, chunk):
        e = min(n, s0 + chunk)
        m = (e - s0) * frames
        a = f32(angle[s0:e]).reshape(-1)
        sz = f32(np.repeat(size[s0:e], frames))
        cx = f32(px[s0:e]).reshape(-1) * 2 - 1
        cy = f32(py[s0:e]).reshape(-1) * 2 - 1
        cos, sin = torch.cos(a), torch.sin(a)
        theta = torch.stack([torch.stack([cos, sin, -(cos * cx + sin * cy)], 1),
                             torch.stack([-sin, cos, -(-sin * cx + cos * cy)], 1)], 1) / sz.view(-1, 1, 1)
        grid = F.affine_grid(theta, (m, 1, resolution, resolution), align_corners=False)
        it = masks[s0:e, None].expand(-1, frames, -1, -1, -1).flatten(0, 1)
        alpha = F.grid_sample(it, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        alpha = alpha.view(e - s0, frames, 1, resolution, resolution)
        col = f32(colour[s0:e]).view(-1, 1, 3, 1, 1)
        b = bg[s0:e, None]
        out[s0:e] = torch.addcmul(b, col - b, alpha).mul_(2).sub_(1)
    return out.clamp_(-1, 1), torch.as_tensor(kinds, dtype=torch.int64), list(SHAPE_CLASSES)


# ---------------------------------------------------------------------------- folders


def decode_clip(data: bytes, frames: int, resolution: int, mode: str) -> list[Image.Image]:
    """T frames (Pillow images of ``mode``, R x R) picked evenly from an animated file,
    or ``SkipFile`` saying why the file is not usable."""
    with open_untrusted(data) as im:
        count = int(getattr(im, "n_frames", 1))
        if count < 2:
            raise SkipFile("not a clip: a single frame (give animated GIF, WebP or PNG files)")
        count = min(count, MAX_CLIP_FRAMES_DECODED)
        wanted = np.linspace(0, count - 1, frames).round().astype(int)
        decoded: dict[int, Image.Image] = {}
        for i in sorted(set(wanted.tolist())):
            im.seek(i)
            decoded[i] = fit_image(to_l_or_rgb(im).convert(mode), resolution)
        return [decoded[i] for i in wanted]


def _load_folder(name, path: Path, resolution, channels, frames, split, limit) -> ClipSet:
    source = open_source(path, _FOLDER_LIMITS if path.is_dir() else Limits())
    try:
        source.drop_import_report()
        files = source.files
        if len(files) >= 10:
            test = files[9::10]
            files = test if split == "test" else [x for i, x in enumerate(files) if i % 10 != 9]
        mode = "L" if channels == 1 else "RGB"
        pixels, labels = [], []
        for f, label in files:
            try:
                clip = decode_clip(source.read(f), frames, resolution, mode)
            except SkipFile as exc:
                source.skipped.append((f.rel, str(exc)))
                continue
            pixels.append(np.stack([np.asarray(fr) for fr in clip]))
            labels.append(label)
            if limit is not None and len(pixels) >= limit:
                break
    finally:
        source.close()
    if not pixels:
        first = "; ".join(f"{n}: {r}" for n, r in source.skipped[:3])
        raise DatasetError(
            f"no usable clips in {path}: {len(source.skipped)} files skipped"
            + (f" (first reasons: {first})" if first else " (the folder is empty)")
            + ". Give a folder or .zip of animated GIF/WebP/PNG files, optionally in class subfolders."
        )
    stacked = np.stack(pixels)  # [N, T, R, R] or [N, T, R, R, 3], uint8
    n = stacked.shape[0]
    x = to_image_tensor(stacked.reshape(n * frames, *stacked.shape[2:]), resolution, channels)
    report = ImportReport(n, list(source.skipped), list(source.classes), name)
    y = torch.tensor(labels, dtype=torch.int64) if source.classes else None
    return ClipSet(x.view(n, frames, channels, resolution, resolution), y, list(source.classes), name, report)


# ---------------------------------------------------------------------------- helpers


def clip_frames_uint8(clip: torch.Tensor) -> np.ndarray:
    """[T, C, H, W] in [-1, 1] -> uint8 [T, H, W] (grey) or [T, H, W, 3]."""
    a = ((clip.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return a[..., 0] if a.shape[-1] == 1 else a


def describe(name: str) -> str:
    if name == "moving-fashion":
        return "Fashion-MNIST items moving and bouncing (needs the Fashion-MNIST files)"
    if name == "moving-shapes":
        return "shapes moving, bouncing and spinning (generated, needs nothing)"
    return f"a folder or .zip of animated GIF/WebP/PNG files at {name}"


__all__ = ["CLIP_SETS", "ClipSet", "load_clips", "clear_cache", "moving_fashion", "moving_shapes",
           "decode_clip", "bounce", "paste", "clip_frames_uint8", "describe", "is_clip_set"]
