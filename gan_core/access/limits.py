"""The operator's limits for web visitors: runs at once per person, training budget, model
size. Operators (and the CLI) have none. Standard library only, like ``identity``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from gan_core.access.identity import AccessError, Identity

if TYPE_CHECKING:  # only for the annotation: importing the config would pull in torch
    from gan_core.config import TrainConfig

# limit -> (environment variable, default for web visitors, what it bounds)
LIMIT_SETTINGS: dict[str, tuple[str, float, str]] = {
    "runs": ("GAN_STUDIO_MAX_RUNS_PER_PERSON", 2, "runs queued or running at once per person"),
    "minutes": ("GAN_STUDIO_MAX_MINUTES", 120, "minutes of training per run"),
    "steps": ("GAN_STUDIO_MAX_STEPS", 100_000, "steps per run (when no minutes budget is set)"),
    "width": ("GAN_STUDIO_MAX_WIDTH", 128, "model width (base channels)"),
    "resolution": ("GAN_STUDIO_MAX_RESOLUTION", 128, "image resolution in pixels"),
    "batch_size": ("GAN_STUDIO_MAX_BATCH", 256, "batch size"),
}


@dataclass(frozen=True)
class Limits:
    runs: float | None
    minutes: float | None
    steps: float | None
    width: float | None
    resolution: float | None
    batch_size: float | None


def limits(env: Mapping[str, str] = os.environ) -> Limits:
    """The operator's limits for web visitors; ``none`` switches one off."""
    values: dict[str, float | None] = {}
    for key, (var, default, what) in LIMIT_SETTINGS.items():
        raw = env.get(var, "").strip().lower()
        if raw in ("none", "off", "unlimited"):
            values[key] = None
            continue
        try:
            value = float(raw) if raw else float(default)
        except ValueError:
            value = -1.0
        if value <= 0:
            raise AccessError(f"{var} must be a positive number or 'none', got {raw!r}")
        values[key] = value
    return Limits(**values)


def _over(key: str, value: float, limit: float | None) -> str | None:
    if limit is None or value <= limit:
        return None
    var, _, what = LIMIT_SETTINGS[key]
    return (f"{value:g} is over this studio's limit of {limit:g} {what} for web visitors; "
            f"the operator can change it with {var}")


def check_limits(identity: Identity, cfg: "TrainConfig", env: Mapping[str, str] = os.environ) -> None:
    """Refuse a config over the operator's limits (operators have none)."""
    if identity.operator:
        return
    lim = limits(env)
    budget = ("minutes", cfg.minutes, lim.minutes) if cfg.minutes else ("steps", cfg.steps, lim.steps)
    for key, value, limit in (budget, ("width", cfg.width, lim.width), ("resolution", cfg.resolution, lim.resolution),
                              ("batch_size", cfg.batch_size, lim.batch_size)):
        why = _over(key, float(value), limit)
        if why:
            raise AccessError(f"{key.replace('_', ' ')} {why}")
