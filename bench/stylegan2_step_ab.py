"""StyleGAN2 training step: this tree's model code against the model file at another git
revision, in one process.

The speed of this 2-core machine drifts by 10-20% between runs (the same code measured 97 and
137 images/s within the hour), more than most code changes buy. So both trainers live in one
process, with the same preset, data and seeds, and alternate rounds of 16 steps (each round
holds one lazy R1 step); the ratio of their median step times is the result.

    python bench/stylegan2_step_ab.py --against REV [--rounds 20] [--threads 1]

The older ``gan_core/models/stylegan2.py`` is read with ``git show REV:...`` and registered as a
second run type; everything else (trainer, ADA, loss) is this tree's. Writes
``bench/results/stylegan2_step_ab.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import types
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import torch  # noqa: E402

from gan_core.config import PRESETS, TrainConfig  # noqa: E402
from gan_core.runs.rundir import RunDir  # noqa: E402
from gan_core.runtypes import registry  # noqa: E402
from gan_core.runtypes.image import ImageTask  # noqa: E402
from gan_core.training.trainer import Trainer  # noqa: E402
from train_speed import timed  # noqa: E402

MODEL_FILE = "gan_core/models/stylegan2.py"


def model_at(rev: str) -> types.ModuleType:
    """The StyleGAN2 model file as it was at ``rev``, as a module of its own (it imports only torch)."""
    source = subprocess.run(["git", "show", f"{rev}:{MODEL_FILE}"], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout
    module = types.ModuleType(f"stylegan2_at_{rev}")
    exec(compile(source, f"{rev}:{MODEL_FILE}", "exec"), module.__dict__)
    return module


def register_old(rev: str) -> str:
    """A run type ``stylegan2-<rev>``: the stylegan2 run type with the networks from ``rev``."""
    build = model_at(rev).build_stylegan2
    name = f"stylegan2-{rev[:12]}"
    registry.register(dataclasses.replace(
        registry.get("stylegan2"), name=name, task=partial(ImageTask, networks=build),
        build_generator=lambda cfg, k: build(cfg, k)[0], build_discriminator=lambda cfg, k: build(cfg, k)[1]))
    return name


def trainer(model: str, root: Path) -> Trainer:
    cfg = TrainConfig.from_dict(dict(PRESETS["emoji"], model=model, data="shapes", device="cpu", log_every=50,
                                     steps=10**6, eval_every=0))
    return Trainer(RunDir.create(model, cfg, root), cfg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="git revision whose model file is the baseline")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (the emoji bench trains with 1 each)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "stylegan2_step_ab.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rev = subprocess.run(["git", "rev-parse", args.against], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        trainers = {"this tree": trainer("stylegan2", Path(tmp)), rev[:12]: trainer(register_old(rev), Path(tmp))}
        for t in trainers.values():  # warm-up: oneDNN's kernel choice, the allocator
            timed(t.train_step, 16, t.device)
        times: dict[str, list[float]] = {k: [] for k in trainers}
        for r in range(args.rounds):
            for name in (list(trainers) if r % 2 == 0 else list(reversed(trainers))):
                times[name].append(timed(trainers[name].train_step, 16, trainers[name].device))
    batch = PRESETS["emoji"]["batch_size"]
    result = {"against": rev, "rounds": args.rounds, "steps_per_round": 16, "threads": args.threads,
              "images_per_s": {k: round(batch / statistics.median(v), 1) for k, v in times.items()},
              "speedup": round(statistics.median(times[rev[:12]]) / statistics.median(times["this tree"]), 3)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
