"""How long a run will take on this machine, from the speed its past runs measured, and
what the Monitor's ETA says from the run's own measured speed (no Streamlit here).

A GAN step costs about the same for the same networks at the same size, so the best guide
is a run on this machine with the same model, resolution, channels, width and batch; a run
that differs only in batch size is a weaker guide (on a CPU images/s moves little with the
batch). Without either there is no honest number to give, and the page says so.
"""
from __future__ import annotations

import math
import socket
import time
from dataclasses import dataclass
from typing import Any

from gan_core.config import TrainConfig
from gan_core.runs.rundir import RunDir, RunError

HOST = socket.gethostname()
MIN_MEASURED_S = 5.0  # shorter runs are mostly start-up: their speed says little


@dataclass
class Speed:
    images_per_s: float
    run: str  # the run it was measured by
    exact: bool  # same networks, size and batch (else: same networks and size, other batch)

    def seconds_for(self, cfg: TrainConfig, steps: int) -> float:
        return steps * cfg.batch_size * cfg.d_steps / self.images_per_s

    def steps_in(self, cfg: TrainConfig, seconds: float) -> int:
        return int(seconds * self.images_per_s / (cfg.batch_size * cfg.d_steps))

    def source(self) -> str:
        how = "same model, size and batch" if self.exact else "same model and size, another batch size"
        return f"measured by run **{self.run}** on this machine ({how}, {self.images_per_s:,.0f} images/s)"


def _shape(cfg: TrainConfig) -> tuple:
    return (cfg.model, cfg.resolution, cfg.channels, cfg.width, cfg.z_dim, cfg.conditional, cfg.d_steps,
            cfg.frames)


def measured_speed(cfg: TrainConfig, runs: list[RunDir]) -> Speed | None:
    """The speed of the newest run on this machine that trained the same networks at the same
    size for at least MIN_MEASURED_S (one with the same batch preferred), or None."""
    close = None
    for run in runs:
        try:
            other = run.config()
        except RunError:
            continue
        status = run.read_status()
        seen, elapsed = status.get("images_seen"), status.get("elapsed_s")
        if status.get("host") != HOST or not seen or not elapsed or elapsed < MIN_MEASURED_S:
            continue
        if _shape(other) != _shape(cfg) or other.device != cfg.device or other.threads != cfg.threads:
            continue
        speed = Speed(float(seen) / float(elapsed), run.name, other.batch_size == cfg.batch_size)
        if speed.exact:
            return speed
        close = close or speed
    return close


def estimate_text(cfg: TrainConfig, speed: Speed | None, busy: int = 0) -> str:
    """One line for the Train page: the budget in both units, and where the number comes from."""
    if speed is None:
        return ("**How long:** no run of this model at this size has trained on this machine yet, so there is no "
                "measured speed to estimate from. Monitor shows the time left from the run's own speed after its "
                "first log lines.")
    if cfg.minutes:
        text = f"**How long:** {cfg.minutes:g} min, about {speed.steps_in(cfg, cfg.minutes * 60):,} steps"
    else:
        text = f"**How long:** {cfg.steps:,} steps, about {minutes_text(speed.seconds_for(cfg, cfg.steps))}"
    text += f" — {speed.source()}."
    if busy:
        text += f" {busy} other run{'s are' if busy > 1 else ' is'} training now and share{'' if busy > 1 else 's'} the machine: expect longer."
    return text


def minutes_text(seconds: float) -> str:
    if seconds < 60:
        return "under a minute"
    if seconds < 3600:
        return f"{math.ceil(seconds / 60)} min"
    hours, minutes = divmod(math.ceil(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


def eta_seconds(status: dict[str, Any], cfg: TrainConfig | None, now: float | None = None) -> float | None:
    """Time left for a live run from its own measured speed: images trained over time spent
    (the whole run's average, steadier than the last log interval's), counted down since the
    status was written, so it moves between log lines. None when not measured yet."""
    if cfg is None:
        return None
    since = max(0.0, (now or time.time()) - float(status.get("updated") or now or time.time()))
    elapsed = float(status.get("elapsed_s") or 0.0)
    if cfg.minutes:
        return max(0.0, cfg.minutes * 60 - elapsed - since)
    seen = float(status.get("images_seen") or 0.0)
    if seen <= 0 or elapsed <= 0:
        return None
    steps_left = max(0, int(status.get("total_steps") or cfg.steps) - int(status.get("step") or 0))
    return max(0.0, steps_left * cfg.batch_size * cfg.d_steps / (seen / elapsed) - since)
