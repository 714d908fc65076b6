"""Limits on what visitors can make the studio store: uploads per request, the size of an
imported image, and the free disk an import or a launch must leave.

Each has a documented default and an environment variable to change it (operator's choice):

    GAN_UPLOAD_MAX_FILES   files in one upload request (Data page)        default 2000
    GAN_UPLOAD_MAX_MB      total size of one upload request, MiB          default 1024
    GAN_IMPORT_MAX_SIDE    longer side of an imported image, pixels        default 1024
                           (larger ones are downscaled, aspect kept; the studio trains at <= 256)
    GAN_MIN_FREE_MB        free disk that must remain before an import     default 1024
                           or a launch (checked on the target folder's file system)
    GAN_TRASH_DAYS         days a deleted or replaced set stays restorable  default 7
                           (older ones go when the next set is trashed)

Streamlit's ``server.maxUploadSize`` caps each file on its own; these cap the request.
A set is trained from memory (one tensor): ``set_memory_problem`` refuses one that would not
fit before a single image is decoded.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else default


def upload_max_files() -> int:
    return _env_int("GAN_UPLOAD_MAX_FILES", 2000)


def upload_max_bytes() -> int:
    return _env_int("GAN_UPLOAD_MAX_MB", 1024) * 2**20


def import_max_side() -> int:
    return max(16, _env_int("GAN_IMPORT_MAX_SIDE", 1024))


def min_free_bytes() -> int:
    return _env_int("GAN_MIN_FREE_MB", 1024) * 2**20


def trash_days() -> float:
    """Days, fractions allowed (so not ``_env_int``); a bad value keeps the default."""
    try:
        return max(0.0, float(os.environ.get("GAN_TRASH_DAYS", "7")))
    except ValueError:
        return 7.0


def upload_problem(sizes: list[int]) -> str | None:
    """Why an upload request of files with these byte sizes is refused, or None."""
    if len(sizes) > upload_max_files():
        return (f"{len(sizes):,} files in one upload; the limit is {upload_max_files():,} (GAN_UPLOAD_MAX_FILES). "
                "Put them in a .zip instead.")
    total = sum(sizes)
    if total > upload_max_bytes():
        return (f"{total / 2**20:,.0f} MiB in one upload; the limit is {upload_max_bytes() >> 20:,} MiB "
                "(GAN_UPLOAD_MAX_MB). Import large sets from a folder with `python -m gan_core data import`.")
    return None


def free_space_problem(folder: Path, what: str, need: int = 0) -> str | None:
    """Why ``what`` must not start: the disk holding ``folder`` would keep under the
    minimum free (plus ``need`` bytes it will write), or None. A folder not made yet is
    judged by its nearest existing parent."""
    folder = Path(folder).resolve()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return None  # cannot tell: do not block on it
    floor = min_free_bytes()
    if free - need < floor:
        return (f"not enough free disk for {what}: {free / 2**20:,.0f} MiB free on the disk of {folder}, "
                f"{floor >> 20:,} MiB must stay free (GAN_MIN_FREE_MB)"
                + (f" and it needs about {need / 2**20:,.0f} MiB" if need else "") + ". Free some space first.")
    return None


def memory_available() -> int | None:
    """Bytes the kernel can hand out without swapping (Linux's MemAvailable), or None elsewhere."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def set_memory_problem(images: int, channels: int, resolution: int) -> str | None:
    """Why ``images`` at this size would not fit in memory as a training set, or None."""
    need = images * channels * resolution**2 * 5  # the float32 tensor, and the uint8 pixels it is made from
    free = memory_available()
    if free is None or need <= 0.8 * free:
        return None
    return (f"{images:,} images at {resolution} px need about {need / 2**30:,.1f} GiB of memory to train from "
            f"(the set is held as one tensor); {free / 2**30:,.1f} GiB is available here. Train at a lower "
            "resolution (the need falls with its square) or on a smaller set.")
