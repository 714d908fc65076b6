"""Clips out of a trained video GAN: animated GIFs for files and for the app.

``write_clip_samples`` writes one looping animated GIF per clip (T frames, provenance in
the GIF comment); ``clip_to_gif_bytes`` / ``clips_grid_gif`` / ``generate_clips`` serve the
app's Generate page.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gan_core.data.clips import clip_frames_uint8
from gan_core.inference.generators import class_labels, generate, provenance
from gan_core.torch_utils.vision import torchvision

DEFAULT_FPS = 8


def _frames_to_gif(frames: np.ndarray, fps: float, comment: str | None) -> bytes:
    """uint8 frames [T, H, W] or [T, H, W, 3] -> looping GIF bytes with exactly T frames.

    RGB frames share one adaptive palette (no per-frame flicker). GIF writers fold a frame
    identical to the one before into it; to keep T frames (one per clip step) such a frame
    gets one corner pixel nudged to the nearest other palette entry.
    """
    t = frames.shape[0]
    grey = frames.ndim == 3
    if grey:
        images = [Image.fromarray(f, "L") for f in frames]
        nearest = lambda v: v + 1 if v < 255 else v - 1  # noqa: E731
    else:
        montage = Image.fromarray(np.ascontiguousarray(frames.reshape(-1, *frames.shape[2:])), "RGB")
        palette_im = montage.quantize(colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        entries = palette_im.getpalette()[: 3 * 255]
        entries += [min(255, v + 1) if v < 255 else 254 for v in entries[:3]]  # a near twin of colour 0
        palette_im.putpalette(entries)
        images = [Image.fromarray(f, "RGB").quantize(palette=palette_im, dither=Image.Dither.NONE) for f in frames]
        pal = np.array(entries, dtype=np.int32).reshape(-1, 3)

        def nearest(v: int) -> int:
            d = ((pal - pal[v]) ** 2).sum(1)
            d[v] = 1 << 30
            return int(d.argmin())

    previous = None
    for i, im in enumerate(images):
        a = np.asarray(im)
        if previous is not None and np.array_equal(a, previous):
            a = a.copy()
            a[0, 0] = nearest(int(a[0, 0]))
            new = Image.fromarray(a, im.mode)
            if im.mode == "P":
                new.putpalette(im.getpalette())
            images[i] = new
        previous = np.asarray(images[i])
    buf = io.BytesIO()
    extra = {"comment": comment.encode("utf-8")} if comment else {}
    duration = max(20, int(round(1000 / max(fps, 0.1))))
    if t == 1:
        images[0].save(buf, format="GIF", **extra)
    else:
        images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0,
                       optimize=False, disposal=1, **extra)
    return buf.getvalue()


def clip_to_gif_bytes(clip: torch.Tensor, fps: float = DEFAULT_FPS, comment: dict | str | None = None,
                      scale: int = 1) -> bytes:
    """One clip [T, C, H, W] in [-1, 1] as an animated, looping GIF (``scale``: nearest
    upscaling for display)."""
    if clip.dim() != 4:
        raise ValueError(f"a clip is [T, C, H, W]; got shape {tuple(clip.shape)}")
    frames = clip_frames_uint8(clip)
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    text = json.dumps(comment, sort_keys=True) if isinstance(comment, dict) else comment
    return _frames_to_gif(frames, fps, text)


def clips_grid_gif(clips: torch.Tensor, nrow: int = 4, fps: float = DEFAULT_FPS, scale: int = 1,
                   comment: dict | str | None = None) -> bytes:
    """Many clips [N, T, C, H, W] playing side by side in one GIF (a grid per frame)."""
    grids = torch.stack([torchvision.utils.make_grid(clips[:, t].float().clamp(-1, 1), nrow=nrow, padding=2,
                                                     pad_value=1.0) for t in range(clips.shape[1])])
    if clips.shape[2] == 1:
        grids = grids[:, :1]
    return clip_to_gif_bytes(grids, fps, comment, scale)


@torch.no_grad()
def generate_clips(loaded, seeds: list[int], class_index: int | None = None, truncation: float | None = None,
                   labels: torch.Tensor | None = None, batch: int = 64) -> torch.Tensor:
    """Clips [N, T, C, H, W] in [-1, 1] (CPU), one per seed, from a loaded dvdgan run."""
    if labels is None:
        labels = class_labels(loaded, len(seeds), class_index)
    if class_index is not None and loaded.conditional and not 0 <= class_index < len(loaded.classes):
        raise ValueError(f"class index {class_index} is out of range 0..{len(loaded.classes) - 1}")
    parts = []
    for s in range(0, len(seeds), batch):
        chunk = labels[s:s + batch] if labels is not None else None
        parts.append(generate(loaded, seeds[s:s + batch], truncation=truncation, labels=chunk))
    return torch.cat(parts)


def clip_file_name(seed: int, class_index: int | None) -> str:
    return f"{class_index}_{seed:05d}.gif" if class_index is not None else f"{seed:05d}.gif"


def write_clip_samples(loaded, out: Path, n: int, seed: int = 0, class_index: int | None = None,
                       truncation: float | None = None, fps: float = DEFAULT_FPS, batch: int = 64) -> list[Path]:
    """N animated GIFs (seeds seed..seed+n-1) in ``out``, each with T frames, looping;
    provenance (run, step, seed, class ...) as JSON in the GIF comment."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    labels = class_labels(loaded, n, class_index)
    written = []
    for start in range(0, n, batch):
        seeds = list(range(seed + start, seed + min(n, start + batch)))
        chunk = labels[start:start + len(seeds)] if labels is not None else None
        clips = generate_clips(loaded, seeds, truncation=truncation, labels=chunk, batch=batch)
        for i, s in enumerate(seeds):
            c = int(chunk[i]) if chunk is not None else None
            info = provenance(loaded, s, c, truncation=truncation or "none", frames=clips.shape[1], fps=fps)
            path = out / clip_file_name(s, c)
            path.write_bytes(clip_to_gif_bytes(clips[i], fps, info))
            written.append(path)
    return written


def read_gif_frames(data: bytes) -> list[Image.Image]:
    """Every frame of a GIF (for tests and the app)."""
    frames = []
    with Image.open(io.BytesIO(data)) as im:
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            frames.append(im.convert("RGB"))
    return frames
