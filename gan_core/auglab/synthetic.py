"""The lab's synthetic images: M per class from a conditional run, kept as one uint8 file.

Quantised to uint8 like any exported PNG set (what a user would train on), in one
safetensors file (``images`` [N, C, R, R] uint8, ``labels`` [N] int64) written atomically.
Image i of class c comes from seed i (``gan_core.inference.generators.generate``): any one can be made
again alone, and the first M of a class are the same images whatever the largest M.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from gan_core.inference.generators import generate, load_generator

CHUNK = 256  # images per generator call: bounded memory for any M


class SyntheticError(ValueError):
    """A generator that cannot make the lab's images (unconditional, other size)."""


def write_synthetic(run: str, root: Path, path: Path, per_class: int, resolution: int, channels: int) -> dict[str, Any]:
    """``per_class`` images of every class from ``run``'s newest checkpoint into ``path``."""
    loaded = load_generator(run, root=root)
    cfg = loaded.config
    if not loaded.conditional:
        raise SyntheticError(f"GAN run {run} is not class-conditional: it cannot make labelled images")
    if (cfg.resolution, cfg.channels) != (resolution, channels):
        raise SyntheticError(f"GAN run {run} makes {cfg.resolution}px/{cfg.channels}ch images; the lab uses "
                             f"{resolution}px/{channels}ch")
    images, labels = [], []
    for c in range(len(loaded.classes)):
        for s in range(0, per_class, CHUNK):
            seeds = list(range(s, min(per_class, s + CHUNK)))
            x = generate(loaded, seeds, class_index=c)
            images.append(((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))
            labels.append(torch.full((len(seeds),), c, dtype=torch.int64))
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file({"images": torch.cat(images).contiguous(), "labels": torch.cat(labels)}, str(tmp),
              metadata={"run": run, "checkpoint_step": str(loaded.step), "per_class": str(per_class)})
    os.replace(tmp, path)
    return {"file": str(path), "per_class": per_class, "classes": list(loaded.classes), "gan_run": run,
            "checkpoint_step": loaded.step, "weights": loaded.weights}


def read_synthetic(path: Path, per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``per_class`` images of each class, as float in [-1, 1], and their labels."""
    data = load_file(str(path))
    labels = data["labels"]
    keep = torch.cat([torch.nonzero(labels == c).flatten()[:per_class] for c in labels.unique()])
    return data["images"][keep].float() / 127.5 - 1, labels[keep]
