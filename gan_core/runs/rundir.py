"""Run folders: one directory per run, readable by people and by the app while it grows.

Layout of ``$GAN_CHECKPOINTS/<name>/`` (default ``./checkpoints``)::

    config.yaml            the validated TrainConfig
    status.json            state, pid, step, error ... (written atomically)
    metrics.jsonl          one JSON record per line, append-only
    log.txt                the trainer's stdout/stderr
    samples/step_000500.png        fixed-noise grids through training (thinned past GAN_SAMPLE_KEEP)
    trainer.lock, .status.lock     flock files: the live trainer's, and status.json's (runs/locks.py)
    weights/step_000001000.safetensors + .json   checkpoints (JSON written last = commit)

Every file a reader may see half-written is either appended whole lines (metrics) or
replaced atomically (everything else), so a crash never leaves a broken latest file.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from gan_core.config import NAME_PATTERN, ConfigError, TrainConfig
from gan_core.runs.locks import status_lock, trainer_lock_held
from gan_core.runs.retention import grids_to_keep, sample_keep, sample_keep_recent

CHECKPOINT_FORMAT = "gan-studio/1"
_STEP_FILE = re.compile(r"^step_(\d{9})\.(safetensors|json|png)$")


class RunError(Exception):
    """A run that cannot be created, found or read; the message says which and why."""


class CheckpointError(RunError):
    """A checkpoint that cannot be written or read."""


def checkpoints_root() -> Path:
    return Path(os.environ.get("GAN_CHECKPOINTS", "checkpoints"))


def validate_name(name: str, what: str = "run name") -> str:
    """Names become folder names: letters, digits, '.', '_', '=', '-' only, so none escapes its root."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or name in (".", ".."):
        raise RunError(f"invalid {what} {name!r}: use 1-64 letters, digits, '.', '_', '=' or '-', starting with a letter or digit")
    return name


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=2, default=str) + "\n").encode())


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


@dataclass
class Checkpoint:
    step: int
    weights: Path
    meta: dict[str, Any]


class RunDir:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.name = self.path.name

    # ---- paths -------------------------------------------------------------------
    config_path = property(lambda self: self.path / "config.yaml")
    status_path = property(lambda self: self.path / "status.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    log_path = property(lambda self: self.path / "log.txt")
    samples_dir = property(lambda self: self.path / "samples")
    weights_dir = property(lambda self: self.path / "weights")
    stop_path = property(lambda self: self.path / "STOP")

    # ---- creation ------------------------------------------------------------------
    @classmethod
    def create(cls, name: str, cfg: TrainConfig, root: Path | None = None) -> "RunDir":
        """Make a new run folder. Exactly one caller wins a name: ``mkdir`` is atomic."""
        root = Path(root or checkpoints_root())
        root.mkdir(parents=True, exist_ok=True)
        path = root / validate_name(name)
        try:
            path.mkdir()
        except FileExistsError:
            raise RunError(f"a run named {name!r} already exists in {root}; pick another name or resume it") from None
        run = cls(path)
        run.samples_dir.mkdir()
        run.weights_dir.mkdir()
        atomic_write_bytes(run.config_path, _config_yaml(cfg))
        run.write_status(state="created", created=time.time(), host=socket.gethostname())
        return run

    @classmethod
    def open(cls, name: str, root: Path | None = None) -> "RunDir":
        path = Path(root or checkpoints_root()) / validate_name(name)
        if not (path / "config.yaml").is_file():
            raise RunError(f"no run named {name!r} in {path.parent}")
        return cls(path)

    @staticmethod
    def unique_name(base: str, root: Path | None = None) -> str:
        root = Path(root or checkpoints_root())
        base = validate_name(base)
        if not (root / base).exists():
            return base
        i = 2
        while (root / f"{base}-{i}").exists():
            i += 1
        return f"{base}-{i}"

    # ---- config and status -----------------------------------------------------------
    def config(self) -> TrainConfig:
        try:
            return TrainConfig.load(self.config_path)
        except ConfigError as exc:
            raise RunError(f"run {self.name}: {exc}") from None

    def write_config(self, cfg: TrainConfig) -> None:
        atomic_write_bytes(self.config_path, _config_yaml(cfg))

    def read_status(self) -> dict[str, Any]:
        return read_json(self.status_path) or {}

    def write_status(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into status.json (atomically, under the status lock) and return the new status."""
        with self.status_lock():
            status = {**self.read_status(), **fields, "updated": time.time()}
            atomic_write_json(self.status_path, status)
        return status

    def status_lock(self):
        """Hold across a read, a decision and a write of status.json (see runs.locks)."""
        return status_lock(self.path)

    def trainer_alive(self) -> bool:
        """Does a live process hold this run's trainer lock?"""
        return trainer_lock_held(self.path)

    # ---- metrics -----------------------------------------------------------------------
    def append_metrics(self, record: dict[str, Any]) -> None:
        """One whole line per record in a single write: readers never see half a record."""
        line = json.dumps(record, separators=(",", ":"), default=float) + "\n"
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()

    def read_metrics(self) -> list[dict[str, Any]]:
        return list(iter_metrics(self.metrics_path))

    def truncate_metrics_after(self, step: int) -> None:
        """On resume from ``step``, drop records a crashed trainer wrote past it."""
        if not self.metrics_path.exists():
            return
        kept = [r for r in iter_metrics(self.metrics_path) if r.get("step", 0) <= step]
        atomic_write_bytes(self.metrics_path, "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in kept).encode())

    # ---- samples -------------------------------------------------------------------------
    def sample_path(self, step: int) -> Path:
        return self.samples_dir / f"step_{step:09d}.png"

    def sample_grids(self) -> list[tuple[int, Path]]:
        return _step_files(self.samples_dir, "png")

    def thin_samples(self) -> int:
        """Delete grids past the retention limit (runs/retention.py); returns how many."""
        grids = self.sample_grids()
        keep = grids_to_keep([s for s, _ in grids], sample_keep(), sample_keep_recent())
        gone = [p for s, p in grids if s not in keep]
        for p in gone:
            p.unlink(missing_ok=True)
        return len(gone)

    # ---- checkpoints ---------------------------------------------------------------------
    def save_checkpoint(self, step: int, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Checkpoint:
        """Weights first, then the JSON that commits them. A failed write leaves the old ones intact."""
        weights = self.weights_dir / f"step_{step:09d}.safetensors"
        meta = {**meta, "format": CHECKPOINT_FORMAT, "step": step, "created": time.time()}
        try:
            blob = st_save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata={"gan_studio": json.dumps(meta, default=str)})
            atomic_write_bytes(weights, blob)
            meta["bytes"] = len(blob)
            atomic_write_json(weights.with_suffix(".json"), meta)
        except OSError as exc:
            if read_json(weights.with_suffix(".json")) is None:  # weights written, never committed
                weights.unlink(missing_ok=True)
            raise CheckpointError(f"could not write checkpoint at step {step} in {self.weights_dir}: {exc.strerror or exc}") from exc
        return Checkpoint(step, weights, meta)

    def checkpoints(self) -> list[Checkpoint]:
        """Committed checkpoints, oldest first (a weights file without its JSON is ignored)."""
        found = []
        for step, json_path in _step_files(self.weights_dir, "json"):
            meta = read_json(json_path)
            weights = json_path.with_suffix(".safetensors")
            if meta is None or not weights.exists() or weights.stat().st_size != meta.get("bytes"):
                continue
            found.append(Checkpoint(step, weights, meta))
        return found

    def latest_checkpoint(self) -> Checkpoint | None:
        found = self.checkpoints()
        return found[-1] if found else None

    def best_checkpoint(self) -> Checkpoint | None:
        marked = [c for c in self.checkpoints() if c.meta.get("best")]
        return marked[-1] if marked else None

    def mark_best(self, step: int, tensors: dict[str, torch.Tensor], meta: dict[str, Any], best: dict[str, Any]) -> Checkpoint:
        """Save the checkpoint of ``step`` marked best (``meta`` says so), take the mark off the
        earlier best, and record ``best`` (step, score, feature space) in status.json."""
        ckpt = self.save_checkpoint(step, tensors, meta)
        for c in self.checkpoints():
            if c.meta.get("best") and c.step != step:
                sidecar = c.weights.with_suffix(".json")
                old = read_json(sidecar)
                if old is not None:
                    atomic_write_json(sidecar, {**old, "best": False})
        self.write_status(best=best)
        return ckpt

    def prune_checkpoints(self, keep: int = 3) -> None:
        """Keep the newest ``keep`` and any marked best; delete the rest."""
        found = self.checkpoints()
        for c in found[:-keep] if keep else found:
            if not c.meta.get("best"):
                c.weights.with_suffix(".json").unlink(missing_ok=True)
                c.weights.unlink(missing_ok=True)

    def log(self, message: str) -> None:
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {message}\n")

    def delete(self) -> None:
        shutil.rmtree(self.path)


def load_checkpoint_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint's tensors and metadata. Never unpickles: safetensors, or a
    ``.pt``/``.pth`` through ``torch.load(weights_only=True)``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    if path.suffix in (".pt", ".pth", ".ckpt"):
        return _load_torch_weights(path)
    try:
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
    except (SafetensorError, ValueError, OSError) as exc:
        raise CheckpointError(f"{path.name} is not a readable safetensors checkpoint ({exc}); it may be truncated or not a checkpoint") from None
    try:
        meta_text = (header.get("__metadata__") or {}).get("gan_studio")
        meta = json.loads(meta_text) if meta_text else {}
    except (AttributeError, TypeError, ValueError):
        meta = None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path.name}: its GAN Studio metadata is not a JSON object; refused")
    sidecar = read_json(path.with_suffix(".json"))
    return tensors, {**meta, **(sidecar if isinstance(sidecar, dict) else {})}


def _load_torch_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    import pickle

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, EOFError, ValueError) as exc:
        raise CheckpointError(
            f"{path.name} needs more than plain weights to load (refused: loading it could run code). "
            f"Only tensors are accepted from .pt/.pth files. Detail: {str(exc).splitlines()[0][:200]}"
        ) from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        meta = {k: v for k, v in obj.items() if k != "state_dict" and isinstance(v, (str, int, float, dict, list))}
        obj = obj["state_dict"]
    else:
        meta = {}
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path.name} holds no state dict of tensors")
    return dict(obj), meta


def iter_metrics(path: Path) -> Iterator[dict[str, Any]]:
    """Complete records only: a torn last line (writer mid-append) or junk line is skipped."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return
    for raw in data.split(b"\n")[:-1]:  # the part after the last newline is incomplete
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict):
            yield record


def list_runs(root: Path | None = None) -> list[RunDir]:
    root = Path(root or checkpoints_root())
    if not root.is_dir():
        return []
    runs = [RunDir(p) for p in root.iterdir() if p.is_dir() and (p / "config.yaml").is_file()]
    return sorted(runs, key=lambda r: r.read_status().get("created", 0), reverse=True)


def _step_files(folder: Path, suffix: str) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    out = []
    for p in folder.iterdir():
        m = _STEP_FILE.match(p.name)
        if m and m.group(2) == suffix:
            out.append((int(m.group(1)), p))
    return sorted(out)


def _config_yaml(cfg: TrainConfig) -> bytes:
    import yaml

    return yaml.safe_dump(cfg.to_dict(), sort_keys=False).encode()


def say(run: RunDir | None, message: str) -> None:
    """Print a log line; also append it to the run's log unless stdout already is that log."""
    print(message, flush=True)
    if run is not None and os.environ.get("GAN_STUDIO_STDOUT_IS_LOG") != "1":
        run.log(message)
