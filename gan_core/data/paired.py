"""Data for translation: paired sets (input A, target B) and unpaired domains.

Paired sets made from any image set by a fixed transform of the target image ``b``
(float [N, C, R, R] in [-1, 1]), the same bytes every time (``paired_input``):

- ``edges`` (default): an outline drawing, black lines (-1) on white (+1), one channel,
  so that a person can draw the input. Canny (scikit-image) on the luminance in [0, 1]
  with fixed ``EDGE_SIGMA`` 1.0 and hysteresis thresholds ``EDGE_LOW`` 0.1 / ``EDGE_HIGH``
  0.2 (absolute gradient magnitudes, not per-image quantiles: a faint image gives a
  sparse drawing, as a person would draw it). On Fashion-MNIST at 32 px this outlines the
  garment and its main inner folds (about 14% of pixels are lines); 9 s for Fashion-MNIST's
  60,000 on an idle core, so a run's drawings are kept in ``<data>/.paired-cache/`` keyed by
  a hash of the images' bytes and the Canny settings (1 bit a pixel, 7.7 MB; read back in 1-2 s).
- ``grey`` (colourisation): the ITU-R 601 luminance, one channel; RGB sets only.
- ``lowres``: antialiased bicubic downscale by ``LOWRES_FACTOR`` (4) and bicubic upscale
  back to R, all channels (the restoration runs' degradation, kept at full size so the
  U-Net sees input and output on one grid).
- ``masked``: a square hole of half the side, filled with mid grey (0), all channels.
  The hole of image ``i`` is fixed by ``i`` alone (``hole_masks``): a seeded generator
  per index, so a set's pairs never change between runs or epochs.

Folders of real pairs (``load_paired_folder``; a folder or .zip, read through the
importer's hostile-input reader: every file decoded by ``gan_core.data.importer`` with its
size caps and skip reasons), in one of two layouts:

- two subfolders ``A/`` and ``B/`` (any case) holding files of the same name
  (extension aside: ``A/12.jpg`` pairs with ``B/12.png``); a file without a partner
  is skipped and reported;
- otherwise every image is one pair side by side, A on the left half and B on the right
  (the pix2pix data sets' layout); an image not about twice as wide as high
  (1.5-2.5x) is skipped and reported.

Unpaired domains: two classes of one labelled set (``domains_from_classes``, names
matched case-insensitively) or two folders (``domains_from_folders``).
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from skimage.feature import canny

from gan_core.data.cache_files import write_cache_file
from gan_core.data.images import (
    _set_path,
    fit_image,
    load_dataset,
    match_channels,
    to_image_tensor,
)
from gan_core.data.importer import (
    BUILTIN_DATASETS,
    REPORT_FILE,
    DatasetError,
    ImportReport,
    Limits,
    iter_images,
    no_usable_images,
    open_source,
)

PAIRED_TRANSFORMS = ("edges", "grey", "lowres", "masked")
DEFAULT_TRANSFORM = "edges"
EDGE_SIGMA, EDGE_LOW, EDGE_HIGH = 1.0, 0.1, 0.2
LOWRES_FACTOR = 4
MASK_SEED = 20170611  # any fixed number: the masks are part of the data set's definition
MASK_FILL = 0.0  # mid grey in [-1, 1]
SIDE_BY_SIDE_RATIO = (1.5, 2.5)
IMPORTED_NUMBER = re.compile(r"^\d{6}-")  # the importer's running number before each file's stem


@dataclass
class PairedSet:
    """Inputs ``a`` [N, Ca, R, R] and targets ``b`` [N, Cb, R, R], both in [-1, 1]."""

    a: torch.Tensor
    b: torch.Tensor
    transform: str  # one of PAIRED_TRANSFORMS, or "folder"
    labels: torch.Tensor | None = None
    classes: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # folder pairs: the pair's file name
    report: ImportReport | None = None  # folder pairs: what was skipped and why

    def __len__(self) -> int:
        return self.a.shape[0]


# ---- transforms ----------------------------------------------------------------------------
def input_channels(transform: str, channels: int) -> int:
    """Channels of the input ``a`` for targets with ``channels`` channels."""
    check_transform(transform, channels)
    return 1 if transform in ("edges", "grey") else channels


def check_transform(transform: str, channels: int) -> None:
    if transform not in PAIRED_TRANSFORMS:
        raise ValueError(f"unknown paired transform {transform!r}: choose {', '.join(PAIRED_TRANSFORMS)}")
    if transform == "grey" and channels != 3:
        raise ValueError("the grey transform (colourisation) needs an RGB set: use 3 channels "
                         "(a grey set has no colour to learn)")


def luminance01(images: torch.Tensor) -> torch.Tensor:
    """[N, 1, R, R] luminance in [0, 1] of [-1, 1] images (ITU-R 601 for RGB)."""
    return ((match_channels(images.float(), 1) + 1) / 2).clamp(0, 1)


def edges(images: torch.Tensor) -> torch.Tensor:
    """Outline drawings [N, 1, R, R]: -1 on Canny edges, +1 elsewhere."""
    lum = luminance01(images)[:, 0].cpu().numpy().astype(np.float64)
    lines = np.stack([canny(im, sigma=EDGE_SIGMA, low_threshold=EDGE_LOW, high_threshold=EDGE_HIGH)
                      for im in lum]) if len(lum) else np.zeros(lum.shape, bool)
    return _drawing(lines).unsqueeze(1)


def _drawing(lines: np.ndarray) -> torch.Tensor:
    """Boolean line masks as a drawing: -1 on the lines, +1 (white paper) elsewhere."""
    return torch.from_numpy(np.where(lines, -1.0, 1.0).astype(np.float32))


EDGE_CACHE_FILES = 16  # the most recently used drawings kept: each set (and shapes seed) has its own file


def cached_edges(images: torch.Tensor, cache_dir: Path, chunk: int = 4096, keep: int = EDGE_CACHE_FILES) -> torch.Tensor:
    """``edges(images)``, from ``cache_dir`` when these exact images were drawn before. A cache
    that cannot be read is drawn again; one that cannot be written is no error. Only the
    ``keep`` most recently used files stay, so many sets cannot fill the disk."""
    pixels = np.ascontiguousarray(images.detach().float().cpu().numpy())
    key = hashlib.sha256(f"{pixels.shape}|{EDGE_SIGMA}|{EDGE_LOW}|{EDGE_HIGH}|".encode())
    key.update(memoryview(pixels).cast("B"))
    path = Path(cache_dir) / f"edges-{key.hexdigest()[:32]}.npy"
    n, _, h, w = pixels.shape
    try:
        bits = np.load(path, allow_pickle=False)
        lines = np.unpackbits(bits, count=n * h * w).reshape(n, 1, h, w).astype(bool)
        os.utime(path)  # recently used
        return _drawing(lines)
    except (OSError, ValueError):
        pass
    drawn = torch.cat([edges(images[s:s + chunk]) for s in range(0, n, chunk)])
    bits = np.packbits((drawn < 0).numpy().ravel())
    if write_cache_file(path, lambda f: np.save(f, bits, allow_pickle=False)):
        try:
            for old in sorted(path.parent.glob("edges-*.npy"), key=lambda p: p.stat().st_mtime, reverse=True)[keep:]:
                old.unlink(missing_ok=True)
        except OSError:
            pass
    return drawn


def grey(images: torch.Tensor) -> torch.Tensor:
    """[N, 1, R, R] luminance in [-1, 1]."""
    return luminance01(images) * 2 - 1


def lowres(images: torch.Tensor, factor: int = LOWRES_FACTOR) -> torch.Tensor:
    """Antialiased bicubic down by ``factor``, bicubic back up: a blurred [N, C, R, R]."""
    size = images.shape[-2:]
    small = F.interpolate(images.float(), size=(max(1, size[0] // factor), max(1, size[1] // factor)),
                          mode="bicubic", antialias=True, align_corners=False)
    return F.interpolate(small, size=size, mode="bicubic", align_corners=False).clamp(-1, 1)


def hole_masks(indices: torch.Tensor | list[int], resolution: int) -> torch.Tensor:
    """[N, 1, R, R] float masks, 1 in the hole: a square of half the side whose corner is
    drawn by ``numpy.random.default_rng([MASK_SEED, index])`` (fixed per index)."""
    side = max(1, resolution // 2)
    out = torch.zeros(len(indices), 1, resolution, resolution)
    for row, index in enumerate(torch.as_tensor(indices).tolist()):
        top, left = np.random.default_rng([MASK_SEED, int(index)]).integers(0, resolution - side + 1, 2)
        out[row, 0, top:top + side, left:left + side] = 1.0
    return out


def masked(images: torch.Tensor, indices: torch.Tensor | list[int] | None = None) -> torch.Tensor:
    """Images with their fixed hole filled with mid grey."""
    indices = torch.arange(len(images)) if indices is None else indices
    mask = hole_masks(indices, images.shape[-1]).to(images.device)
    return images.float() * (1 - mask) + MASK_FILL * mask


def paired_input(images: torch.Tensor, transform: str = DEFAULT_TRANSFORM,
                 indices: torch.Tensor | list[int] | None = None) -> torch.Tensor:
    """The input ``a`` of each target image under ``transform`` (see the module docstring).
    ``indices``: the images' indices in their set (``masked`` only; default 0..N-1)."""
    check_transform(transform, images.shape[1])
    if transform == "edges":
        return edges(images).to(images.device)
    if transform == "grey":
        return grey(images)
    if transform == "lowres":
        return lowres(images)
    return masked(images, indices)


def make_paired(images: torch.Tensor, transform: str = DEFAULT_TRANSFORM, labels: torch.Tensor | None = None,
                classes: list[str] | None = None, chunk: int = 4096, cache_dir: Path | None = None) -> PairedSet:
    """A paired set from an image set: ``b`` = the images, ``a`` = their transform
    (computed in chunks of ``chunk`` so a 60,000-image set needs one extra copy only;
    edge drawings read from and kept in ``cache_dir`` when given)."""
    if transform == "edges" and cache_dir is not None and len(images):
        check_transform(transform, images.shape[1])
        return PairedSet(cached_edges(images, cache_dir, chunk).to(images.device), images, transform, labels, list(classes or []))
    parts = [paired_input(images[s:s + chunk], transform, torch.arange(s, min(s + chunk, len(images))))
             for s in range(0, len(images), chunk)]
    a = torch.cat(parts) if parts else torch.empty(0, input_channels(transform, images.shape[1]), *images.shape[-2:])
    return PairedSet(a, images, transform, labels, list(classes or []))


# ---- folders of real pairs -------------------------------------------------------------------
def load_paired_folder(path: str | Path, resolution: int, channels: int, split: str = "train",
                       limits: Limits | None = None) -> PairedSet:
    """Pairs from a folder or .zip (layouts in the module docstring). Both sides are
    centre-cropped square and resized to ``resolution`` with ``channels`` channels.
    ``split``: every 10th pair (sorted by name) is "test" when there are 10 or more."""
    if split not in ("train", "test"):
        raise DatasetError(f"split must be 'train' or 'test', got {split!r}")
    where = set_folder(path)
    source = open_source(where, limits or Limits())
    imported = (where / REPORT_FILE).is_file()
    if imported:
        source.drop_import_report()
    try:
        sides = {c.lower(): i for i, c in enumerate(source.classes)}
        if "a" in sides and "b" in sides:
            names, a_list, b_list = _two_folders(source, sides["a"], sides["b"], resolution, channels, split,
                                                 imported)
        else:
            names, a_list, b_list = _side_by_side(source, resolution, channels, split)
    finally:
        source.close()
    if not names:
        raise no_usable_images(path, source.skipped)
    report = ImportReport(len(names), list(source.skipped), [], Path(path).name)
    return PairedSet(to_image_tensor(np.stack(a_list), resolution, channels),
                     to_image_tensor(np.stack(b_list), resolution, channels), "folder", names=names, report=report)


def set_folder(path: str | Path) -> Path:
    """The folder or zip ``path`` names: an imported set's name too (``--data mypairs`` read
    "mypairs does not exist" from the current folder), else ``path`` as given."""
    try:
        return _set_path(str(path))
    except DatasetError:  # open_source says why
        return Path(path)


def _held_out(items: list, split: str) -> list:
    if len(items) < 10:
        return items
    return items[9::10] if split == "test" else [x for i, x in enumerate(items) if i % 10 != 9]


def _pixels(im: Image.Image, resolution: int, channels: int) -> np.ndarray:
    return np.asarray(fit_image(im.convert("L" if channels == 1 else "RGB"), resolution))


def _two_folders(source, ia: int, ib: int, resolution: int, channels: int, split: str, imported: bool = False):
    """Pair A/x with B/x by path below the folder, extension dropped. ``imported``: a set the
    importer wrote, whose files are ``<running number>-<stem>.png``: paired by the stem (A/3.png
    and B/3.png became A/000003-3.png and B/000027-3.png, and no file found its partner)."""
    by_key: dict[int, dict[str, object]] = {ia: {}, ib: {}}
    for f, label in source.files:
        if label not in by_key:
            source.skipped.append((f.rel, "outside A/ and B/: a paired folder holds A/ and B/ only"))
            continue
        key = str(Path(*f.parts[1:]).with_suffix(""))
        key = IMPORTED_NUMBER.sub("", key) if imported else key
        if key in by_key[label]:
            source.skipped.append((f.rel, f"duplicate name: another file in {f.parts[0]}/ is also named {key}.*"))
            continue
        by_key[label][key] = f
    keys = sorted(set(by_key[ia]) & set(by_key[ib]))
    for side, other in ((ia, ib), (ib, ia)):
        for key in sorted(set(by_key[side]) - set(by_key[other])):
            f = by_key[side][key]
            source.skipped.append((f.rel, f"no partner: no file named {key}.* in {source.classes[other]}/"))
    names, a_list, b_list = [], [], []
    for key in _held_out(keys, split):
        fa, fb = by_key[ia][key], by_key[ib][key]
        decoded = list(iter_images(source, [(fa, None), (fb, None)], draft_size=resolution))
        if len(decoded) != 2:  # iter_images recorded why a side is unusable; say so for its partner
            for usable, _, _ in decoded:
                source.skipped.append((usable.rel, "partner unusable (see its own entry)"))
            continue
        names.append(Path(fa.parts[-1]).name)
        a_list.append(_pixels(decoded[0][2], resolution, channels))
        b_list.append(_pixels(decoded[1][2], resolution, channels))
    return names, a_list, b_list


def _side_by_side(source, resolution: int, channels: int, split: str):
    names, a_list, b_list = [], [], []
    lo, hi = SIDE_BY_SIDE_RATIO
    for f, _, im in iter_images(source, _held_out(source.files, split)):
        w, h = im.size
        if not lo * h <= w <= hi * h:
            reason = (f"not side by side: {w}x{h} is not about twice as wide as high "
                      "(expected input A on the left half, target B on the right)")
            source.skipped.append((f.rel, reason))
            continue
        half = w // 2
        names.append(f.parts[-1])
        a_list.append(_pixels(im.crop((0, 0, half, h)), resolution, channels))
        b_list.append(_pixels(im.crop((w - half, 0, w, h)), resolution, channels))
    return names, a_list, b_list


# ---- unpaired domains ---------------------------------------------------------------------------
def resolve_domain(name: str, classes: list[str]) -> int:
    """The index of class ``name`` (case-insensitive, surrounding spaces ignored)."""
    wanted = str(name).strip().lower()
    for i, c in enumerate(classes):
        if c.lower() == wanted:
            return i
    if not classes:
        raise DatasetError(f"domain {name!r}: this set has no classes; give two folders instead")
    raise DatasetError(f"no class named {name!r}; classes: {', '.join(repr(c) for c in classes)}")


def domains_from_classes(images: torch.Tensor, labels: torch.Tensor | None, classes: list[str],
                         domain_a: str, domain_b: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The images of class ``domain_a`` and of class ``domain_b`` of one labelled set."""
    if labels is None:
        raise DatasetError("this set is unlabelled: domains need two classes, or give two folders")
    ia, ib = resolve_domain(domain_a, classes), resolve_domain(domain_b, classes)
    if ia == ib:
        raise DatasetError(f"domain A and domain B are the same class ({classes[ia]!r}): choose two different classes")
    return images[labels == ia], images[labels == ib]


def domains_from_folders(folder_a: str | Path, folder_b: str | Path, resolution: int, channels: int,
                         split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of two folders (or .zip files, or imported sets), loaded like any data
    set (``gan_core.data.images.load_dataset``: safe decoding, class subfolders ignored here)."""
    return (load_dataset(str(folder_a), resolution, channels, split=split).images,
            load_dataset(str(folder_b), resolution, channels, split=split).images)


def domains(data: str, domain_a: str, domain_b: str, resolution: int, channels: int, split: str = "train",
            seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """CycleGAN's two domains: two classes of the set ``data`` when it has classes, else two
    folders / imported sets named by ``domain_a`` and ``domain_b``."""
    try:
        images = load_dataset(data, resolution, channels, split=split, seed=seed)
    except DatasetError:
        images = None
    if images is not None and images.classes and not names_two_sets(domain_a, domain_b, images.classes):
        return domains_from_classes(images.images, images.labels, images.classes, domain_a, domain_b)
    return domains_from_folders(domain_a, domain_b, resolution, channels, split=split)


def names_two_sets(domain_a: str, domain_b: str, classes: list[str]) -> bool:
    """Whether the domains name two folders / sets rather than classes of a labelled ``--data``:
    neither is a class and both exist. Without this, two folders beside the default
    ``--data fashion-mnist`` failed the run with "no class named '/path/to/horses'"."""
    lowered = {c.lower() for c in classes}
    if {str(domain_a).strip().lower(), str(domain_b).strip().lower()} & lowered:
        return False
    return all(is_set_name(name) for name in (domain_a, domain_b))


def is_set_name(name: str) -> bool:
    """A built-in set, an imported set, or a folder / .zip of images (``load_dataset``'s names)."""
    if name in BUILTIN_DATASETS:
        return True
    try:
        _set_path(name)
    except (DatasetError, OSError):
        return False
    return True
