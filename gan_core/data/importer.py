"""Untrusted image folders and archives: read them safely, import them cleanly.

This is the lower layer of the data package (``gan_core.data`` builds on it and
re-exports ``DatasetError``, ``ImportReport`` and ``data_root``). Everything here treats
its input as hostile:

* zip entries are checked one by one while they are read, never ``extractall``:
  absolute paths, ``..``, drive letters, backslashes, symlinks and special files are
  refused; sizes are counted on the bytes actually decompressed (headers can lie), so a
  zip bomb is stopped after at most ``max_total_bytes`` without touching the disk;
* folders are walked without following symlinks, and files are opened with
  ``O_NOFOLLOW | O_NONBLOCK`` so a symlink or FIFO swapped in later is not read;
* every image is fully decoded by Pillow inside a try; a file that fails for any reason
  is skipped and reported, and images over ``MAX_IMAGE_PIXELS`` are refused from their
  header, before any pixel is decoded.

Layout rules shared by imports and direct loads (``load_dataset("path/to/set.zip")``):

* a single folder wrapping everything (as when a folder is zipped) is looked through;
* first-level subfolders are classes (sorted names); deeper files belong to the class
  of their first-level folder;
* a flat folder is unconditional (no labels);
* mixed (files at the top level *and* class folders): the top-level files are ignored
  and reported as "outside class folders";
* hidden files (``.name``), ``__MACOSX``, ``Thumbs.db`` and ``desktop.ini`` are skipped.

Colour rules: transparent images (RGBA, LA, P with transparency) are composited on
black; 16-bit images are scaled to 8 bits (value / 257); 32-bit integer images ("I")
are taken as 16-bit data, float images ("F") in [0, 1] are scaled by 255 and others are
min-max stretched. Grey stays grey ("L"), everything else becomes "RGB".

One module of about 580 lines on purpose: it is the whole boundary with untrusted input,
to be audited in one place.
"""
from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import stat
import time
import zipfile
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Iterator

from PIL import Image

from gan_core.data.limits import free_space_problem, import_max_side, trash_days
from gan_core.data.untrusted import (  # noqa: F401 - re-exported
    MAX_IMAGE_PIXELS,
    SkipFile,
    decode_frames,
    decode_image,
    open_untrusted,
    to_l_or_rgb,
)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
BUILTIN_DATASETS = ("fashion-mnist", "mnist", "cifar10", "digits", "shapes", "emoji")
# Folders the built-ins keep under data_root(): not imported sets, never import names.
BUILTIN_STORAGE = ("fashion-mnist", "FashionMNIST", "MNIST", "cifar-10-batches-py")
REPORT_FILE = "import_report.json"
_SYSTEM_NAMES = {"__macosx", "thumbs.db", "desktop.ini"}
_READ_CHUNK = 1 << 20


class DatasetError(Exception):
    """A data set that cannot be used; the message says what is wrong and how to fix it."""


def data_root() -> Path:
    """Where data sets live: ``$GAN_DATA`` or ``./data``. Read only, never created here."""
    return Path(os.environ.get("GAN_DATA") or "data")


@dataclass
class ImportReport:
    """What an import (or a direct folder/zip load) kept and what it skipped, and why."""

    imported: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (relative name, reason)
    classes: list[str] = field(default_factory=list)
    name: str = ""

    def summary(self) -> str:
        """One human line, e.g. "Imported 120 images in 3 classes; skipped 2 (1 corrupt, ...)"."""
        images = _plural(self.imported, "image")
        where = f"in {_plural(len(self.classes), 'class')}" if self.classes else "unlabelled"
        if not self.skipped:
            return f"Imported {images} {where}; nothing skipped"
        kinds = Counter(reason.split(":")[0] for _, reason in self.skipped)
        detail = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
        return f"Imported {images} {where}; skipped {len(self.skipped)} ({detail})"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "ImportReport":
        """The report in ``text``; keys added beside it (``created_by``, written by
        ``access.ownership`` on every Data-page import) are not the report's and are ignored."""
        d = json.loads(text)
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else ("es" if word.endswith("s") else "s"))


@dataclass(frozen=True)
class Limits:
    """Caps on what one source may make us read. ``None`` means no cap."""

    max_files: int | None = 50_000
    max_total_bytes: int | None = 2 * 1024**3
    max_file_bytes: int | None = 64 * 1024**2


# ---------------------------------------------------------------------------- sources


@dataclass
class SourceFile:
    """One candidate file of a source; ``open_raw`` returns a binary stream to read."""

    parts: tuple[str, ...]  # path components below the (looked-through) source root
    size_hint: int
    open_raw: Callable[[], io.RawIOBase | io.BufferedIOBase]

    @property
    def rel(self) -> str:
        return "/".join(self.parts)


@dataclass
class Source:
    """A folder or zip after scanning: candidate files by class, and what was skipped."""

    files: list[tuple[SourceFile, int | None]]  # (file, class index or None), sorted
    classes: list[str]
    skipped: list[tuple[str, str]]
    limits: Limits
    close: Callable[[], None] = lambda: None
    _read_total: int = 0

    def read(self, f: SourceFile) -> bytes:
        """Read one file, counting real bytes against the per-file and total caps.

        Over the per-file cap: ``SkipFile``. Over the total cap: ``DatasetError``
        (the source as a whole is refused: that is what a zip bomb looks like).
        """
        per_file = self.limits.max_file_bytes
        if per_file is not None and f.size_hint > per_file:
            raise SkipFile(f"too big: over {_mib(per_file)}")
        chunks, size = [], 0
        try:
            with f.open_raw() as stream:
                while True:
                    want = _READ_CHUNK if per_file is None else min(_READ_CHUNK, per_file + 1 - size)
                    chunk = stream.read(max(want, 1))
                    if not chunk:
                        break
                    size += len(chunk)
                    self._count(len(chunk))
                    if per_file is not None and size > per_file:
                        raise SkipFile(f"too big: over {_mib(per_file)}")
                    chunks.append(chunk)
        except (SkipFile, DatasetError):
            raise
        except Exception as exc:  # noqa: BLE001 - hostile archives raise anything
            raise SkipFile(f"unreadable: {type(exc).__name__}: {exc}"[:200]) from None
        return b"".join(chunks)

    def drop_import_report(self) -> None:
        """An imported set's ``import_report.json`` is metadata, not a file to load or to list as
        skipped (a clip set that failed to load gave it as its first reason)."""
        self.files = [(f, c) for f, c in self.files if f.parts != (REPORT_FILE,)]
        self.skipped = [(n, r) for n, r in self.skipped if n != REPORT_FILE]

    def _count(self, n: int) -> None:
        self._read_total += n
        cap = self.limits.max_total_bytes
        if cap is not None and self._read_total > cap:
            raise DatasetError(
                f"archive exceeds the {_mib(cap)} total size limit (it decompresses to more);"
                " refused as a possible zip bomb. Split it or raise max_total_bytes."
            )


def _mib(n: int) -> str:
    return f"{n / 1024**2:g} MiB"


def open_source(src: str | Path, limits: Limits = Limits()) -> Source:
    """Scan a folder or a ``.zip`` into a ``Source`` (nothing is decoded yet)."""
    path = Path(src)
    try:
        if path.is_dir():
            entries, skipped = _scan_folder(path, limits)
            close = lambda: None  # noqa: E731
        elif path.is_file() and path.suffix.lower() == ".zip":
            entries, skipped, close = _scan_zip(path, limits)
        elif not path.exists():
            raise DatasetError(f"{src} does not exist: give a folder of images or a .zip file")
        else:
            raise DatasetError(f"{src} is neither a folder nor a .zip file of images")
    except OSError as exc:
        raise DatasetError(f"could not read {src}: {exc}") from None
    files, classes, more = _arrange(entries)
    return Source(files, classes, skipped + more, limits, close)


def _check_count(n: int, limits: Limits, src: Path) -> None:
    if limits.max_files is not None and n > limits.max_files:
        raise DatasetError(
            f"{src} exceeds the {limits.max_files} file limit; split it into smaller sets"
        )


def _scan_folder(root: Path, limits: Limits) -> tuple[list[SourceFile], list[tuple[str, str]]]:
    """Walk a folder without following symlinks; skip special and hidden files."""
    entries: list[SourceFile] = []
    skipped: list[tuple[str, str]] = []
    stack: list[tuple[Path, tuple[str, ...]]] = [(root, ())]
    while stack:
        folder, prefix = stack.pop()
        try:
            items = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            skipped.append(("/".join(prefix) or ".", f"unreadable folder: {exc.strerror}"))
            continue
        for item in items:
            parts = prefix + (item.name,)
            rel = "/".join(parts)
            if _is_hidden(item.name):
                skipped.append((rel, "hidden or system file"))
            elif item.is_symlink():
                skipped.append((rel, "symlink not followed"))
            elif item.is_dir(follow_symlinks=False):
                stack.append((Path(item.path), parts))
            elif item.is_file(follow_symlinks=False):
                try:
                    size = item.stat(follow_symlinks=False).st_size
                except OSError as exc:
                    skipped.append((rel, f"unreadable: {exc.strerror}"))
                    continue
                entries.append(SourceFile(parts, size, _file_opener(Path(item.path))))
                _check_count(len(entries), limits, root)
            else:
                skipped.append((rel, "not a regular file"))
    return entries, skipped


def _file_opener(path: Path) -> Callable[[], io.BufferedIOBase]:
    def open_raw():
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(path, flags)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise SkipFile("not a regular file")
        return os.fdopen(fd, "rb")

    return open_raw


def _scan_zip(path: Path, limits: Limits):
    """List a zip's entries, refusing unsafe names, links, special and encrypted files."""
    if limits.max_total_bytes is not None and path.stat().st_size > limits.max_total_bytes:
        raise DatasetError(f"{path} exceeds the {_mib(limits.max_total_bytes)} total size limit")
    try:
        archive = zipfile.ZipFile(path)
        infos = archive.infolist()
    except Exception as exc:  # noqa: BLE001 - BadZipFile, OSError, ValueError, ...
        raise DatasetError(f"{path} is not a readable zip file ({exc}); re-create the archive") from None
    try:
        _check_count(sum(not _zip_dir(i) for i in infos), limits, path)
        declared = sum(i.file_size for i in infos)
        if limits.max_total_bytes is not None and declared > limits.max_total_bytes:
            raise DatasetError(
                f"archive exceeds the {_mib(limits.max_total_bytes)} total size limit (its "
                f"entries declare {_mib(declared)} uncompressed); refused as a possible zip bomb"
            )
        entries: list[SourceFile] = []
        skipped: list[tuple[str, str]] = []
        for info in infos:
            if _zip_dir(info):
                continue
            parts = safe_parts(info.filename)
            shown = info.filename[:200]
            if parts is None:
                skipped.append((shown, "unsafe path"))
            elif any(_is_hidden(p) for p in parts):
                skipped.append((shown, "hidden or system file"))
            elif (reason := _zip_special(info)) is not None:
                skipped.append((shown, reason))
            else:
                opener = lambda info=info: archive.open(info)  # noqa: E731
                entries.append(SourceFile(parts, info.file_size, opener))
    except BaseException:
        archive.close()
        raise
    return entries, skipped, archive.close


def _zip_dir(info: zipfile.ZipInfo) -> bool:
    return info.filename.endswith("/")  # ZipInfo.is_dir() fails on an empty name


def _zip_special(info: zipfile.ZipInfo) -> str | None:
    """Why a zip entry must not be read as a plain file, or None when it is one."""
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_IFMT(mode):  # unix attributes recorded
        if stat.S_ISLNK(mode):
            return "symlink not followed"
        if not stat.S_ISREG(mode):
            return "not a regular file"
    if info.flag_bits & 0x1:
        return "encrypted: not supported"
    return None


_DRIVE = re.compile(r"^[A-Za-z]:")


def safe_parts(name: str) -> tuple[str, ...] | None:
    """Split an archive member name into safe components, or None when it is unsafe.

    Unsafe: absolute, ``..`` anywhere, a drive letter, a backslash (Windows separator
    tricks), control characters, or nothing left after dropping ``.`` and empty parts.
    """
    if not name or name.startswith("/") or "\\" in name or _DRIVE.match(name):
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return None
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if not parts or ".." in parts:
        return None
    return parts


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() in _SYSTEM_NAMES


_OUTSIDE_CLASSES = "outside class folders: top-level files are ignored when a set has class folders"


def _arrange(entries: list[SourceFile]):
    """Look through a wrapping folder, then assign classes from first-level folders."""
    entries = sorted(entries, key=lambda e: e.parts)
    while entries and all(len(e.parts) > 1 for e in entries) and len({e.parts[0] for e in entries}) == 1:
        for e in entries:
            e.parts = e.parts[1:]
    classes = sorted({e.parts[0] for e in entries if len(e.parts) > 1})
    index = {c: i for i, c in enumerate(classes)}
    files, skipped = [], []
    for e in entries:
        if not classes:
            files.append((e, None))
        elif len(e.parts) == 1:
            skipped.append((e.rel, _OUTSIDE_CLASSES))
        else:
            files.append((e, index[e.parts[0]]))
    return files, classes, skipped


# ---------------------------------------------------------------------------- decoding


def iter_images(source: Source, wanted: list[tuple[SourceFile, int | None]],
                draft_size: int | None = None) -> Iterator[tuple[SourceFile, int | None, Image.Image]]:
    """Decode the wanted files of a source, recording skips in ``source.skipped``."""
    for f, label in wanted:
        try:
            yield f, label, decode_image(source.read(f), draft_size)
        except SkipFile as exc:
            source.skipped.append((f.rel, str(exc)))


def no_usable_images(src: str | Path, skipped: list[tuple[str, str]]) -> DatasetError:
    first = "; ".join(f"{name}: {reason}" for name, reason in skipped[:3])
    return DatasetError(
        f"no usable images in {src}: {len(skipped)} files skipped"
        + (f" (first reasons: {first})" if first else " (the folder is empty)")
        + ". Give a folder or .zip of PNG/JPEG/... images, optionally in class subfolders."
    )


# ---------------------------------------------------------------------------- import


def validate_name(name: str) -> str:
    """Refuse names that are not plain folder names, or that a built-in set uses."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise DatasetError(
            f"invalid data set name {name!r}: use 1-64 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit (no slashes)"
        )
    reserved = {n.lower() for n in BUILTIN_DATASETS + BUILTIN_STORAGE}
    if name.lower() in reserved:
        raise DatasetError(f"{name!r} is the name of a built-in data set; choose another name")
    return name


def import_dataset(src: str | Path, name: str, root: Path | None = None, *,
                   overwrite: bool = False, max_files: int = 50_000,
                   max_total_bytes: int = 2 * 1024**3,
                   max_file_bytes: int = 64 * 1024**2) -> ImportReport:
    """Copy a folder or .zip of images into ``root/name`` as clean PNGs.

    Every image is decoded and re-saved as an "L" or "RGB" PNG (so nothing of the
    original file survives but pixels); class folders are kept (names made
    filesystem-safe) and the report is saved as ``import_report.json`` beside them.
    The set is built in a hidden temp folder inside ``root`` and renamed into place at
    the end, so a failed import leaves nothing behind. Images over ``GAN_IMPORT_MAX_SIDE``
    (1024 px) are stored downscaled; an import is refused when the disk is nearly full
    (``GAN_MIN_FREE_MB``, see data/limits.py).
    """
    validate_name(name)
    root = Path(root) if root is not None else data_root()
    final = root / name
    if (final.exists() or final.is_symlink()) and not overwrite:
        raise DatasetError(f"a data set named {name!r} already exists in {root}; "
                           "choose another name or pass overwrite=True (--overwrite)")
    limits = Limits(max_files, max_total_bytes, max_file_bytes)
    problem = free_space_problem(root, f"importing {name!r}")
    if problem:
        raise DatasetError(problem)
    source = open_source(src, limits)
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".import-{name}-{secrets.token_hex(4)}"
        tmp.mkdir()
        try:
            report = _write_set(source, tmp, name, src)
            _swap_into_place(tmp, final, overwrite)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    except OSError as exc:
        raise DatasetError(f"could not write the data set into {root}: {exc}") from None
    finally:
        source.close()
    return report


def _write_set(source: Source, tmp: Path, name: str, src: str | Path) -> ImportReport:
    class_dirs = safe_folder_names(source.classes)
    count = 0
    used = set()
    side = import_max_side()  # stored at a bounded size (GAN_IMPORT_MAX_SIDE); training uses <= 256 px
    for f, label, frames in _iter_frames(source, side):
        folder = tmp if label is None else tmp / class_dirs[label]
        folder.mkdir(exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(f.parts[-1]).stem)[:40].lstrip(".")
        frames[0].save(folder / f"{count:06d}-{stem}.png", format="PNG", compress_level=3,
                       **(dict(save_all=True, append_images=frames[1:], duration=100, loop=0) if len(frames) > 1 else {}))
        used.add(label)
        count += 1
    if count == 0:
        raise no_usable_images(src, source.skipped)
    classes = [class_dirs[i] for i in sorted(used)] if source.classes else []
    report = ImportReport(count, list(source.skipped), classes, name)
    (tmp / REPORT_FILE).write_text(report.to_json(), encoding="utf-8")
    return report


def _iter_frames(source: Source, side: int) -> Iterator[tuple[SourceFile, int | None, list[Image.Image]]]:
    """Each usable file's frames (``decode_frames``), recording skips in ``source.skipped``.
    An animation is kept as an animated PNG: imports kept its first frame only, so a set of
    GIF clips imported on the Data page could not train the video GAN ("a single frame")."""
    for f, label in source.files:
        try:
            yield f, label, decode_frames(source.read(f), side)
        except SkipFile as exc:
            source.skipped.append((f.rel, str(exc)))


def safe_folder_names(classes: list[str]) -> list[str]:
    """Filesystem-safe, unique folder names for class names (order kept)."""
    out: list[str] = []
    taken = {REPORT_FILE}
    for c in classes:
        base = re.sub(r"[^\w.-]+", "_", c).lstrip(".-")[:60] or "class"
        safe, n = base, 2
        while safe.lower() in taken:
            safe, n = f"{base}_{n}", n + 1
        taken.add(safe.lower())
        out.append(safe)
    return out


def _swap_into_place(tmp: Path, final: Path, overwrite: bool) -> None:
    """Rename the finished set into place; an overwritten set is removed only after."""
    old = None
    if final.exists() or final.is_symlink():
        if not overwrite:
            raise DatasetError(f"a data set named {final.name!r} appeared meanwhile; import again")
        old = final.parent / f".old-{final.name}-{secrets.token_hex(4)}"
        os.rename(final, old)
    os.rename(tmp, final)
    if old is not None:  # a replaced set is kept in the trash, like a deleted one (data.trash)
        move_to_trash(old, final.name, final.parent)


TRASH_DIR = ".trash"


TRASH_ENTRY = re.compile(r"^(?P<name>.+)-(?P<stamp>\d{8}-\d{6})(?:-\d+)?$")  # <name>-<YYYYmmdd-HHMMSS>[-n]


def trash_entries(root: Path) -> list[tuple[Path, str, time.struct_time]]:
    """(folder, set name, when deleted) of every entry the trash itself named: what listing,
    restoring and purging all walk. Anything else in the folder is never touched."""
    trash, found = root / TRASH_DIR, []
    for entry in trash.iterdir() if trash.is_dir() else []:
        m = TRASH_ENTRY.match(entry.name)
        if m and entry.is_dir() and not entry.is_symlink():
            found.append((entry, m.group("name"), time.strptime(m.group("stamp"), "%Y%m%d-%H%M%S")))
    return found


def move_to_trash(path: Path, name: str, root: Path) -> Path:
    """Rename ``path`` to ``root/.trash/<name>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3`` ... when two
    land in one second): atomic on one file system, and restorable (``data.trash``). Sets in
    the trash longer than ``trash_days()`` are removed first, so replacing a set again and
    again cannot fill the disk."""
    trash = root / TRASH_DIR
    trash.mkdir(exist_ok=True)
    purge_trash(root, trash_days())
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest, n = trash / f"{name}-{stamp}", 2
    while dest.exists():
        dest, n = trash / f"{name}-{stamp}-{n}", n + 1
    os.rename(path, dest)
    return dest


def purge_trash(root: Path, older_than_days: float) -> list[Path]:
    """Remove for good the trashed sets deleted more than ``older_than_days`` ago (by the stamp
    in their name; 0 empties the trash)."""
    cutoff = time.time() - older_than_days * 86400
    removed = [entry for entry, _, when in sorted(trash_entries(root)) if time.mktime(when) <= cutoff]
    for entry in removed:
        shutil.rmtree(entry, ignore_errors=True)
    return removed


def is_imported_set(entry: Path) -> bool:
    """A folder of ``data_root()`` that holds an imported set (not a built-in's storage)."""
    reserved = {n.lower() for n in BUILTIN_DATASETS + BUILTIN_STORAGE}
    return (entry.is_dir() and not entry.is_symlink() and bool(NAME_PATTERN.match(entry.name))
            and entry.name.lower() not in reserved)
