"""K-per-class subsets of a data set's training split, as files the trainer can load.

The augmentation lab (``gan_core.auglab``) must show that its GAN saw no more real images
than its classifier. So a subset is not copied into a new folder (a folder set would hold
out every 10th file again, and its provenance would be "some PNGs"); it is a small JSON
*manifest* naming the source set, the split (always ``train``), the drawn indices and
their labels, and a SHA-256 over exactly those fields::

    {"format": "gan-studio-subset/1", "source": "fashion-mnist", "split": "train",
     "source_seed": 0, "per_class": 10, "draw_seed": 0, "classes": [...],
     "indices": [...], "labels": [...], "sha256": "..."}

A path ending in ``.subset.json`` is a data set name like any other: ``--data
lab/subsets/k10.subset.json`` trains on those images only (``gan_core.data.load_dataset``
reads it through ``read_manifest``; its "test" split is the source's whole test split).
The trainer records ``data`` in the run's ``config.yaml``, so ``real_images_seen(run)``
can later say how many real images a run saw, per class, without trusting anyone's word.

This module parses and checks; it never loads images (``gan_core.data.images`` does, so it
imports this module, not the other way round).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

FORMAT = "gan-studio-subset/1"
SUFFIX = ".subset.json"
MAX_MANIFEST_BYTES = 64 << 20  # 60k indices + labels is about 1 MB; refuse anything absurd


class SubsetError(ValueError):
    """A manifest that is missing, malformed, tampered with, or does not fit its source."""


@dataclass
class Subset:
    source: str
    per_class: int
    draw_seed: int
    classes: list[str]
    indices: list[int]  # into the source's train split, sorted
    labels: list[int]  # the source's label of each index
    source_seed: int = 0  # the source's own data seed (only the procedural `shapes` uses it)
    split: str = "train"
    format: str = FORMAT
    sha256: str = field(default="")

    def digest(self) -> str:
        """SHA-256 of what decides the images: source, split, seeds, indices, labels."""
        body = {k: getattr(self, k) for k in ("format", "source", "split", "source_seed", "indices", "labels")}
        return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def counts(self) -> dict[str, int]:
        """Images per class name."""
        per = np.bincount(np.asarray(self.labels, dtype=np.int64), minlength=len(self.classes))
        return {name: int(n) for name, n in zip(self.classes, per)}


def is_subset_spec(name: str) -> bool:
    return isinstance(name, str) and name.endswith(SUFFIX)


def draw_per_class(labels, per_class: int, seed: int) -> np.ndarray:
    """``per_class`` indices of each label, drawn without replacement by ``seed``; sorted.

    Deterministic: one ``numpy`` PCG64 stream per (seed, class) shuffles the class's images
    and the first ``per_class`` are taken, so the draw of a class does not depend on the
    other classes, and draws are nested: with one seed, the 10 per class are among the 50,
    the 50 among the 200 (a learning curve over K adds images, never swaps them; and a GAN
    trained on a smaller draw can be reused for a larger K). Raises ``SubsetError`` when a
    class has fewer than ``per_class`` images.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if per_class < 1:
        raise SubsetError(f"images per class must be at least 1, got {per_class}")
    picked = []
    for c in np.unique(labels):
        pool = np.flatnonzero(labels == c)
        if len(pool) < per_class:
            raise SubsetError(f"class {int(c)} has only {len(pool)} training images, fewer than K={per_class}")
        rng = np.random.default_rng([int(seed), int(c), 0x5B5E7])
        picked.append(rng.permutation(pool)[:per_class])
    return np.sort(np.concatenate(picked))


def make_subset(source: str, labels, classes: list[str], per_class: int, seed: int, source_seed: int = 0) -> Subset:
    """The manifest of a K-per-class draw from ``labels`` (the source's train split)."""
    labels = np.asarray(labels, dtype=np.int64)
    idx = draw_per_class(labels, per_class, seed)
    sub = Subset(source, int(per_class), int(seed), list(classes), [int(i) for i in idx],
                 [int(labels[i]) for i in idx], int(source_seed))
    sub.sha256 = sub.digest()
    return sub


def write_manifest(sub: Subset, path: Path) -> Path:
    """Write atomically (temp file + rename); the name must end in ``.subset.json``."""
    path = Path(path)
    if not is_subset_spec(str(path)):
        raise SubsetError(f"a subset manifest's name must end in {SUFFIX}: {path}")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(asdict(sub), indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_manifest(path: str | Path) -> Subset:
    """Parse and check a manifest: fields, types, and that its hash matches its indices."""
    path = Path(path).expanduser()
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise SubsetError(f"{path} is larger than {MAX_MANIFEST_BYTES >> 20} MB: not a subset manifest")
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SubsetError(f"subset manifest {path} not found") from None
    except (OSError, ValueError) as exc:
        raise SubsetError(f"{path} is not a readable subset manifest ({exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise SubsetError(f"{path} is not a subset manifest (format {FORMAT} expected)")
    try:
        sub = Subset(**{k: raw[k] for k in Subset.__dataclass_fields__ if k in raw})
    except TypeError as exc:
        raise SubsetError(f"{path}: missing fields ({exc})") from None
    ok = (isinstance(sub.source, str) and sub.split == "train" and isinstance(sub.indices, list)
          and isinstance(sub.labels, list) and len(sub.indices) == len(sub.labels)
          and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in sub.indices)
          and all(isinstance(y, int) and 0 <= y < len(sub.classes) for y in sub.labels)
          and len(set(sub.indices)) == len(sub.indices))
    if not ok:
        raise SubsetError(f"{path}: malformed indices, labels or classes")
    if is_subset_spec(sub.source):
        raise SubsetError(f"{path}: a subset of a subset is not supported")
    if sub.sha256 != sub.digest():
        raise SubsetError(f"{path}: its sha256 does not match its indices (edited by hand?); draw it again")
    return sub


def check_against_source(sub: Subset, source_labels, source_classes: list[str], where: str) -> None:
    """Refuse a manifest whose indices or labels no longer fit the source set on disk."""
    source_labels = np.asarray(source_labels, dtype=np.int64)
    if list(source_classes) != list(sub.classes):
        raise SubsetError(f"{where}: the source's classes changed ({source_classes} vs {sub.classes})")
    if sub.indices and max(sub.indices) >= len(source_labels):
        raise SubsetError(f"{where}: index {max(sub.indices)} is past the source's {len(source_labels)} images")
    if not np.array_equal(source_labels[np.asarray(sub.indices, dtype=np.int64)], np.asarray(sub.labels)):
        raise SubsetError(f"{where}: the source's labels at these indices changed; the data set on disk is not "
                          "the one the subset was drawn from")
