"""Augmentation lab: does synthetic data from a GAN help a classifier trained on K images per class?

For each K the lab (1) draws K real images per class from the training split
(``gan_core.data.subsets``: seeded, nested over K, written as a hashed manifest; the rest of
the split is never read for training and the test split is never drawn from), (2) trains
a class-conditional GAN on exactly that manifest through the ordinary trainer
(``python -m gan_core train --data <lab>/subsets/k10.subset.json --conditional ...``, with
the small-data augmentation: DiffAugment by default, a lab option), then checks from the
GAN run's own ``config.yaml`` and checkpoint that it trained on that manifest and nothing
more, (3) samples M images per class from it, and (4) trains the same small CNN
(``gan_core.auglab.classifier``) on real only, real + M synthetic, and M synthetic only,
several seeds each, scoring accuracy on the whole held-out test split.

Lab folder ``$GAN_CHECKPOINTS/<name>/`` (beside the runs; it has no ``config.yaml``, so run
listings skip it; its GANs are ordinary runs ``<name>-gan-k<K>``)::

    lab.json                      the spec, with "kind": "augment-lab"
    status.json                   state, pid, progress (steps done / total, current step)
    log.txt                       progress lines (the GAN trainer's output is relayed there)
    subsets/k10.subset.json       the K-per-class draw (indices, labels, sha256)
    synthetic/k10.safetensors     M_max synthetic images per class (uint8) + labels
    steps/<step>.json             one finished step each, written atomically: a resumed lab
                                  skips every step whose file exists
    results.json, table.md, chart.png   the summary (``gan_core.auglab.report``)

What is *not* varied: one K-draw and one GAN per K (the spread over seeds is the
classifiers' alone); the same synthetic images for every classifier seed.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any, Callable

import torch

from gan_core.auglab.classifier import ClassifierBudget, flips_preserve_class, run_arm
from gan_core.auglab.report import summarise, write_report
from gan_core.auglab.synthetic import read_synthetic, write_synthetic
from gan_core.config import PRESETS, TrainConfig
from gan_core.data import DatasetError, load_dataset
from gan_core.data.subsets import SubsetError, is_subset_spec, make_subset, read_manifest, write_manifest
from gan_core.runs.provenance import check_gan_data, real_images_seen
from gan_core.runs.rundir import RunDir, RunError, atomic_write_json, checkpoints_root, read_json, validate_name

KIND = "augment-lab"
LAB_FILE = "lab.json"
DEFAULT_AUGMENT = "color,translation,cutout"  # DiffAugment; `ada` once the trainer has it
MAX_NAME = 52  # leaves room for "-gan-k1000" in the GAN run's name (64 at most)


class LabError(RunError):
    """A lab that cannot be created, resumed or run as asked; the message says why."""


@dataclass
class LabSpec:
    name: str
    data: str
    per_class: list[int]
    seeds: int = 3
    synthetic_per_class: list[int] = field(default_factory=lambda: [500])
    resolution: int = 32
    channels: int = 1
    draw_seed: int = 0
    gan_steps: int | None = None
    gan_minutes: float | None = 3.0
    gan_augment: str = DEFAULT_AUGMENT
    gan_args: list[str] = field(default_factory=list)  # extra `train` flags, e.g. ["--width", "16"]
    reuse_run: str | None = None
    force_reuse: bool = False  # reuse a run that saw more than K per class (flagged unfair)
    classifier: dict[str, Any] = field(default_factory=lambda: ClassifierBudget().to_dict())
    threads: int = 1
    kind: str = KIND
    version: int = 1

    def validate(self) -> "LabSpec":
        validate_name(self.name, "lab name")
        if len(self.name) > MAX_NAME:
            raise LabError(f"lab name {self.name!r} is longer than {MAX_NAME} characters")
        if not self.per_class or any(not isinstance(k, int) or not 1 <= k <= 100_000 for k in self.per_class):
            raise LabError(f"--per-class must be whole numbers from 1 to 100000, got {self.per_class}")
        if not self.synthetic_per_class or any(not isinstance(m, int) or not 1 <= m <= 100_000 for m in self.synthetic_per_class):
            raise LabError(f"--synthetic-per-class must be whole numbers from 1 to 100000, got {self.synthetic_per_class}")
        if not isinstance(self.seeds, int) or not 1 <= self.seeds <= 50:
            raise LabError(f"--seeds must be from 1 to 50, got {self.seeds}")
        if (self.gan_steps is None) == (self.gan_minutes is None) and self.reuse_run is None:
            raise LabError("give exactly one GAN budget: --gan-steps or --gan-minutes")
        if is_subset_spec(self.data):
            raise LabError("--data must be the full data set; the lab draws the subsets itself")
        budget = ClassifierBudget(**self.classifier)
        if not 1 <= budget.steps <= 1_000_000 or not 2 <= budget.batch_size <= 4096:
            raise LabError("classifier steps must be 1..1000000 and its batch 2..4096")
        self.per_class = sorted(set(self.per_class))
        self.synthetic_per_class = sorted(set(self.synthetic_per_class))
        return self

    def arms(self) -> list[tuple[str, int]]:
        """(arm, M): real only, then real + M and synthetic only for every M."""
        return [("real", 0)] + [("real+syn", m) for m in self.synthetic_per_class] + [("syn", m) for m in self.synthetic_per_class]


class Lab:
    """A lab folder: spec, status, step results."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.name = self.path.name

    @classmethod
    def create(cls, spec: LabSpec, root: Path | None = None) -> "Lab":
        spec.validate()
        root = Path(root or checkpoints_root()).resolve()
        root.mkdir(parents=True, exist_ok=True)
        path = root / spec.name
        try:
            path.mkdir()
        except FileExistsError:
            raise LabError(f"{path} already exists; pick another --name"
                           + (f", or resume the lab with --resume {spec.name}" if (path / LAB_FILE).is_file() else "")) from None
        for sub in ("subsets", "synthetic", "steps"):
            (path / sub).mkdir()
        lab = cls(path)
        atomic_write_json(path / LAB_FILE, {**asdict(spec), "created": time.time()})
        lab.write_status(state="created", created=time.time())
        return lab

    @classmethod
    def open(cls, name: str, root: Path | None = None) -> "Lab":
        path = Path(root or checkpoints_root()).resolve() / validate_name(name, "lab name")
        info = read_json(path / LAB_FILE)
        if not info or info.get("kind") != KIND:
            raise LabError(f"no augmentation lab named {name!r} in {path.parent}")
        return cls(path)

    def spec(self) -> LabSpec:
        raw = read_json(self.path / LAB_FILE) or {}
        raw.pop("created", None)
        try:
            return LabSpec(**raw).validate()
        except TypeError as exc:
            raise LabError(f"{self.path / LAB_FILE} is not a lab spec this version reads ({exc})") from None

    def status(self) -> dict[str, Any]:
        return read_json(self.path / "status.json") or {}

    def write_status(self, **fields: Any) -> dict[str, Any]:
        status = {**self.status(), **fields, "updated": time.time()}
        atomic_write_json(self.path / "status.json", status)
        return status

    def step_path(self, step: str) -> Path:
        return self.path / "steps" / f"{step}.json"

    def result(self, step: str) -> dict[str, Any] | None:
        return read_json(self.step_path(step))

    def manifest_path(self, k: int) -> Path:
        return self.path / "subsets" / f"k{k}.subset.json"

    def synthetic_path(self, k: int) -> Path:
        return self.path / "synthetic" / f"k{k}.safetensors"

    def gan_name(self, k: int) -> str:
        return f"{self.name}-gan-k{k}"


def list_labs(root: Path | None = None) -> list[Lab]:
    """Lab folders under the checkpoints root, newest first."""
    root = Path(root or checkpoints_root())
    if not root.is_dir():
        return []
    labs = [Lab(p) for p in root.iterdir() if p.is_dir() and (read_json(p / LAB_FILE) or {}).get("kind") == KIND]
    return sorted(labs, key=lambda lab: (read_json(lab.path / LAB_FILE) or {}).get("created", 0), reverse=True)


def lab_summary(lab: Lab) -> dict[str, Any]:
    """The table's data from the finished steps (also of an unfinished lab)."""
    spec = lab.spec()
    results = [r for r in (lab.result(s) for s in plan(spec) if s.startswith("clf-")) if r is not None]
    return summarise(lab.name, spec, results, {k: lab.result(f"gan-k{k}") for k in spec.per_class})


def plan(spec: LabSpec) -> list[str]:
    """Every step of a lab in the order it runs (names of ``steps/<name>.json``)."""
    steps = []
    for k in spec.per_class:
        steps += [f"draw-k{k}", f"gan-k{k}", f"synthetic-k{k}"]
        steps += [f"clf-k{k}-{arm}{m or ''}-s{s}" for arm, m in spec.arms() for s in range(spec.seeds)]
    return steps


# ---- running -------------------------------------------------------------------------------
class Stopped(Exception):
    """A stop was asked for (SIGTERM or a STOP file); the lab resumes from the next step."""


def run_lab(lab: Lab, log: Callable[[str], None] = print) -> str:
    """Run every unfinished step of ``lab`` in order; returns the final state."""
    spec = lab.spec()
    steps = plan(spec)
    torch.set_num_threads(spec.threads)
    lab.stop_child = None
    previous = signal.signal(signal.SIGTERM, lambda *_: _request_stop(lab))  # before "running": stop_lab signals then
    lab.write_status(state="running", pid=os.getpid(), steps_total=len(steps), error=None, started=time.time())
    try:
        real, test = None, None
        for i, step in enumerate(steps, 1):
            if (lab.path / "STOP").exists():
                raise Stopped()
            done = lab.result(step)
            if done is not None:
                continue
            lab.write_status(steps_done=i - 1, current=step)
            log(f"[{i}/{len(steps)}] {step} ...")
            start = time.perf_counter()
            k = int(step.split("-k")[1].split("-")[0])
            if step.startswith("draw-"):
                result = _draw(lab, spec, k)
            elif step.startswith("gan-"):
                result = _gan(lab, spec, k, log)
            elif step.startswith("synthetic-"):
                result = _synthesise(lab, spec, k)
            else:
                if real is None or real[0] != k:
                    real = (k, load_dataset(str(lab.manifest_path(k)), spec.resolution, spec.channels, "train"))
                if test is None:
                    test = load_dataset(spec.data, spec.resolution, spec.channels, "test")
                result = _classify(lab, spec, step, real[1], test)
            result.update(step=step, seconds=round(time.perf_counter() - start, 1))
            atomic_write_json(lab.step_path(step), result)
            log(f"[{i}/{len(steps)}] {step} done in {result['seconds']:.0f}s" + _summary(result))
        write_report(lab.path, lab_summary(lab))
        lab.write_status(state="finished", steps_done=len(steps), current=None, ended=time.time())
        log(f"lab {lab.name} finished: {lab.path / 'table.md'}")
        return "finished"
    except Stopped:
        lab.write_status(state="stopped", current=None, ended=time.time())
        (lab.path / "STOP").unlink(missing_ok=True)
        log(f"lab {lab.name} stopped; continue with `python -m gan_core augment-lab --resume {lab.name}`")
        return "stopped"
    except KeyboardInterrupt:  # Ctrl-C in a shell: the GAN child got it too and checkpointed
        lab.write_status(state="stopped", current=None, ended=time.time())
        log(f"lab {lab.name} interrupted; continue with `python -m gan_core augment-lab --resume {lab.name}`")
        return "stopped"
    except (LabError, DatasetError, SubsetError, RunError, ValueError, OSError) as exc:
        lab.write_status(state="failed", error=str(exc), ended=time.time())
        log(f"error: {exc}")
        return "failed"
    except Exception as exc:  # noqa: BLE001 - a bug or a torch error: the folder still says how it ended
        lab.write_status(state="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()[-4000:],
                         ended=time.time())
        log(f"failed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        return "failed"
    finally:
        signal.signal(signal.SIGTERM, previous)


def _request_stop(lab: Lab) -> None:
    """SIGTERM: finish the current step (a GAN checkpoints and exits first), then stop."""
    try:
        (lab.path / "STOP").touch()
    except OSError:  # the folder is gone: nothing left to record, let the step end as it will
        pass
    child = getattr(lab, "stop_child", None)
    if child is not None and child.poll() is None:
        child.send_signal(signal.SIGTERM)  # the trainer checkpoints and exits "stopped"


def _summary(result: dict[str, Any]) -> str:
    if "accuracy" in result:
        return f": test accuracy {result['accuracy']:.4f} ({result['n_train']} training images)"
    if "sha256" in result and "per_class" in result:
        return f": {result['total']} images, sha256 {result['sha256'][:12]}"
    if "run" in result:
        return f": run {result['run']} saw {result['seen_total']} real images ({result['seen_max_per_class']} per class at most)"
    return ""


MAX_SYNTHETIC = 200_000  # images per K (M x classes): 200k at 32 px RGB is 600 MB of uint8


def preflight(spec: LabSpec) -> None:
    """Refuse, before any folder is made, a lab that cannot run: an unlabelled set, a class
    with fewer than K training images, more synthetic images than memory allows, or --gan-args
    that would spoil the GAN."""
    problems = gan_args_problems(spec.gan_args)
    if problems:
        raise LabError("--gan-args: " + "; ".join(problems))
    train = load_dataset(spec.data, spec.resolution, spec.channels, "train")
    if train.labels is None or len(train.classes) < 2:
        raise LabError(f"{spec.data} has no class labels: the lab needs a labelled set (class subfolders)")
    counts = torch.bincount(train.labels, minlength=len(train.classes))
    if int(counts.min()) < max(spec.per_class):
        small = train.classes[int(counts.argmin())]
        raise LabError(f"class {small!r} of {spec.data} has {int(counts.min())} training images, "
                       f"fewer than K={max(spec.per_class)}")
    if max(spec.synthetic_per_class) * len(train.classes) > MAX_SYNTHETIC:
        raise LabError(f"M={max(spec.synthetic_per_class)} per class x {len(train.classes)} classes is more than "
                       f"{MAX_SYNTHETIC} synthetic images")


# `train` flags the lab sets itself: given in --gan-args they made the GAN unusable, found only after
# it trained (measured: --gan-args "--resolution 16" trained, then "makes 16px/3ch images; the lab
# uses 32px/3ch"; --data trained on the whole set, then "not fair").
LAB_FLAGS = ("data", "resolution", "channels", "conditional", "no_conditional", "name", "resume")
TRAIN_ONLY_FLAGS = ("lr", "config")  # `train` flags that are not config fields


def gan_args_problems(args: list[str]) -> list[str]:
    """What is wrong with --gan-args, checked before any folder is made or GAN trained."""
    known = {f.name for f in dataclass_fields(TrainConfig)} | set(TRAIN_ONLY_FLAGS)
    problems = []
    for token in args:
        if not token.startswith("--"):
            continue
        flag = token[2:].split("=", 1)[0].replace("-", "_")
        if flag in LAB_FLAGS:
            problems.append(f"--{flag.replace('_', '-')} is set by the lab itself (use the lab's own option)")
        elif flag not in known and flag.removeprefix("no_") not in known:
            problems.append(f"--{flag.replace('_', '-')} is not a `train` flag")
    return problems


def _draw(lab: Lab, spec: LabSpec, k: int) -> dict[str, Any]:
    train = load_dataset(spec.data, spec.resolution, spec.channels, "train")
    preflight(spec)
    sub = make_subset(spec.data, train.labels.numpy(), train.classes, k, spec.draw_seed)
    write_manifest(sub, lab.manifest_path(k))
    return {"manifest": str(lab.manifest_path(k)), "sha256": sub.sha256, "per_class": sub.counts(),
            "total": len(sub.indices), "draw_seed": spec.draw_seed, "train_split_size": len(train)}


def _gan(lab: Lab, spec: LabSpec, k: int, log: Callable[[str], None]) -> dict[str, Any]:
    sub = read_manifest(lab.manifest_path(k))
    if sub.sha256 != (lab.result(f"draw-k{k}") or {}).get("sha256"):
        raise LabError(f"{lab.manifest_path(k)} changed since it was drawn")
    root = lab.path.parent
    name = spec.reuse_run or lab.gan_name(k)
    if spec.reuse_run is None:
        _train_gan(lab, spec, k, name, log)
    seen = real_images_seen(name, root)
    problems = check_gan_data(seen, sub, k)
    if spec.reuse_run is None and seen["subset"] != str(lab.manifest_path(k)):
        problems.append(f"it trained on {seen['subset'] or seen['source']}, not on this lab's manifest")
    if problems and not (spec.reuse_run and spec.force_reuse):
        raise LabError(f"GAN run {name} is not fair for K={k}: " + "; ".join(problems))
    for p in problems:
        log(f"WARNING: GAN run {name} for K={k}: {p} (--force-reuse: the comparison is flagged unfair)")
    ckpt = RunDir.open(name, root).latest_checkpoint()
    return {"run": name, "reused": spec.reuse_run is not None, "checkpoint_step": ckpt.step if ckpt else None,
            "seen_total": seen["total"], "seen_per_class": seen["per_class"],
            "seen_max_per_class": max(seen["per_class"].values()), "seen_subset": seen["subset"],
            "seen_sha256": seen["sha256"], "fair": not problems, "problems": problems}


def _train_gan(lab: Lab, spec: LabSpec, k: int, name: str, log: Callable[[str], None]) -> None:
    """``python -m gan_core train`` on the K-draw, in a child process; a half-trained run
    from an interrupted lab is resumed instead of started over."""
    root = lab.path.parent
    try:
        existing = RunDir.open(name, root)
    except RunError:
        existing = None
    if existing is not None and existing.read_status().get("state") == "finished":
        return
    if existing is not None:
        cmd = ["train", "--resume", name]
    else:
        cmd = ["train", "--name", name, "--data", str(lab.manifest_path(k)), "--resolution", str(spec.resolution),
               "--channels", str(spec.channels), "--conditional", "--augment", spec.gan_augment.replace("none", ""),
               "--eval-every", "0", "--threads", str(spec.threads), "--seed", "0"]
        if spec.data in PRESETS:
            cmd += ["--preset", spec.data]
        cmd += ["--steps", str(spec.gan_steps)] if spec.gan_steps else ["--minutes", str(spec.gan_minutes)]
        cmd += list(spec.gan_args)
    env = child_env(root)
    env.pop("GAN_STUDIO_STDOUT_IS_LOG", None)
    proc = subprocess.Popen([sys.executable, "-m", "gan_core", *cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, text=True)
    lab.stop_child = proc
    for line in proc.stdout:
        log(f"  [gan k={k}] {line.rstrip()}")
    rc = proc.wait()
    lab.stop_child = None
    state = RunDir.open(name, root).read_status().get("state") if (root / name).is_dir() else None
    if state == "stopped" or (lab.path / "STOP").exists():
        raise Stopped()
    if rc != 0 or state != "finished":
        raise LabError(f"training the GAN for K={k} ended {state or 'before its run folder was made'} (exit {rc}); "
                       f"see {root / name / 'log.txt'} and the lab's log")


def child_env(checkpoints: Path) -> dict[str, str]:
    """Environment of a ``python -m gan_core`` child: runs under ``checkpoints``, output
    unbuffered (it is relayed line by line), and this copy of ``gan_core`` importable first."""
    package_parent = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "GAN_CHECKPOINTS": str(checkpoints), "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))}


def _synthesise(lab: Lab, spec: LabSpec, k: int) -> dict[str, Any]:
    gan = lab.result(f"gan-k{k}")
    return write_synthetic(gan["run"], lab.path.parent, lab.synthetic_path(k), max(spec.synthetic_per_class),
                           spec.resolution, spec.channels)


def synthetic_set(lab: Lab, k: int, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``m`` synthetic images of each class for K = ``k``, in [-1, 1]."""
    return read_synthetic(lab.synthetic_path(k), m)


def _classify(lab: Lab, spec: LabSpec, step: str, real, test) -> dict[str, Any]:
    _, kpart, arm_m, spart = step.split("-", 3)
    k, seed = int(kpart[1:]), int(spart[1:])
    arm = arm_m.rstrip("0123456789")
    m = int(arm_m[len(arm):] or 0)
    if arm == "real":
        x, y = real.images, real.labels
    else:
        sx, sy = synthetic_set(lab, k, m)
        x, y = (torch.cat([real.images, sx]), torch.cat([real.labels, sy])) if arm == "real+syn" else (sx, sy)
    budget = ClassifierBudget(**{**spec.classifier, "flip": spec.classifier.get("flip", True) and flips_preserve_class(spec.data)})
    result = run_arm(x, y, test.images, test.labels, len(real.classes), seed, budget)
    return {**result, "k": k, "arm": arm, "m": m, "fair": (lab.result(f"gan-k{k}") or {}).get("fair", True) if arm != "real" else True}
