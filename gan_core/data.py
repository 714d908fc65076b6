"""Data sets for GAN Studio: built-ins, imported sets, and folders or zips of images.

``load_dataset`` returns every set the same way: float32 ``[N, C, R, R]`` in [-1, 1],
square (shorter side resized with an antialiased filter, then centre-cropped), with
``C`` = 1 (luminance, ITU-R 601 weights) or 3 (RGB; grey repeated).

``name`` is, in this order: a built-in (``BUILTIN_DATASETS``), an imported set (a
folder ``data_root()/NAME/``), or a path to a folder or ``.zip`` of images. Folder and
zip layout rules (class subfolders, mixed layouts, transparency, 16-bit) are those of
``gan_core.importer``; read its docstring.

Splits: fashion-mnist/mnist use the t10k files for "test", cifar10 its test batch,
digits every 5th image (80/20), shapes a different random stream, emoji every 10th emoji
(``gan_core.emoji``: its rendering and caching choices); folders, zips and
imported sets hold out every 10th file in sorted order (all files for both splits when
there are fewer than 10). ``seed`` only affects ``shapes``.

Loaded sets are cached in-process (training and metrics load the same set); the cached
``ImageSet`` is shared, so callers must not modify it. ``clear_cache()`` forgets them.
"""
from __future__ import annotations

import argparse
import functools
import gzip
import json
import math
import os
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gan_core import emoji
from gan_core.importer import (  # noqa: F401  (re-exported: the public data API)
    BUILTIN_DATASETS,
    BUILTIN_STORAGE,
    MAX_IMAGE_PIXELS,
    NAME_PATTERN,
    REPORT_FILE,
    DatasetError,
    ImportReport,
    Limits,
    data_root,
    delete_dataset,
    import_dataset,
    iter_images,
    no_usable_images,
    open_source,
)

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DIGIT_CLASSES = [str(i) for i in range(10)]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]
SHAPE_CLASSES = ["circle", "square", "triangle", "cross", "ring"]
SHAPES_COUNT = {"train": 2048, "test": 256}
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_APT_PACKAGE = "dataset-fashion-mnist"
SPLITS = ("train", "test")
# A folder or zip loaded directly: the archive caps of an import, but no total cap for
# a local folder (a big photo collection is fine to read, it is the user's own disk).
_ZIP_LIMITS = Limits()
_FOLDER_LIMITS = Limits(max_files=1_000_000, max_total_bytes=None)
_CHUNK = 2048  # images converted per step, to bound temporary memory


@dataclass
class ImageSet:
    images: torch.Tensor  # float32 [N, C, R, R] in [-1, 1], CPU, contiguous
    labels: torch.Tensor | None  # int64 [N], or None for unconditional sets
    classes: list[str]  # class names, index = label; [] when unlabelled
    name: str
    report: ImportReport | None = None  # skipped files, when read from a folder/zip

    def __len__(self) -> int:
        return self.images.shape[0]


@dataclass
class DatasetInfo:
    name: str
    kind: str  # "builtin" | "imported"
    available: bool
    classes: list[str]
    count: int | None
    note: str  # what the set needs, or why it is unavailable


# ---------------------------------------------------------------------------- loading


def load_dataset(name: str, resolution: int, channels: int, split: str = "train",
                 seed: int = 0, limit: int | None = None) -> ImageSet:
    """Load a data set as an ``ImageSet`` (cached; see the module docstring)."""
    _check_args(resolution, channels, split, limit)
    return _load_cached(name, resolution, channels, split, seed, limit, _cache_key(name))


def clear_cache() -> None:
    """Forget cached sets (e.g. after files of a folder set changed on disk)."""
    _load_cached.cache_clear()


def _check_args(resolution, channels, split, limit) -> None:
    if not isinstance(resolution, int) or not 1 <= resolution <= 4096:
        raise DatasetError(f"resolution must be an integer from 1 to 4096, got {resolution!r}")
    if channels not in (1, 3):
        raise DatasetError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
    if split not in SPLITS:
        raise DatasetError(f"split must be 'train' or 'test', got {split!r}")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise DatasetError(f"limit must be a positive integer or None, got {limit!r}")


def _cache_key(name: str) -> tuple:
    """What a load depends on besides its arguments: where the files are, and which."""
    if name in BUILTIN_DATASETS:
        return ("builtin", str(data_root().resolve()), os.environ.get("GAN_FASHION_MNIST", ""))
    path = _set_path(name)
    st = path.stat()
    return ("path", str(path.resolve()), st.st_ino, st.st_mtime_ns, st.st_size)


def _set_path(name: str) -> Path:
    """The folder or zip a non-built-in name refers to, or a DatasetError saying why not."""
    if NAME_PATTERN.match(name) and (data_root() / name).is_dir():
        return data_root() / name
    path = Path(name).expanduser()
    if path.is_dir() or (path.is_file() and path.suffix.lower() == ".zip"):
        return path
    imported = [i.name for i in list_datasets() if i.kind == "imported"]
    raise DatasetError(
        f"unknown data set {name!r}: not a built-in ({', '.join(BUILTIN_DATASETS)}), "
        f"not an imported set in {data_root()} ({', '.join(imported) or 'none yet'}), "
        "and not a folder or .zip of images. Import one with "
        "`python -m gan_core data import SRC --name NAME`."
    )


@functools.lru_cache(maxsize=8)
def _load_cached(name, resolution, channels, split, seed, limit, key) -> ImageSet:
    if key[0] == "builtin":
        loader = {"fashion-mnist": _load_fashion, "mnist": _load_torchvision,
                  "cifar10": _load_torchvision, "digits": _load_digits,
                  "shapes": _load_shapes, "emoji": _load_emoji}[name]
        return loader(name, resolution, channels, split, seed, limit)
    return _load_folder(name, Path(key[1]), resolution, channels, split, limit)


def _labelled(name, images, labels, classes, resolution, channels, limit) -> ImageSet:
    """Build an ImageSet from uint8 or [0, 1] float arrays, after ``limit``."""
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = to_image_tensor(images, resolution, channels)
    y = torch.from_numpy(np.array(labels, dtype=np.int64))  # a writable copy
    return ImageSet(x, y, list(classes), name)


# ---------------------------------------------------------------------------- built-ins


def fashion_dirs() -> list[Path]:
    """Folders searched for Fashion-MNIST: ``$GAN_FASHION_MNIST`` alone when set."""
    env = os.environ.get("GAN_FASHION_MNIST")
    if env:
        return [Path(env)]
    root = data_root()
    return [root / "fashion-mnist", root / "FashionMNIST" / "raw", FASHION_SYSTEM_DIR]


def _idx_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def find_fashion(split: str = "train") -> tuple[Path, Path] | None:
    """(images, labels) IDX files of a Fashion-MNIST split, or None when not found."""
    prefix = "train" if split == "train" else "t10k"
    for folder in fashion_dirs():
        images = _idx_file(folder, f"{prefix}-images-idx3-ubyte")
        labels = _idx_file(folder, f"{prefix}-labels-idx1-ubyte")
        if images and labels:
            return images, labels
    return None


def _load_fashion(name, resolution, channels, split, seed, limit) -> ImageSet:
    found = find_fashion(split)
    if found is None:
        searched = ", ".join(str(d) for d in fashion_dirs())
        raise DatasetError(
            f"Fashion-MNIST not found in {searched}. Install it with "
            f"`sudo apt-get install {FASHION_APT_PACKAGE}`, or when online run "
            "`python -m gan_core data download fashion-mnist` (torchvision)"
        )
    images, labels = read_idx(found[0]), read_idx(found[1])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DatasetError(f"{found[0]} and {found[1]} do not match (shapes {images.shape} "
                           f"and {labels.shape}); reinstall Fashion-MNIST")
    return _labelled(name, images, labels, FASHION_CLASSES, resolution, channels, limit)


_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (optionally gzipped); a bad file is a DatasetError naming it."""
    fix = "delete it and reinstall or download the data set again"
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path} is corrupt or unreadable ({exc}); {fix}") from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_TYPES:
        raise DatasetError(f"{path} is not an IDX file (bad magic number); {fix}")
    ndim, header = raw[3], 4 + 4 * raw[3]
    if len(raw) < header:
        raise DatasetError(f"{path} is truncated (incomplete header); {fix}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = header + math.prod(dims) * dtype.itemsize
    if len(raw) != expected:
        raise DatasetError(f"{path} is truncated or has trailing data ({len(raw)} bytes, "
                           f"expected {expected}); {fix}")
    return np.frombuffer(raw, dtype, offset=header).reshape(dims)


def _load_torchvision(name, resolution, channels, split, seed, limit) -> ImageSet:
    from gan_core._torchvision import torchvision

    cls = {"mnist": torchvision.datasets.MNIST, "cifar10": torchvision.datasets.CIFAR10}[name]
    try:
        ds = cls(root=str(data_root()), train=split == "train", download=False)
    except (RuntimeError, OSError, ValueError, EOFError) as exc:
        raise DatasetError(
            f"{name} not found in {data_root()} ({exc}). Get it when online with "
            f"`python -m gan_core data download {name}`, or set GAN_DATA to the folder "
            "that holds it."
        ) from None
    images = np.asarray(ds.data)  # mnist [N, 28, 28], cifar10 [N, 32, 32, 3], uint8
    classes = DIGIT_CLASSES if name == "mnist" else CIFAR10_CLASSES
    return _labelled(name, images, np.asarray(ds.targets), classes, resolution, channels, limit)


def _load_digits(name, resolution, channels, split, seed, limit) -> ImageSet:
    from sklearn.datasets import load_digits

    digits = load_digits()
    held_out = np.arange(len(digits.target)) % 5 == 4  # deterministic 80/20
    keep = held_out if split == "test" else ~held_out
    images = (digits.images[keep] / 16.0).astype(np.float32)  # values 0..16 -> [0, 1]
    return _labelled(name, images, digits.target[keep], DIGIT_CLASSES, resolution, channels, limit)


def _load_shapes(name, resolution, channels, split, seed, limit) -> ImageSet:
    n = SHAPES_COUNT[split] if limit is None else min(limit, SHAPES_COUNT[split])
    images, labels = make_shapes(n, resolution, seed, stream=SPLITS.index(split))
    return ImageSet(match_channels(images, channels).contiguous(), labels,
                    list(SHAPE_CLASSES), name)


# ---------------------------------------------------------------------------- shapes


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


def emoji_cache_dir() -> Path:
    """Rendered emoji arrays live beside the feature cache, under the data folder."""
    return data_root() / ".emoji-cache"


def _load_emoji(name, resolution, channels, split, seed, limit) -> ImageSet:
    if resolution > emoji.MAX_RESOLUTION:
        raise DatasetError(f"emoji renders at up to {emoji.MAX_RESOLUTION} px, got {resolution}")
    try:
        images, labels = emoji.render_all(resolution, emoji_cache_dir())
    except emoji.EmojiUnavailable as exc:
        raise DatasetError(str(exc)) from None
    keep = emoji.split_indices(len(images), split)
    return _labelled(name, images[keep], labels[keep], emoji.EMOJI_GROUPS, resolution, channels, limit)


# ---------------------------------------------------------------------------- folders


def _load_folder(name, path: Path, resolution, channels, split, limit) -> ImageSet:
    """A folder or zip of images (imported sets are folders too)."""
    limits = _ZIP_LIMITS if path.is_file() else _FOLDER_LIMITS
    source = open_source(path, limits)
    try:
        # The import report of an imported set is metadata, not a skipped image.
        source.files = [(f, c) for f, c in source.files if f.parts != (REPORT_FILE,)]
        source.skipped = [(n, r) for n, r in source.skipped if n != REPORT_FILE]
        files = source.files
        if len(files) >= 10:
            test = files[9::10]
            files = test if split == "test" else [x for i, x in enumerate(files) if i % 10 != 9]
        pixels, labels = [], []
        mode = "L" if channels == 1 else "RGB"
        for _, label, im in iter_images(source, files, draft_size=resolution):
            pixels.append(np.asarray(fit_image(im.convert(mode), resolution)))
            labels.append(label)
            if limit is not None and len(pixels) >= limit:
                break
    finally:
        source.close()
    if not pixels:
        raise no_usable_images(path, source.skipped)
    report = ImportReport(len(pixels), source.skipped, list(source.classes), name)
    y = torch.tensor(labels, dtype=torch.int64) if source.classes else None
    return ImageSet(to_image_tensor(np.stack(pixels), resolution, channels), y,
                    list(source.classes), name, report)


def fit_image(im: Image.Image, resolution: int) -> Image.Image:
    """Centre square crop resized to ``resolution`` (Pillow's filters antialias)."""
    w, h = im.size
    side = min(w, h)
    box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
    return im.resize((resolution, resolution), Image.Resampling.BILINEAR, box=box)


# ---------------------------------------------------------------------------- tensors


def to_image_tensor(images, resolution: int, channels: int) -> torch.Tensor:
    """uint8 (0..255) or float ([0, 1]) ``[N, H, W]`` / ``[N, H, W, C]`` -> [-1, 1] tensor."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    out = torch.empty(images.shape[0], channels, resolution, resolution)
    for s in range(0, images.shape[0], _CHUNK):
        chunk = np.array(images[s:s + _CHUNK], dtype=np.float32)  # a writable copy
        x = torch.from_numpy(chunk).permute(0, 3, 1, 2) / scale
        if channels < x.shape[1]:
            x = match_channels(x, channels)  # fewer channels to resize
        x = match_channels(fit_square(x, resolution), channels)
        out[s:s + _CHUNK] = x * 2 - 1
    return out.clamp_(-1, 1)


def fit_square(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """Resize the shorter side to ``resolution`` (antialiased bilinear), centre-crop."""
    h, w = x.shape[-2:]
    if h == w == resolution:
        return x
    scale = resolution / min(h, w)
    nh, nw = max(resolution, round(h * scale)), max(resolution, round(w * scale))
    x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    top, left = (nh - resolution) // 2, (nw - resolution) // 2
    return x[..., top:top + resolution, left:left + resolution]


def match_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """[N, C, H, W] to 1 channel (luminance) or 3 (grey repeated)."""
    c = x.shape[1]
    if c == channels:
        return x
    if channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).view(1, 3, 1, 1)
        return (x[:, :3] * weights).sum(1, keepdim=True)
    return x[:, :1].repeat(1, 3, 1, 1)


# ---------------------------------------------------------------------------- catalogue


_BUILTIN_CLASSES = {"fashion-mnist": FASHION_CLASSES, "mnist": DIGIT_CLASSES,
                    "cifar10": CIFAR10_CLASSES, "digits": DIGIT_CLASSES, "shapes": SHAPE_CLASSES,
                    "emoji": emoji.EMOJI_GROUPS}
_BUILTIN_COUNT = {"fashion-mnist": 60000, "mnist": 60000, "cifar10": 50000,
                  "digits": 1438, "shapes": SHAPES_COUNT["train"], "emoji": 1683}  # train split sizes


def describe_requirements(name: str) -> str:
    """One line: what a data set needs on disk."""
    root = data_root()
    if name == "fashion-mnist":
        dirs = ", ".join(str(d) for d in fashion_dirs())
        return (f"Fashion-MNIST IDX files (train-/t10k-images-idx3-ubyte[.gz] and labels) in "
                f"one of: {dirs}; apt package {FASHION_APT_PACKAGE}")
    if name == "mnist":
        return (f"torchvision MNIST files in {root / 'MNIST' / 'raw'} "
                "(`python -m gan_core data download mnist`)")
    if name == "cifar10":
        return (f"torchvision CIFAR-10 batches in {root / 'cifar-10-batches-py'} "
                "(`python -m gan_core data download cifar10`)")
    if name == "digits":
        return "nothing: bundled with scikit-learn"
    if name == "shapes":
        return "nothing: generated on the fly"
    if name == "emoji":
        return (f"{emoji.FONT_PATH} and {emoji.EMOJI_TEST_PATH} (apt packages "
                f"{' and '.join(emoji.APT_PACKAGES)}); rendered once into {emoji_cache_dir()}")
    if NAME_PATTERN.match(name) and (root / name).is_dir():
        return f"an imported set: images (optionally in class subfolders) in {root / name}"
    return f"a folder or .zip of images at {name} (or an imported set named so in {root})"


def _builtin_available(name: str) -> bool:
    root = data_root()
    if name == "fashion-mnist":
        return find_fashion("train") is not None
    if name == "mnist":
        return _idx_file(root / "MNIST" / "raw", "train-images-idx3-ubyte") is not None
    if name == "cifar10":
        return (root / "cifar-10-batches-py" / "data_batch_1").is_file()
    if name == "emoji":
        return not emoji.missing_sources()
    return True


def list_datasets() -> list[DatasetInfo]:
    """Built-ins (with whether they are on disk) and imported sets under ``data_root()``."""
    infos = []
    for name in BUILTIN_DATASETS:
        ok = _builtin_available(name)
        note = describe_requirements(name) if ok else "missing: needs " + describe_requirements(name)
        infos.append(DatasetInfo(name, "builtin", ok, list(_BUILTIN_CLASSES[name]),
                                 _BUILTIN_COUNT[name] if ok else None, note))
    root = data_root()
    if root.is_dir():
        for entry in sorted(root.iterdir()):
            if _is_imported_set(entry):
                infos.append(_imported_info(entry))
    return infos


def _is_imported_set(entry: Path) -> bool:
    reserved = {n.lower() for n in BUILTIN_DATASETS + BUILTIN_STORAGE}
    return (entry.is_dir() and not entry.is_symlink() and bool(NAME_PATTERN.match(entry.name))
            and entry.name.lower() not in reserved)


def _imported_info(folder: Path) -> DatasetInfo:
    classes = sorted(p.name for p in folder.iterdir()
                     if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    try:
        report = ImportReport(**json.loads((folder / REPORT_FILE).read_text(encoding="utf-8")))
        count, note = int(report.imported), report.summary()
    except (OSError, ValueError, TypeError):
        count = sum(1 for p in folder.rglob("*") if p.is_file() and p.name != REPORT_FILE)
        note = "folder placed by hand (no import report)"
    return DatasetInfo(folder.name, "imported", count > 0, classes, count, note)


# ---------------------------------------------------------------------------- download


def download_builtin(name: str) -> Path:
    """Download a built-in through torchvision into ``data_root()`` (needs internet)."""
    from gan_core._torchvision import torchvision

    classes = {"fashion-mnist": torchvision.datasets.FashionMNIST,
               "mnist": torchvision.datasets.MNIST, "cifar10": torchvision.datasets.CIFAR10}
    if name not in classes:
        raise DatasetError(f"{name!r} cannot be downloaded: choose one of {', '.join(classes)} "
                           "(digits and shapes need no download)")
    root = data_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        for train in (True, False):
            classes[name](root=str(root), train=train, download=True)
    except Exception as exc:  # noqa: BLE001 - URLError, HTTPError, OSError, RuntimeError...
        raise DatasetError(f"could not download {name} into {root} ({type(exc).__name__}: "
                           f"{exc}). No internet? Copy the files there by hand instead.") from None
    clear_cache()
    return root


# ---------------------------------------------------------------------------- CLI


def data_cli(argv: list[str]) -> int:
    """``python -m gan_core data import|list|delete|download``; returns the exit status."""
    parser = _cli_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if args.command == "import":
            report = import_dataset(args.src, args.name, overwrite=args.overwrite)
            clear_cache()
            print(report.summary())
            for rel, reason in report.skipped:
                print(f"  skipped {rel}: {reason}")
        elif args.command == "list":
            _print_table(list_datasets())
        elif args.command == "delete":
            delete_dataset(args.name)
            clear_cache()
            print(f"Deleted data set {args.name!r}")
        else:
            print(f"Downloaded {args.name} into {download_builtin(args.name)}")
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _cli_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gan_core data",
                                     description="Manage GAN Studio data sets "
                                     f"(stored in $GAN_DATA, now {data_root()}).")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("import", help="import a folder or .zip of images as a named set")
    p.add_argument("src", help="folder (class subfolders become labels) or .zip file")
    p.add_argument("--name", required=True, help="name of the new set (letters, digits, . _ -)")
    p.add_argument("--overwrite", action="store_true", help="replace a set of the same name")
    sub.add_parser("list", help="list built-in and imported data sets")
    p = sub.add_parser("delete", help="delete an imported data set")
    p.add_argument("name")
    p = sub.add_parser("download", help="download a built-in through torchvision (online)")
    p.add_argument("name", choices=("fashion-mnist", "mnist", "cifar10"))
    return parser


def _print_table(infos: list[DatasetInfo]) -> None:
    rows = [("NAME", "KIND", "AVAILABLE", "CLASSES", "COUNT", "NOTE")]
    for i in infos:
        rows.append((i.name, i.kind, "yes" if i.available else "no", str(len(i.classes) or "-"),
                     "-" if i.count is None else str(i.count), i.note))
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)) + "  " + r[5])
