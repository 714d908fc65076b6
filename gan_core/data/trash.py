"""Deleting a data set moves it to a trash folder it can be restored from.

Only sets the studio imported can be deleted: they carry its ``import_report.json``. A
folder someone copied into the data root by hand, a symlink or a built-in's storage is
never touched. A deleted set goes, by one atomic rename, to
``$GAN_DATA/.trash/<name>-<YYYYmmdd-HHMMSS>`` (a ``-2``, ``-3`` ... suffix when two land in
one second); ``restore_dataset`` renames the newest one back. A set stays there for
``GAN_TRASH_DAYS`` (default 7): the next move to the trash removes older ones for good, and
``data empty-trash`` does it at once.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from gan_core.data.importer import (
    REPORT_FILE,
    TRASH_DIR,
    DatasetError,
    data_root,
    move_to_trash,
    purge_trash,
    trash_entries,
    validate_name,
)


@dataclass(frozen=True)
class TrashedSet:
    name: str  # the data set's name (what restore brings back)
    deleted: str  # "YYYY-mm-dd HH:MM:SS" (local time)
    path: Path


def delete_dataset(name: str, root: Path | None = None) -> Path:
    """Move the imported set ``root/name`` to the trash; returns where it went."""
    validate_name(name)
    root = Path(root) if root is not None else data_root()
    target = root / name
    if not (target.exists() or target.is_symlink()):
        raise DatasetError(f"no imported data set named {name!r} in {root}")
    if target.is_symlink() or not target.is_dir() or not (target / REPORT_FILE).is_file():
        raise DatasetError(f"{name!r} in {root} was not imported by GAN Studio (it has no {REPORT_FILE}), "
                           "so the studio does not delete it; remove it by hand if you mean to")
    try:
        dest = move_to_trash(target, name, root)  # atomic: the set disappears at once, whole
    except OSError as exc:
        raise DatasetError(f"could not move {target} to the trash: {exc.strerror or exc}") from None
    return dest


def trashed_datasets(root: Path | None = None) -> list[TrashedSet]:
    """Sets in the trash, newest first."""
    found = [TrashedSet(name, time.strftime("%Y-%m-%d %H:%M:%S", when), entry)
             for entry, name, when in trash_entries(Path(root) if root is not None else data_root())]
    return sorted(found, key=lambda t: t.path.name[len(t.name) + 1:], reverse=True)  # stamp, then -2, -3 ...


def restore_dataset(name: str, root: Path | None = None, entry: Path | None = None) -> Path:
    """Bring set ``name`` back from the trash (its newest copy, or ``entry``); refuses to
    overwrite a set of that name made since. Returns the restored folder."""
    validate_name(name)
    root = Path(root) if root is not None else data_root()
    copies = [t for t in trashed_datasets(root) if t.name == name and (entry is None or t.path == Path(entry))]
    if not copies:
        raise DatasetError(f"no data set named {name!r} in the trash ({root / TRASH_DIR})")
    target = root / name
    if target.exists() or target.is_symlink():
        raise DatasetError(f"a data set named {name!r} exists again in {root}; delete or rename it before restoring")
    try:
        os.rename(copies[0].path, target)
    except OSError as exc:
        raise DatasetError(f"could not restore {name!r}: {exc.strerror or exc}") from None
    return target


def empty_trash(older_than_days: float = 0.0, root: Path | None = None) -> list[Path]:
    """Remove trashed sets for good: all of them, or those deleted more than ``older_than_days`` ago."""
    return purge_trash(Path(root) if root is not None else data_root(), older_than_days)
