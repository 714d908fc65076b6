"""Image plumbing for restoration: conversions, quality measures (PSNR/SSIM), the demo
degradations, blending a fill into known pixels, and the pictures the pages show."""
from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np
import torch
from PIL import Image

from gan_core.data.images import load_dataset
from gan_core.data.masks import mask_from_pil, mask_to_pil, resize_mask  # noqa: F401 - resize_mask is part of restore's API
from gan_core.data.untrusted import SkipFile, load_untrusted
from gan_core.models.restoration import downscale

Progress = Callable[[float], None] | None


class RestoreError(ValueError):
    """A request that cannot be served (wrong run type, no known pixels ...); says why."""


# ---- conversions ---------------------------------------------------------------------------
def is_grey(image: Image.Image) -> bool:
    return image.mode in ("1", "L", "LA", "I", "I;16", "F", "P") and (image.mode != "P" or _palette_is_grey(image))


def _palette_is_grey(image: Image.Image) -> bool:
    rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    return bool((np.abs(rgb[..., 0] - rgb[..., 1]).max() == 0) and (np.abs(rgb[..., 1] - rgb[..., 2]).max() == 0))


def to_mode(image: Image.Image, grey: bool) -> Image.Image:
    """Grey ("L") or "RGB"; 16-bit and float greys are scaled to 8 bits, alpha is dropped."""
    if image.mode in ("I", "I;16", "F"):
        a = np.asarray(image, dtype=np.float64)
        hi = 65535.0 if a.max() > 255 else 255.0
        image = Image.fromarray(np.clip(a / hi * 255, 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA").convert("RGB")
    return image.convert("L" if grey else "RGB")


def to_array(image: Image.Image) -> np.ndarray:
    """[H, W, C] float32 in [0, 1]."""
    a = np.asarray(image, dtype=np.float32) / 255.0
    return a[..., None] if a.ndim == 2 else a


def from_array(a: np.ndarray) -> Image.Image:
    a = (np.clip(a, 0, 1) * 255).round().astype(np.uint8)
    return Image.fromarray(a[..., 0], "L") if a.shape[2] == 1 else Image.fromarray(a, "RGB")


def to_tensor(image: Image.Image, channels: int, size: tuple[int, int] | None = None) -> torch.Tensor:
    """[1, C, H, W] in [-1, 1] for a model with ``channels``; stretched to ``size`` (w, h)."""
    image = to_mode(image, grey=channels == 1)
    if size is not None and image.size != tuple(size):
        image = image.resize(tuple(size), Image.Resampling.BICUBIC)
    return torch.from_numpy(to_array(image)).permute(2, 0, 1).unsqueeze(0) * 2 - 1


def from_tensor(x: torch.Tensor) -> Image.Image:
    """[C, H, W] or [1, C, H, W] in [-1, 1] -> "L" or "RGB"."""
    x = x.detach().float().cpu().reshape(-1, *x.shape[-2:])
    return from_array(((x.clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy())


def _model_res(loaded) -> int:
    return int(loaded.config.resolution)


def _report(progress: Progress, value: float) -> None:
    if progress is not None:
        progress(float(min(max(value, 0.0), 1.0)))


# ---- metrics ---------------------------------------------------------------------------------
def _pair(a: Image.Image, b: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    grey = is_grey(a) and is_grey(b)
    a, b = to_mode(a, grey), to_mode(b, grey)
    if b.size != a.size:
        b = b.resize(a.size, Image.Resampling.BICUBIC)
    return np.asarray(a), np.asarray(b)


def psnr(a: Image.Image, b: Image.Image) -> float:
    """PSNR in dB of ``b`` against reference ``a`` (8-bit range); inf when identical."""
    from skimage.metrics import peak_signal_noise_ratio

    x, y = _pair(a, b)
    if np.array_equal(x, y):
        return float("inf")
    return float(peak_signal_noise_ratio(x, y, data_range=255))


def ssim(a: Image.Image, b: Image.Image) -> float:
    """SSIM of ``b`` against ``a`` (scikit-image, 7x7 windows or smaller for tiny images)."""
    from skimage.metrics import structural_similarity

    x, y = _pair(a, b)
    side = min(x.shape[0], x.shape[1])
    win = min(7, side if side % 2 else side - 1)
    if win < 3:
        return float(np.array_equal(x, y))
    return float(structural_similarity(x, y, data_range=255, win_size=win, channel_axis=2 if x.ndim == 3 else None))


# ---- demo degradation --------------------------------------------------------------------------
def degrade_for_demo(image: Image.Image, kind: str, *, mask: Image.Image | None = None, scale: int = 4,
                     fill: int = 128) -> tuple[Image.Image, Image.Image | None]:
    """What the demo restores: ("inpaint") the image with the hole painted ``fill`` grey (so
    no method can peek) and the mask; ("superres") the antialiased bicubic downscale by
    ``scale`` (the same degradation the srgan runs train on) and None."""
    if kind == "inpaint":
        if mask is None:
            raise ValueError("degrade_for_demo('inpaint') needs a mask")
        m = mask_from_pil(mask, image.size)
        grey = is_grey(image)
        a = to_array(to_mode(image, grey))
        a = a * (1 - m[..., None]) + (fill / 255.0) * m[..., None]
        return from_array(a), mask_to_pil(m)
    if kind == "superres":
        w, h = image.size
        lw, lh = max(1, w // scale), max(1, h // scale)
        grey = is_grey(image)
        x = to_tensor(image, 1 if grey else 3)
        return from_tensor(downscale(x, (lh, lw))[0]), None
    raise ValueError(f"kind must be 'inpaint' or 'superres', got {kind!r}")


# ---- blending ------------------------------------------------------------------------------------
# A hole's sparse solve (biharmonic, Poisson) grows with its pixel count: 250k hole pixels took
# 5.2 s and 1.2 GB here, a 980k hole 45 s and 4.0 GB, and half of an allowed 4 MP upload would
# need about 8 GB. Bigger holes are solved at a reduced scale: a biharmonic fill and a Poisson
# correction are both smooth, so upsampling them loses little.
MAX_HOLE_PIXELS = 250_000


def _solve_size(mask: np.ndarray) -> tuple[int, int] | None:
    """(w, h) to solve a hole at, so it has at most ``MAX_HOLE_PIXELS`` pixels; None: as it is."""
    holes = int((mask > 0.5).sum())
    if holes <= MAX_HOLE_PIXELS:
        return None
    k = (MAX_HOLE_PIXELS / holes) ** 0.5
    h, w = mask.shape
    return max(1, int(w * k)), max(1, int(h * k))


def _resize_array(a: np.ndarray, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    """[H, W, C] float to (w, h), channel by channel as float images (no 8-bit rounding)."""
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(a[..., c], dtype=np.float32), "F")
                                .resize(size, resample)) for c in range(a.shape[2])], axis=-1)


def biharmonic_fill(known: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """scikit-image's biharmonic inpainting of ``mask`` (1 = missing) in ``known`` [H, W, C], at a
    reduced scale when the hole is big (``MAX_HOLE_PIXELS``); the known pixels are kept."""
    from skimage.restoration import inpaint_biharmonic

    size = _solve_size(mask)
    if size is None:
        return np.clip(inpaint_biharmonic(known, mask > 0.5, channel_axis=-1), 0, 1)
    small_m = resize_mask(mask, size)  # a small pixel is known only where all it covers is known
    if small_m.all():  # a thin known border vanished at that scale: its mean colour is the smooth fill
        return np.where(mask[..., None] > 0.5, known[mask < 0.5].mean(0), known)
    fill = inpaint_biharmonic(_resize_array(known, size, Image.Resampling.BOX), small_m > 0.5, channel_axis=-1)
    up = _resize_array(fill.astype(np.float32), known.shape[1::-1], Image.Resampling.BICUBIC)
    return np.clip(np.where(mask[..., None] > 0.5, up, known), 0, 1)


def poisson_blend(target: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Seamless cloning: inside ``mask`` solve lap(f) = lap(source) with f = target on the
    hole's border (Neumann at the image edge); outside, ``target``. Arrays [H, W, C]. A big
    hole gets the smooth correction (f - source) solved at a reduced scale."""
    hole = mask > 0.5
    if not hole.any():
        return target.copy()
    if hole.all():
        return source.copy()
    size = _solve_size(mask)
    if size is None:
        return _poisson_solve(target, source, hole)
    small_t, small_s = (_resize_array(a, size, Image.Resampling.BOX) for a in (target, source))
    small_hole = resize_mask(mask, size) > 0.5
    correction = _poisson_solve(small_t, small_s, small_hole) - small_s
    up = _resize_array(correction, target.shape[1::-1], Image.Resampling.BICUBIC)
    return np.clip(np.where(hole[..., None], source + up, target), 0, 1)


def _poisson_solve(target: np.ndarray, source: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The exact sparse solve of ``poisson_blend``; ``hole`` is boolean [H, W]."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    if not hole.any():
        return target.copy()
    if hole.all():  # a reduced hole can swallow a thin known border: nothing to match
        return source.copy()
    h, w = hole.shape
    ys, xs = np.nonzero(hole)
    index = -np.ones((h, w), dtype=np.int64)
    index[ys, xs] = np.arange(len(ys))
    rows, cols, vals = [], [], []
    degree = np.zeros(len(ys))
    rhs = np.zeros((len(ys), target.shape[2]))
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        i = np.nonzero(inside)[0]
        degree[i] += 1
        rhs[i] += source[ys[i], xs[i]] - source[ny[i], nx[i]]
        neighbour = index[ny[i], nx[i]]
        unknown = neighbour >= 0
        rows.append(i[unknown])
        cols.append(neighbour[unknown])
        vals.append(-np.ones(unknown.sum()))
        known = i[~unknown]
        rhs[known] += target[ny[known], nx[known]]
    n = len(ys)
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    vals.append(degree)
    A = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsc()
    solution = spsolve(A, rhs)
    out = target.copy()
    out[ys, xs] = np.asarray(solution).reshape(n, -1)
    return np.clip(out, 0, 1)


def _blend(known: np.ndarray, filled: np.ndarray, m: np.ndarray, how: str) -> np.ndarray:
    if how == "poisson":
        return poisson_blend(known, filled, m)
    if how == "feather":
        from scipy.ndimage import gaussian_filter

        soft = np.maximum(m, gaussian_filter(m, 1.0))  # hole stays fully filled; a soft rim outside
        return known * (1 - soft[..., None]) + filled * soft[..., None]
    return known * (1 - m[..., None]) + filled * m[..., None]


MAX_INPUT_PIXELS = 4_000_000  # an image to repair (2000x2000): the models work at 16-128 px anyway
MAX_OUTPUT_PIXELS = 4096 * 4096  # a super-resolved result (48 MB as RGB)
MAX_IMAGE_BYTES = 64 * 1024**2  # a file given on the command line


def open_image(source: Path | str | BinaryIO) -> Image.Image:
    """An image from outside (a path, or an uploaded file object) through the studio's one
    untrusted opener: allowed formats, pixel cap before decoding; RestoreError says why not."""
    name = getattr(source, "name", None) or str(source)
    try:
        if isinstance(source, (str, Path)):
            size = Path(source).stat().st_size
            if size > MAX_IMAGE_BYTES:
                raise RestoreError(f"cannot use image {name}: {size / 2**20:.0f} MiB is over the {MAX_IMAGE_BYTES >> 20} MiB limit")
            data = Path(source).read_bytes()
        else:
            data = source.read(MAX_IMAGE_BYTES + 1)
            if len(data) > MAX_IMAGE_BYTES:
                raise RestoreError(f"cannot use image {name}: over the {MAX_IMAGE_BYTES >> 20} MiB limit")
        return load_untrusted(data)
    except OSError as exc:
        raise RestoreError(f"cannot read image {name}: {exc.strerror or exc}") from None
    except SkipFile as exc:
        raise RestoreError(f"cannot use image {name}: {exc}") from None


def fit_pixels(image: Image.Image, max_pixels: int = MAX_INPUT_PIXELS) -> tuple[Image.Image, str | None]:
    """``image`` reduced (aspect kept) to at most ``max_pixels``, and a note saying so, or unchanged and None."""
    w, h = image.size
    if w * h <= max_pixels:
        return image, None
    k = (max_pixels / (w * h)) ** 0.5
    size = (max(1, int(w * k)), max(1, int(h * k)))
    return image.resize(size, Image.Resampling.LANCZOS), f"reduced from {w}x{h} to {size[0]}x{size[1]} (limit {max_pixels:,} pixels)"


def check_input_size(image: Image.Image, what: str) -> None:
    w, h = image.size
    if w * h > MAX_INPUT_PIXELS:
        raise RestoreError(f"{what}: the image is {w}x{h}, over the {MAX_INPUT_PIXELS:,}-pixel limit; reduce it first")


DEMO_IMAGES = 256  # how many held-out images of a set the pages offer


def dataset_image(name: str, index: int, resolution: int = 32, split: str = "test") -> Image.Image:
    """Image ``index`` (of the first ``DEMO_IMAGES``) of a data set's held-out split, grey
    ("L") when the set is grey."""
    data = load_dataset(name, resolution, 3, split=split, limit=DEMO_IMAGES)
    x = data.images[int(index) % len(data)]
    grey = bool((x[0] == x[1]).all() and (x[1] == x[2]).all())
    return from_tensor(x[:1] if grey else x)


def enlarge(image: Image.Image, width: int = 192) -> Image.Image:
    """Nearest-neighbour enlargement for showing small images crisp on a page."""
    w, h = image.size
    if w >= width:
        return image
    return image.resize((width, max(1, round(h * width / w))), Image.Resampling.NEAREST)


def wipe(before: Image.Image, after: Image.Image, position: float) -> Image.Image:
    """A before/after comparison: ``after`` left of ``position`` (0..1), ``before`` right of it."""
    after = after.convert("RGB")
    before = before.convert("RGB").resize(after.size, Image.Resampling.NEAREST)
    a, b = np.asarray(after).copy(), np.asarray(before)
    cut = int(round(position * a.shape[1]))
    a[:, cut:] = b[:, cut:]
    if 0 < cut < a.shape[1]:
        a[:, cut - 1] = (255, 64, 64)
    return Image.fromarray(a, "RGB")
