"""Who created each run and data set, and the actions the pages take on them: every one
checks the rules of ``identity`` and ``limits`` before calling the engine (``jobs.manager``'s
launch/stop/resume/cancel, ``delete_dataset``), so a refusal does not depend on a button being hidden.

The creator is ``created_by`` in the run's ``status.json`` (written by ``jobs.launch`` with
the first state) and in the data set's ``import_report.json``. Runs and sets without one
(made before the studio recorded it) can be changed by operators only.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Mapping

from gan_core.access.identity import AccessError, Identity, check
from gan_core.access.limits import LIMIT_SETTINGS, check_limits, limits
from gan_core.auglab import background
from gan_core.config import TrainConfig
from gan_core.data.importer import NAME_PATTERN, REPORT_FILE, DatasetError, data_root
from gan_core.data.trash import delete_dataset, restore_dataset
from gan_core.experiments import sweep
from gan_core.jobs import manager as jobs
from gan_core.jobs.scheduler import file_lock
from gan_core.runs.rundir import RunDir, atomic_write_json, checkpoints_root, list_runs, read_json
from gan_core.runs.states import RunState

ACTIVE_STATES = (RunState.QUEUED, RunState.RUNNING, RunState.STOPPING)  # they hold (or wait for) a slot
LOCK_NAME = ".access.lock"


def run_owner(run: RunDir) -> str | None:
    """Who created the run (None for runs from before the studio recorded it)."""
    owner = run.read_status().get("created_by")
    return owner if isinstance(owner, str) and owner else None


def dataset_owner(name: str, root: Path | None = None) -> str | None:
    if not NAME_PATTERN.match(name or ""):
        return None  # not a plain folder name: never a path outside the data root
    report = read_json(Path(root or data_root()) / name / REPORT_FILE)
    owner = (report or {}).get("created_by")
    return owner if isinstance(owner, str) and owner else None


def active_runs(identity: Identity, root: Path | None = None) -> list[str]:
    """Names of the runs this identity created that are queued, running or stopping."""
    return [r.name for r in list_runs(Path(root or checkpoints_root()))
            if run_owner(r) == identity.id and RunState.of(jobs.run_state(r)) in ACTIVE_STATES]


def _check_run_count(identity: Identity, root: Path, env: Mapping[str, str], adding: int = 1) -> None:
    if identity.operator:
        return
    limit = limits(env).runs
    mine = active_runs(identity, root)
    if limit is not None and len(mine) + adding > limit:
        var = LIMIT_SETTINGS["runs"][0]
        raise AccessError(f"you have {len(mine)} run(s) queued or running ({', '.join(sorted(mine)) or 'none'}), "
                          f"{adding} more would make {len(mine) + adding} and this studio allows {limit:g} per person; "
                          f"stop or cancel one first (the operator can change the limit with {var})")


def _count_lock(root: Path) -> contextlib.AbstractContextManager[None]:
    """Count-then-launch under one lock, so two tabs cannot both take a person's last slot
    (its own file: ``jobs.launch`` takes the scheduler's lock inside it)."""
    return file_lock(root / LOCK_NAME)


# ---- the actions the pages take ------------------------------------------------------------
def launch_as(identity: Identity, cfg: TrainConfig, name: str, *, root: Path | str | None = None,
              env: Mapping[str, str] = os.environ, **launch_args: Any) -> RunDir:
    """``jobs.launch`` for ``identity``: within its limits, recorded as its run."""
    check_limits(identity, cfg, env)
    root = Path(root or checkpoints_root()).resolve()
    with _count_lock(root):
        _check_run_count(identity, root, env)
        return jobs.launch(cfg, name, root=root, created_by=identity.id, **launch_args)


def queue_sweep_as(identity: Identity, plan: list[tuple[str, TrainConfig]], *, root: Path | str | None = None,
                   env: Mapping[str, str] = os.environ) -> list[RunDir]:
    """``experiments.sweep.queue`` for ``identity``: every run within its limits, and all of
    them counted against its runs at once (refused whole, nothing queued)."""
    for _, cfg in plan:
        check_limits(identity, cfg, env)
    root = Path(root or checkpoints_root()).resolve()
    with _count_lock(root):
        _check_run_count(identity, root, env, adding=len(plan))
        return sweep.queue(plan, root, created_by=identity.id)


def stop_as(identity: Identity, name: str, *, root: Path | str | None = None, **stop_args: Any) -> str:
    run = RunDir.open(name, Path(root or checkpoints_root()))
    check(identity, run_owner(run), name, "stop")
    return jobs.stop(name, root=run.path.parent, **stop_args)


def cancel_as(identity: Identity, name: str, *, root: Path | str | None = None) -> str:
    run = RunDir.open(name, Path(root or checkpoints_root()))
    check(identity, run_owner(run), name, "cancel")
    return jobs.cancel(name, root=run.path.parent)


def resume_as(identity: Identity, name: str, *, root: Path | str | None = None,
              env: Mapping[str, str] = os.environ) -> RunDir:
    """Resuming queues the run again, so it counts against the person's run limit, and its
    config is held to today's limits."""
    root = Path(root or checkpoints_root()).resolve()
    run = RunDir.open(name, root)
    check(identity, run_owner(run), name, "resume")
    check_limits(identity, run.config(), env)
    with _count_lock(root):
        _check_run_count(identity, root, env)
        return jobs.resume(name, root=root)


def record_run_owner(run: RunDir, identity: Identity) -> None:
    """For runs made without a launch (an imported checkpoint): no trainer writes their status."""
    run.write_status(created_by=identity.id)


def record_dataset_owner(name: str, identity: Identity, root: Path | None = None) -> None:
    """Write ``created_by`` into the import report of a set the studio just made."""
    path = Path(root or data_root()) / name / REPORT_FILE
    report = read_json(path)
    if report is None:
        raise DatasetError(f"{name} has no readable {REPORT_FILE}; it was not imported by the studio")
    atomic_write_json(path, {**report, "created_by": identity.id})


def delete_dataset_as(identity: Identity, name: str, root: Path | None = None) -> None:
    check(identity, dataset_owner(name, root), name, "delete", "data set")
    delete_dataset(name, root)


def restore_dataset_as(identity: Identity, name: str, entry: Path, root: Path | None = None) -> Path:
    """Bring a trashed set back: its creator (recorded in the report that travelled with it)
    or an operator only."""
    report = read_json(Path(entry) / REPORT_FILE) or {}
    owner = report.get("created_by") if isinstance(report.get("created_by"), str) else None
    check(identity, owner or None, name, "restore", "data set")
    return restore_dataset(name, root, entry=entry)


# ---- augmentation labs ----------------------------------------------------------------------
def lab_refusal(identity: Identity) -> str | None:
    """Why ``identity`` may not launch or stop a lab. A lab trains a GAN per K and many
    classifiers back to back, outside the per-person run count and budget limits, so on a
    shared studio it is an operator's action (a loopback studio's visitor is the operator)."""
    if identity.operator:
        return None
    return ("an augmentation lab trains several GANs outside the per-person limits, so only an operator can "
            "launch or stop one (the operator token, or an identity in GAN_STUDIO_OPERATORS)")


def launch_lab_as(identity: Identity, spec: Any, root: Path | None = None):
    why = lab_refusal(identity)
    if why:
        raise AccessError(f"you ({identity.id}) cannot launch lab {spec.name}: {why}")
    return background.launch_lab(spec, root=root)


def stop_lab_as(identity: Identity, name: str, root: Path | None = None):
    why = lab_refusal(identity)
    if why:
        raise AccessError(f"you ({identity.id}) cannot stop lab {name}: {why}")
    return background.stop_lab(name, root=root)
