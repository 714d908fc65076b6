"""What real images a run saw, read from its own folder, and whether that is fair to a lab.

A run's ``config.yaml`` names its data: a ``.subset.json`` manifest (``gan_core.data.subsets``:
exactly those indices of the source's train split) or a whole data set (its whole train
split). ``init_from`` adds what the parent run saw. The checkpoint's own copy of the config
must name the same data, or the run's folder was changed after training.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gan_core.data import load_dataset
from gan_core.data.subsets import Subset, is_subset_spec, read_manifest
from gan_core.runs.rundir import RunDir, RunError


class ProvenanceError(RunError):
    """A run whose record of its training data is inconsistent."""



def real_images_seen(run_name: str, root: Path | None = None, _chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """How many real training images a run saw, per class, from its own config: the
    manifest it trained on, or the whole train split of its data set. A run started from
    another's weights (``init_from``) also saw what that one saw: counts are added."""
    run = RunDir.open(run_name, root)
    cfg = run.config()
    ckpt = run.latest_checkpoint()
    if ckpt is not None and (ckpt.meta.get("config") or {}).get("data", cfg.data) != cfg.data:
        raise ProvenanceError(f"run {run_name}: its checkpoint was trained on {ckpt.meta['config']['data']}, "
                              f"but its config says {cfg.data}")
    if is_subset_spec(cfg.data):
        sub = read_manifest(cfg.data)
        seen = {"source": sub.source, "source_seed": sub.source_seed, "subset": cfg.data, "sha256": sub.sha256,
                "indices": sub.indices, "per_class": sub.counts(), "classes": sub.classes}
    else:
        ds = load_dataset(cfg.data, cfg.resolution, cfg.channels, "train", seed=cfg.seed)
        counts = np.bincount(ds.labels.numpy(), minlength=len(ds.classes)) if ds.labels is not None else [len(ds)]
        names = ds.classes or ["(unlabelled)"]
        seen = {"source": cfg.data, "source_seed": cfg.seed, "subset": None, "sha256": None, "indices": None,
                "per_class": {n: int(c) for n, c in zip(names, counts)}, "classes": list(ds.classes)}
    seen.update(run=run_name, conditional=cfg.conditional, resolution=cfg.resolution, channels=cfg.channels,
                total=sum(seen["per_class"].values()), init_from=cfg.init_from or None)
    if cfg.init_from:
        if cfg.init_from in _chain:
            raise ProvenanceError(f"run {run_name}: init_from loops back to {cfg.init_from}")
        parent = real_images_seen(cfg.init_from, root, _chain + (run_name,))
        seen["per_class"] = {n: c + parent["per_class"].get(n, 0) for n, c in seen["per_class"].items()}
        seen["total"] = sum(seen["per_class"].values())
        seen["indices"] = None  # another run's images too: not one manifest any more
    return seen


def check_gan_data(seen: dict[str, Any], sub: Subset, k: int) -> list[str]:
    """Why a GAN that saw ``seen`` is not a fair GAN for the K-draw ``sub`` ([] when fair):
    it must have seen only images of this draw (so at most K per class)."""
    problems = []
    if seen["source"] != sub.source or seen["source_seed"] != sub.source_seed:
        problems.append(f"it trained on {seen['source']}, not on {sub.source}")
    if max(seen["per_class"].values()) > k:
        problems.append(f"it saw up to {max(seen['per_class'].values())} real images per class, more than K={k}")
    elif seen["indices"] is None or not set(seen["indices"]) <= set(sub.indices):
        problems.append("its real images are not all among the lab's draw (different draw seed or set)")
    if not seen["conditional"]:
        problems.append("it is not class-conditional")
    return problems


def reuse_too_small(seen: dict[str, Any], per_class: list[int]) -> list[int]:
    """The K values for which a run that saw ``seen`` has seen too many real images."""
    most = max(seen["per_class"].values())
    return [k for k in per_class if most > k]
