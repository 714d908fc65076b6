"""Export a trained generator's images as a synthetic data set (an imported set, ready to train on)."""
from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Callable

from gan_core.data.importer import (
    REPORT_FILE,
    DatasetError,
    ImportReport,
    data_root,
    safe_folder_names,
    validate_name,
)
from gan_core.data.limits import free_space_problem
from gan_core.inference.generators import generate, png_bytes, provenance, to_pil


def png_bound(cfg) -> int:
    """Bytes one exported PNG may take: its raw pixels plus the provenance text. Generated
    images compress, so this overestimates the disk an export needs, never under."""
    return cfg.resolution * cfg.resolution * cfg.channels + 2048


def export_synthetic(loaded, name: str, per_class: int, seed: int = 0, truncation: float | None = None,
                     root: Path | None = None, chunk: int = 64,
                     progress: Callable[[int, int], None] | None = None) -> tuple[Path, int]:
    """Write a synthetic data set ``root/name/<class>/<seed>.png`` (flat for unconditional
    generators): ``per_class`` images per class, each PNG with provenance text chunks, plus an
    ``import_report.json`` so it lists as an imported set (trainable, and ready for a classifier).

    Built in a hidden temp folder and renamed into place. Returns (folder, images written).
    """
    if loaded.config.run_type.sample == "clip":  # its G makes [T, C, H, W] clips: to_pil crashed on frame 0
        raise ValueError(f"a synthetic data set is made of images, and a {loaded.config.model} run makes clips: "
                         "`python -m gan_core sample --run RUN --out DIR` writes them as GIFs")
    validate_name(name)
    root = Path(root) if root is not None else data_root()
    final = root / name
    if final.exists():
        raise DatasetError(f"a data set named {name!r} already exists in {root}; choose another name")
    if not 1 <= per_class <= 100_000:
        raise ValueError("images per class must be from 1 to 100000")
    classes = list(loaded.classes) if loaded.conditional else []
    folders = safe_folder_names(classes) if classes else [""]
    jobs = [(ci if classes else None, folder) for ci, folder in enumerate(folders)]
    total, done = per_class * len(jobs), 0
    problem = free_space_problem(root, f"exporting {name!r}", need=total * png_bound(loaded.config))
    if problem:
        raise DatasetError(problem)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".export-{name}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        for class_index, folder in jobs:
            out = tmp / folder if folder else tmp
            out.mkdir(exist_ok=True)
            for start in range(0, per_class, chunk):
                seeds = list(range(seed + start, seed + min(per_class, start + chunk)))
                images = generate(loaded, seeds, class_index=class_index, truncation=truncation)
                for s, image in zip(seeds, images):
                    info = provenance(loaded, s, class_index, truncation=truncation or "none", dataset=name)
                    (out / f"{s:06d}.png").write_bytes(png_bytes(to_pil(image), info))
                done += len(seeds)
                if progress is not None:
                    progress(done, total)
        report = ImportReport(done, [], folders if classes else [], name)
        (tmp / REPORT_FILE).write_text(report.to_json(), encoding="utf-8")
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final, done
