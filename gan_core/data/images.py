"""Data sets for GAN Studio: built-ins, imported sets, and folders or zips of images.

``load_dataset`` returns every set the same way: float32 ``[N, C, R, R]`` in [-1, 1],
square (shorter side resized with an antialiased filter, then centre-cropped), with
``C`` = 1 (luminance, ITU-R 601 weights) or 3 (RGB; grey repeated).

``name`` is, in this order: a K-per-class subset manifest (a path ending in
``.subset.json``, see ``gan_core.data.subsets``), a built-in (``BUILTIN_DATASETS``), an imported set (a
folder ``data_root()/NAME/``), or a path to a folder or ``.zip`` of images. Folder and
zip layout rules (class subfolders, mixed layouts, transparency, 16-bit) are those of
``data.importer``; read its docstring.

Splits: fashion-mnist/mnist use the t10k files for "test", cifar10 its test batch,
digits every 5th image (80/20), shapes a different random stream, emoji every 10th emoji
(``data.emoji``: its rendering and caching choices); folders, zips and
imported sets hold out every 10th file in sorted order (all files for both splits when
there are fewer than 10). ``seed`` only affects ``shapes``.

Loaded sets are cached in-process (training and metrics load the same set); the cached
``ImageSet`` is shared, so callers must not modify it. ``clear_cache()`` forgets them.
"""
from __future__ import annotations

import functools
import gzip
import math
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gan_core.data.emoji import EMOJI_GROUPS, MAX_RESOLUTION, EmojiUnavailable, render_all, split_indices
from gan_core.data.importer import (
    BUILTIN_DATASETS,
    NAME_PATTERN,
    DatasetError,
    ImportReport,
    Limits,
    data_root,
    is_imported_set,
    iter_images,
    no_usable_images,
    open_source,
)
from gan_core.data.limits import set_memory_problem
from gan_core.data.shapes import SHAPE_CLASSES, make_shapes
from gan_core.data.subsets import SubsetError, check_against_source, is_subset_spec, read_manifest

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DIGIT_CLASSES = [str(i) for i in range(10)]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]
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
    if is_subset_spec(name):
        return _load_subset(name, resolution, channels, split, limit)
    return _load_cached(name, resolution, channels, split, seed, limit, _cache_key(name))


def _load_subset(path: str, resolution, channels, split, limit) -> ImageSet:
    """A K-per-class manifest (``gan_core.data.subsets``): only its images of the source's train
    split; its test split is the source's whole test split."""
    try:
        sub = read_manifest(path)
        source = load_dataset(sub.source, resolution, channels, split, seed=sub.source_seed,
                              limit=limit if split == "test" else None)
        if split == "test":
            return ImageSet(source.images, source.labels, list(source.classes), path)
        if source.labels is None:
            raise SubsetError(f"{path}: its source {sub.source} has no class labels")
        check_against_source(sub, source.labels, source.classes, path)
    except SubsetError as exc:
        raise DatasetError(str(exc)) from None
    idx = torch.as_tensor(sub.indices, dtype=torch.int64)[:limit]
    return ImageSet(source.images[idx], source.labels[idx].clone(), list(source.classes), path)


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
    root = data_root()
    imported = sorted(e.name for e in root.iterdir() if is_imported_set(e)) if root.is_dir() else []
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
    from gan_core.torch_utils.vision import torchvision

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


# ---------------------------------------------------------------------------- folders


def emoji_cache_dir() -> Path:
    """Rendered emoji arrays live beside the feature cache, under the data folder."""
    return data_root() / ".emoji-cache"


def _load_emoji(name, resolution, channels, split, seed, limit) -> ImageSet:
    if resolution > MAX_RESOLUTION:
        raise DatasetError(f"emoji renders at up to {MAX_RESOLUTION} px, got {resolution}")
    try:
        images, labels = render_all(resolution, emoji_cache_dir())
    except EmojiUnavailable as exc:
        raise DatasetError(str(exc)) from None
    keep = split_indices(len(images), split)
    return _labelled(name, images[keep], labels[keep], EMOJI_GROUPS, resolution, channels, limit)


def _load_folder(name, path: Path, resolution, channels, split, limit) -> ImageSet:
    """A folder or zip of images (imported sets are folders too)."""
    limits = _ZIP_LIMITS if path.is_file() else _FOLDER_LIMITS
    source = open_source(path, limits)
    try:
        source.drop_import_report()
        files = source.files
        if len(files) >= 10:
            test = files[9::10]
            files = test if split == "test" else [x for i, x in enumerate(files) if i % 10 != 9]
        problem = set_memory_problem(min(len(files), limit or len(files)), channels, resolution)
        if problem:
            raise DatasetError(f"{name}: {problem}")
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
