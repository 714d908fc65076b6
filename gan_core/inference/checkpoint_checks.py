"""Checks on a checkpoint from elsewhere, done before any model is allocated.

A checkpoint file is small, but its metadata names the architecture to build: a 2 KB file
whose config says width 1024 at 128 px would make a DCGAN of 2.9 G parameters (11 GB) before
its weights were ever compared. So the metadata is validated first, the network is built on
the ``meta`` device (shapes, no storage), its size is capped and its state-dict shapes are
compared with the file's tensors; only then is the real model made.
"""
from __future__ import annotations

import os
from typing import Any, Callable

import torch

from gan_core.config import ConfigError, TrainConfig
from gan_core.runs.rundir import CheckpointError

DEFAULT_MAX_PARAMS = 250_000_000  # per network: 1 GB of float32; the studio's largest presets are far below
MAX_STEP = 10**12
MAX_CLASSES = 10_000
MAX_CLASS_NAME = 200


def max_params() -> int:
    """``GAN_MAX_CHECKPOINT_PARAMS`` (parameters per network), default 250 M."""
    value = os.environ.get("GAN_MAX_CHECKPOINT_PARAMS", "").strip()
    if not value:
        return DEFAULT_MAX_PARAMS
    try:
        return max(1, int(value))
    except ValueError:
        raise CheckpointError(f"GAN_MAX_CHECKPOINT_PARAMS must be a whole number, got {value!r}") from None


def checked_step(meta: dict[str, Any], source: str) -> int:
    step = meta.get("step", 0)
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEP:
        raise CheckpointError(f"{source}: its metadata 'step' must be a whole number from 0 to {MAX_STEP}; got {step!r}")
    return step


def checked_classes(meta: dict[str, Any], source: str) -> list[str]:
    classes = meta.get("classes")
    if classes is None:
        return []
    if (not isinstance(classes, list) or len(classes) > MAX_CLASSES
            or not all(isinstance(c, str) and 0 < len(c) <= MAX_CLASS_NAME for c in classes)):
        raise CheckpointError(f"{source}: its metadata 'classes' must be a list of at most {MAX_CLASSES} names "
                              f"(1-{MAX_CLASS_NAME} characters each); got {_short(classes)}")
    return list(classes)


def checked_config(meta: dict[str, Any], source: str, hint: str) -> TrainConfig:
    """The architecture the metadata carries, validated as any config typed into the app."""
    if "config" not in meta:
        raise CheckpointError(f"{source} carries no GAN Studio metadata (model and config), so its architecture is unknown: {hint}")
    try:
        return TrainConfig.from_dict(meta["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{source}: its stored config is not valid here ({exc})") from None


def check_fits(build: Callable[[], torch.nn.Module], state: dict[str, torch.Tensor], source: str, what: str) -> None:
    """Build the network on the meta device, refuse it above the parameter cap, and say
    exactly which tensors of ``state`` do not fit it. Allocates no parameter storage."""
    with torch.device("meta"):
        module = build()
    count = sum(p.numel() for p in module.parameters())
    cap = max_params()
    if count > cap:
        raise CheckpointError(f"{source}: its config asks for a {what} of {count / 1e6:,.0f} M parameters, above the "
                              f"limit of {cap / 1e6:,.0f} M (GAN_MAX_CHECKPOINT_PARAMS); refused without building it")
    problems = shape_problems({k: tuple(v.shape) for k, v in module.state_dict().items()}, state)
    if problems:
        raise CheckpointError(f"{source} does not fit this {what}'s architecture ({problems})")


def shape_problems(own: dict[str, tuple[int, ...]], state: dict[str, torch.Tensor]) -> str:
    """'' when ``state`` has exactly the names and shapes of ``own``, else what differs."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(state[k].shape)} vs {own[k]}" for k in own if k in state and tuple(state[k].shape) != own[k]]
    parts = []
    for label, names in (("shape mismatch", wrong), ("missing", missing), ("unexpected", unexpected)):
        if names:
            parts.append(f"{label}: {', '.join(names[:4])}{' ...' if len(names) > 4 else ''}")
    return "; ".join(parts)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
