"""Which sample grids a long run keeps, so its folder cannot fill the disk.

A grid is written every ``sample_every`` steps: a run of 10 M steps at the default 500 would
leave 20,000 PNGs. Past ``GAN_SAMPLE_KEEP`` grids (default 200) the run keeps the first, the
newest ``GAN_SAMPLE_KEEP_RECENT`` (default 50), and of the ones between, those nearest to
log-spaced steps: early training, where the images change most, stays densely covered and
the Monitor's slider still walks the whole run.
"""
from __future__ import annotations

import math
import os


def _env_int(name: str, default: int, low: int) -> int:
    value = os.environ.get(name, "").strip()
    return max(low, int(value)) if value.isdigit() else default


def sample_keep() -> int:
    return _env_int("GAN_SAMPLE_KEEP", 200, 3)


def sample_keep_recent() -> int:
    return min(_env_int("GAN_SAMPLE_KEEP_RECENT", 50, 1), sample_keep() - 2)


def grids_to_keep(steps: list[int], limit: int, recent: int) -> set[int]:
    """The steps to keep of ``steps`` (sorted): all of them up to ``limit``; else the first,
    the last ``recent`` and ``limit - recent - 1`` log-spaced ones between."""
    if len(steps) <= limit:
        return set(steps)
    first, middle, last = steps[0], steps[1:-recent], steps[-recent:]
    keep = {first, *last}
    slots = limit - len(keep)
    lo, hi = math.log1p(middle[0]), math.log1p(middle[-1])
    pool = list(middle)
    for i in range(slots):  # nearest free grid to each log-spaced target, so exactly `slots` survive
        target = lo + (hi - lo) * (i / max(1, slots - 1))
        best = min(pool, key=lambda s: abs(math.log1p(s) - target))
        keep.add(best)
        pool.remove(best)
        if not pool:
            break
    return keep
