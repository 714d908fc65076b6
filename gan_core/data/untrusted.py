"""The one way an image from outside enters the studio: Data page uploads and imports,
archive members, clips, Inpaint and Super-resolve uploads, the CLI's ``--image``.

- Formats from an explicit allow-list only (``Image.open(formats=...)``): nothing is sniffed
  into a format Pillow would hand to an external program (EPS/PS go to Ghostscript) or to a
  rarely used decoder.
- The pixel count is read from the header and checked before anything is decoded
  (``GAN_MAX_IMAGE_PIXELS``, default 40 M), so a 30000x30000 PNG of a few KB costs nothing;
  Pillow's own decompression-bomb errors become the same clear refusal.
- Every failure is ``SkipFile`` with a reason a person can read; an import skips and reports
  the file, a page or command shows the reason.

Modes become 8-bit "L" or "RGB" in ``to_l_or_rgb``: 1-bit and 16/32-bit greys to "L"
(16-bit scaled, float stretched to its range), palettes expanded, transparency composited
on black, CMYK/YCbCr/LAB converted to "RGB".
"""
from __future__ import annotations

import io
import os
import re
import warnings
from contextlib import contextmanager
from typing import Iterator

import numpy as np
from PIL import (  # noqa: F401 - registers the allowed formats' decoders, and only those are asked for
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    JpegImagePlugin,
    PngImagePlugin,
    PpmImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

MAX_IMAGE_PIXELS = 40_000_000  # 40 megapixels; larger images are refused undecoded
# Pillow format names. JPEG includes phones' multi-picture JPEGs (opened as MPO); PPM covers PBM/PGM/PPM.
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF", "PPM")


class SkipFile(Exception):
    """One file is unusable; ``str(exc)`` is the reason shown in the report."""


def max_image_pixels() -> int:
    """``GAN_MAX_IMAGE_PIXELS`` if set (a whole number), else 40 M."""
    value = os.environ.get("GAN_MAX_IMAGE_PIXELS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else MAX_IMAGE_PIXELS


@contextmanager
def open_untrusted(data: bytes) -> Iterator[Image.Image]:
    """Open untrusted image bytes with Pillow, for the ``with`` block only.

    The size is checked from the header before anything is decoded, so a decompression
    bomb costs nothing. Any exception from Pillow inside the block becomes ``SkipFile``:
    one hostile file must never stop a whole import or load.
    """
    limit = max_image_pixels()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning, EXIF noise, ...
            with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as im:
                w, h = im.size
                if w * h > limit:
                    raise SkipFile(f"too large: {w}x{h} pixels, over the limit of {limit:,} (GAN_MAX_IMAGE_PIXELS)")
                if w < 1 or h < 1:
                    raise SkipFile(f"corrupt: empty {w}x{h} image")
                yield im
    except SkipFile:
        raise
    except Image.DecompressionBombError as exc:  # Pillow refuses over 2x its own limit while reading the header
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)):,} pixels" if found else "its header's size"
        raise SkipFile(f"too large: {size}, over the limit of {limit:,} (GAN_MAX_IMAGE_PIXELS)") from None
    except Image.UnidentifiedImageError:
        raise SkipFile("not an image") from None  # the allow-list: ALLOWED_FORMATS
    except Exception as exc:  # noqa: BLE001 - OSError, SyntaxError, ValueError, struct.error...
        raise SkipFile(f"corrupt: {type(exc).__name__}: {exc}"[:200]) from None


def load_untrusted(data: bytes) -> Image.Image:
    """Decode untrusted bytes into a loaded image in its own mode, or raise ``SkipFile``."""
    with open_untrusted(data) as im:
        im.load()
        return im.copy()


def decode_image(data: bytes, draft_size: int | None = None) -> Image.Image:
    """Decode untrusted bytes into a loaded "L" or "RGB" image, or raise ``SkipFile``.
    ``draft_size`` lets JPEG decode at reduced scale."""
    with open_untrusted(data) as im:
        if draft_size and im.format == "JPEG":
            im.draft("RGB" if im.mode != "L" else "L", (draft_size, draft_size))
        im.load()
        return to_l_or_rgb(im)


# An animation keeps at most this many frames on import (picked evenly; a clip trains on 8-16),
# and stepping through it decodes at most FRAME_PIXEL_BUDGET pixels (GIF frames decode in order).
MAX_IMPORT_FRAMES = 64
FRAME_PIXEL_BUDGET = 400_000_000


def decode_frames(data: bytes, side: int) -> list[Image.Image]:
    """Untrusted bytes as "L" or "RGB" frames no larger than ``side`` px: one for a still
    image, up to ``MAX_IMPORT_FRAMES`` picked evenly over an animation (GIF, WebP, APNG),
    all in one mode; or ``SkipFile``."""
    with open_untrusted(data) as im:
        count = int(getattr(im, "n_frames", 1))
        if count < 2:
            if im.format == "JPEG":
                im.draft("RGB" if im.mode != "L" else "L", (side, side))
            im.load()
            frames = [to_l_or_rgb(im)]
        else:
            count = min(count, max(2, FRAME_PIXEL_BUDGET // (im.size[0] * im.size[1])))
            frames = []
            for i in sorted(set(np.linspace(0, count - 1, min(count, MAX_IMPORT_FRAMES)).round().astype(int).tolist())):
                im.seek(i)
                frames.append(to_l_or_rgb(im))
    for frame in frames:
        if max(frame.size) > side:
            frame.thumbnail((side, side), Image.Resampling.LANCZOS)
    mode = "RGB" if any(f.mode == "RGB" for f in frames) else "L"
    return [f.convert(mode) for f in frames]


def to_l_or_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit "L" or "RGB" (rules in the module docstring)."""
    mode = im.mode
    if mode in ("L", "RGB"):
        return im.copy()
    if mode == "1":
        return im.convert("L")
    if mode.startswith("I;16") or mode in ("I", "F"):
        return Image.fromarray(_wide_to_uint8(np.asarray(im), mode), "L")
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
    if mode == "PA":
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "La", "RGBa"):
        return _on_black(im)
    return im.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX, ...


def _wide_to_uint8(a: np.ndarray, mode: str) -> np.ndarray:
    a = a.astype(np.float64)
    if mode == "F":
        finite = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(finite.min()), float(finite.max())
        if lo >= 0.0 and hi <= 1.0:
            a = finite * 255.0
        else:
            a = (finite - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(finite)
    else:  # 16-bit data (I;16* and "I", which Pillow uses for 16-bit PNGs)
        a = np.clip(a, 0, 65535) / 257.0
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _on_black(im: Image.Image) -> Image.Image:
    """Composite a transparent image on black (alpha premultiplied into the colour)."""
    grey = im.mode in ("LA", "La")
    im = im.convert("LA" if grey else "RGBA")
    a = np.asarray(im).astype(np.float32)
    out = a[..., :-1] * (a[..., -1:] / 255.0)
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return Image.fromarray(out[..., 0], "L") if grey else Image.fromarray(out, "RGB")


