"""Which data sets exist here: the built-ins (and what each needs), imported sets; downloads."""
from __future__ import annotations

import json
from pathlib import Path

from gan_core.data.emoji import APT_PACKAGES, EMOJI_GROUPS, EMOJI_TEST_PATH, FONT_PATH, missing_sources
from gan_core.data.images import (
    CIFAR10_CLASSES,
    DIGIT_CLASSES,
    FASHION_APT_PACKAGE,
    FASHION_CLASSES,
    SHAPES_COUNT,
    DatasetInfo,
    _FOLDER_LIMITS,
    _ZIP_LIMITS,
    _idx_file,
    _set_path,
    clear_cache,
    emoji_cache_dir,
    fashion_dirs,
    find_fashion,
)
from gan_core.data.importer import (
    BUILTIN_DATASETS,
    NAME_PATTERN,
    REPORT_FILE,
    DatasetError,
    ImportReport,
    data_root,
    is_imported_set,
    open_source,
)
from gan_core.data.paired import is_set_name, names_two_sets, resolve_domain
from gan_core.data.shapes import SHAPE_CLASSES
from gan_core.data.subsets import SubsetError, is_subset_spec, read_manifest

_BUILTIN_CLASSES = {"fashion-mnist": FASHION_CLASSES, "mnist": DIGIT_CLASSES,
                    "cifar10": CIFAR10_CLASSES, "digits": DIGIT_CLASSES, "shapes": SHAPE_CLASSES,
                    "emoji": EMOJI_GROUPS}
_BUILTIN_COUNT = {"fashion-mnist": 60000, "mnist": 60000, "cifar10": 50000,
                  "digits": 1438, "shapes": SHAPES_COUNT["train"], "emoji": 1683}  # train split sizes
_BUILTIN_HELD_OUT = {"fashion-mnist": 10000, "mnist": 10000, "cifar10": 10000,
                     "digits": 359, "shapes": SHAPES_COUNT["test"], "emoji": 187}  # test split sizes


def builtin_count(name: str) -> int | None:
    """A built-in set's training images, or None for any other set."""
    return _BUILTIN_COUNT.get(name)


def split_sizes(info: DatasetInfo) -> tuple[int, int] | None:
    """(training, held-out) image counts, by the split rules of ``gan_core.data.images``, so
    every page says the same numbers: a built-in's ``count`` is its training split, an
    imported set's is every image in it (every 10th held out; under 10, both use all)."""
    if not info.count:
        return None
    if info.kind == "builtin":
        return info.count, _BUILTIN_HELD_OUT.get(info.name, 0)
    return folder_split_sizes(info.count)


def folder_split_sizes(total: int) -> tuple[int, int]:
    """(training, held-out) counts of a folder or zip of ``total`` images (``images._load_folder``)."""
    return (total, total) if total < 10 else (total - total // 10, total // 10)


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
        return (f"{FONT_PATH} and {EMOJI_TEST_PATH} (apt packages "
                f"{' and '.join(APT_PACKAGES)}); rendered once into {emoji_cache_dir()}")
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
        return not missing_sources()
    return True


def data_problem(name: str) -> str | None:
    """Why a run on ``name`` could not load it, or None: asked before a run folder is made,
    so a misspelt set is an error line, not a failed run to clean up. Only names and files
    are looked at (nothing decoded)."""
    if name in BUILTIN_DATASETS:
        return None if _builtin_available(name) else f"{name} is not on this machine: it needs {describe_requirements(name)}"
    if is_subset_spec(name):  # an augmentation lab's K-per-class draw: its manifest, then its source
        try:
            return data_problem(read_manifest(name).source)
        except SubsetError as exc:
            return str(exc)
    try:
        _set_path(name)
    except DatasetError as exc:
        return str(exc)
    return None


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
            if is_imported_set(entry):
                infos.append(_imported_info(entry))
    return infos


def class_names(name: str) -> list[str] | None:
    """A set's classes without decoding a file: a built-in's list, or a folder's, zip's or
    imported set's first-level folder names ([] when flat). None when ``name`` is no set here."""
    if name in BUILTIN_DATASETS:
        return list(_BUILTIN_CLASSES[name])
    try:
        path = _set_path(name)
        source = open_source(path, _ZIP_LIMITS if path.is_file() else _FOLDER_LIMITS)
    except DatasetError:
        return None
    source.close()
    return list(source.classes)


def has_class_labels(name: str) -> bool | None:
    """Whether a set has classes to condition on (a scan of names, nothing decoded). None when
    ``name`` is no set here: the loader then says why."""
    classes = class_names(name)
    return None if classes is None else bool(classes)


def holds_pair_folders(name: str) -> bool:
    """Whether a folder, zip or imported set is laid out as real pairs: first-level ``A/`` and
    ``B/`` (any case), the layout ``paired.load_paired_folder`` pairs by file name."""
    if name in BUILTIN_DATASETS:
        return False
    return {"a", "b"} <= {c.lower() for c in class_names(name) or []}


def domains_problem(data: str, domain_a: str, domain_b: str) -> str | None:
    """Why CycleGAN could not find its two domains (two classes of ``data``, or two sets), or
    None; by names alone, before a run folder is made (a typo made a run that failed at once)."""
    classes = class_names(data) or []
    if names_two_sets(domain_a, domain_b, classes):
        return None
    if classes:
        try:
            if resolve_domain(domain_a, classes) == resolve_domain(domain_b, classes):
                return f"domain A and domain B are the same class ({domain_a!r}): choose two different classes"
        except DatasetError as exc:
            return f"{exc} (or give two folders or sets)"
        return None
    missing = [d for d in (domain_a, domain_b) if not is_set_name(d)]
    return (f"{data} has no classes, so the domains must be two folders or sets; not found: "
            + ", ".join(repr(d) for d in missing)) if missing else None


def _imported_info(folder: Path) -> DatasetInfo:
    classes = sorted(p.name for p in folder.iterdir()
                     if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    try:
        report = ImportReport.from_json((folder / REPORT_FILE).read_text(encoding="utf-8"))
        count, note = int(report.imported), report.summary()
    except (OSError, ValueError, TypeError):
        count = sum(1 for p in folder.rglob("*") if p.is_file() and p.name != REPORT_FILE)
        note = "folder placed by hand (no import report)"
    return DatasetInfo(folder.name, "imported", count > 0, classes, count, note)


# ---------------------------------------------------------------------------- download


def download_builtin(name: str) -> Path:
    """Download a built-in through torchvision into ``data_root()`` (needs internet)."""
    from gan_core.torch_utils.vision import torchvision

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
