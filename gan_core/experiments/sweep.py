"""Sweeps: one run per combination of one or two settings x seeds, queued as ordinary jobs.

``python -m gan_core sweep <train flags> --vary lr_d=2e-4,4e-4 --vary loss=hinge,nonsaturating
--seeds 2 --name lr-loss`` queues 2 x 2 x 2 runs named ``lr-loss-lr_d=2e-4-loss=hinge-s0`` ...
Every run carries the sweep's name in its ``tags`` (so Compare can pick the sweep out) and is
an ordinary job of ``gan_core.jobs``: the same queue, slots and controls as a single launch.
Every config is built and validated, and every name checked, before the first is queued, so
a bad field or value is refused with the config's own message and nothing half-queued stays.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

from gan_core.config import NAME_PATTERN, ConfigError, TrainConfig
from gan_core.jobs import manager as jobs
from gan_core.runs.rundir import RunDir, RunError, checkpoints_root, validate_name

MAX_FIELDS = 2
MAX_VALUES = 8
MAX_SEEDS = 10
MAX_RUNS = 64  # a typo in a value list should not queue a week of work


class SweepError(ValueError):
    """A sweep that cannot be expanded or queued; the message says why."""


def parse_vary(text: str) -> tuple[str, list[str]]:
    """``"lr_d=2e-4,4e-4"`` -> ``("lr_d", ["2e-4", "4e-4"])`` (``lr-d`` works too). The comma
    separates values, so one value of a list field joins its items with ``+``
    (``augment=color+translation,ada,none``: three runs; ``none`` is the empty list)."""
    name, sep, values = str(text).partition("=")
    name = name.strip().replace("-", "_")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not name or not items:
        raise SweepError(f"--vary takes FIELD=V1,V2,...; got {text!r}")
    return name, items


def expand(base: dict[str, Any], vary: list[tuple[str, list[str]]], seeds: int = 1,
           sweep: str = "sweep") -> list[tuple[str, TrainConfig]]:
    """(run name, validated config) for every combination of the varied values x ``seeds``.

    Seeds are ``base seed + i``; names are ``<sweep>-<field>=<value>...-s<seed>``; every config's
    ``tags`` gain ``sweep``. Raises ConfigError (a bad field or value, with the config's own
    message) or SweepError (too many runs, a name too long or repeated)."""
    validate_name(sweep, "sweep name")
    if not vary:
        raise SweepError("give at least one --vary FIELD=V1,V2")
    if len(vary) > MAX_FIELDS:
        raise SweepError(f"vary at most {MAX_FIELDS} fields at once; got {len(vary)}")
    known = {f.name for f in fields(TrainConfig)}
    names = [name for name, _ in vary]
    for name, values in vary:
        if name not in known:
            raise ConfigError(name, f"unknown field; known fields: {', '.join(sorted(known))}")
        if name in ("tags", "seed") and (name == "tags" or seeds > 1):
            raise SweepError(f"{name} cannot be varied" + (" together with --seeds" if name == "seed" else ""))
        if len(values) > MAX_VALUES or len(set(values)) != len(values):
            raise SweepError(f"{name}: give 1-{MAX_VALUES} different values; got {values}")
    if len(set(names)) != len(names):
        raise SweepError(f"{names[0]} is varied twice")
    if not 1 <= int(seeds) <= MAX_SEEDS:
        raise SweepError(f"seeds must be from 1 to {MAX_SEEDS}; got {seeds}")
    total = int(seeds) * len(list(itertools.product(*(v for _, v in vary))))
    if total > MAX_RUNS:
        raise SweepError(f"that is {total} runs; a sweep queues at most {MAX_RUNS}")
    base = dict(base)
    tags = [t for t in (base.get("tags") or []) if t != sweep] + [sweep]
    first_seed = int(TrainConfig.from_dict(base).seed)
    out: list[tuple[str, TrainConfig]] = []
    for combo in itertools.product(*(values for _, values in vary)):
        changes = {n: _field_value(n, v) for n, v in zip(names, combo)}
        for i in range(int(seeds)):
            seed = first_seed + i
            cfg = TrainConfig.from_dict({**base, **changes, "seed": changes.get("seed", seed), "tags": tags})
            parts = [f"{n}={_name_part(v)}" for n, v in changes.items()] + ([] if "seed" in changes else [f"s{seed}"])
            name = "-".join([sweep, *parts])
            if not NAME_PATTERN.match(name):
                raise SweepError(f"run name {name!r} is over 64 characters or has characters a run name cannot have: "
                                 "use a shorter sweep name or shorter values")
            out.append((name, cfg))
    if len({n for n, _ in out}) != len(out):
        raise SweepError("two runs of this sweep would get the same name: give values that differ after "
                         "replacing characters a run name cannot hold")
    return out


LIST_FIELDS = {f.name for f in fields(TrainConfig) if str(f.type).startswith("list")}


def _field_value(name: str, value: str) -> Any:
    """A --vary value as the config takes it: list fields' ``a+b`` is ``[a, b]``, ``none`` is ``[]``."""
    if name not in LIST_FIELDS:
        return value
    return [] if value.lower() == "none" else [v for v in value.split("+") if v]


def _name_part(value: Any) -> str:
    if isinstance(value, list):
        value = "+".join(value) or "none"
    return re.sub(r"[^A-Za-z0-9._=-]+", ".", str(value)).strip(".") or "x"


def queue(plan: list[tuple[str, TrainConfig]], root: Path | None = None, created_by: str | None = None) -> list[RunDir]:
    """Queue every planned run through ``gan_core.jobs.launch`` (oldest first, the job queue
    starts them as slots free up). Refused whole when any name is already taken.
    ``created_by``: whose runs they are (``gan_core.access.ownership.queue_sweep_as`` sets it)."""
    root = Path(root or checkpoints_root())
    taken = [name for name, _ in plan if (root / name).exists()]
    if taken:
        raise RunError(f"runs named {', '.join(taken[:3])}{' ...' if len(taken) > 3 else ''} exist already in {root}: "
                       "choose another sweep name")
    return [jobs.launch(cfg, name, root=root, created_by=created_by) for name, cfg in plan]
