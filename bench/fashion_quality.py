"""Ten minutes of Fashion-MNIST: the studio's default preset beside the classic DCGAN recipe.

Both runs train for the same wall-clock budget, at the same time, one CPU thread each
(on a 2-core machine this gives each the same share, whatever else is running), through
the engine's own CLI. Then both are sampled and scored in the same feature space.

    python bench/fashion_quality.py [--minutes 10] [--out-dir bench/results]

Writes ``docs/fashion_studio.png``, ``docs/fashion_classic.png`` (and, for unconditional
runs, ``*_by_class.png``: samples sorted into columns by the offline classifier) and
``bench/results/fashion_quality.json`` / ``.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from gan_core.data.images import FASHION_CLASSES, load_dataset  # noqa: E402
from gan_core.runs.rundir import RunDir  # noqa: E402
from gan_core.inference.generators import generate, image_grid, load_generator  # noqa: E402

RUNS = {
    # name: extra flags on top of `train --data fashion-mnist`
    "studio": [],  # the default preset, nothing else
    "classic": ["--preset", "classic"],  # lr 2e-4, beta1 0.5, BCE, batch 64, width 64, BN, 32 px
}


def launch(name: str, flags: list[str], minutes: float, root: Path, data: str = "fashion-mnist") -> subprocess.Popen:
    """One training run through the CLI, one thread, in the background (emoji_quality reuses it)."""
    env = dict(os.environ, GAN_CHECKPOINTS=str(root), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "gan_core", "train", "--data", data, *flags, "--name", name,
           "--minutes", str(minutes), "--threads", "1", "--log-every", "100", "--sample-every", "1000",
           "--checkpoint-every", "5000", "--eval-every", "0"]
    log = open(root / f"{name}.out", "w")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def machine() -> str:
    """The CPU the runs trained on, from /proc/cpuinfo (the machines behind this bench change)."""
    name = platform.processor() or "CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()}-core {name}, runs at once"


def final_grid(loaded, path: Path) -> None:
    """Conditional: one column per class; unconditional: an 8x8 grid. Seeds 0.. in both."""
    if loaded.conditional:
        rows = 8
        labels = torch.arange(len(loaded.classes)).repeat(rows)
        images = generate(loaded, list(range(len(labels))), labels=labels)
        grid = image_grid(images, nrow=len(loaded.classes))
    else:
        images = generate(loaded, list(range(64)))
        grid = image_grid(images, nrow=8)
    grid.resize((grid.width * 2, grid.height * 2)).save(path)


def classified_samples(loaded, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples of seeds 0..n-1 and the offline classifier's class for each, made once for both
    the by-class grid and the class shares."""
    from gan_core.metrics.features import load_classifier

    classifier = load_classifier("fashion-mnist", 32, 1)
    images = torch.cat([generate(loaded, list(range(i, min(n, i + 500)))) for i in range(0, n, 500)])
    return images, classifier.predict(images, 500)


def by_class_grid(images: torch.Tensor, predicted: torch.Tensor, path: Path, per_class: int = 8) -> None:
    """An unconditional G's samples sorted by the offline classifier: the first ``per_class``
    seeds it assigns to each class, one column per class (a blank where fewer turned up).
    Shows every class and the variety inside each, the way a conditional grid does."""
    blank = torch.full_like(images[0], -1.0)
    columns = []
    for c in range(len(FASHION_CLASSES)):
        picked = list(images[predicted == c][:per_class])
        columns.append(picked + [blank] * (per_class - len(picked)))
    ordered = torch.stack([columns[c][r] for r in range(per_class) for c in range(len(columns))])
    grid = image_grid(ordered, nrow=len(columns))
    grid.resize((grid.width * 2, grid.height * 2)).save(path)


def second_space(loaded, real, n: int) -> dict:
    """The same scores in a second feature space (a CNN trained to predict rotation on the same
    set, ``features.load_classifier(task="rotation")``), to confirm a choice made in the
    classifier's space rather than tune to one yardstick."""
    from gan_core.metrics import quality as metrics
    from gan_core.metrics.features import load_classifier

    res, ch = int(real.images.shape[-1]), int(real.images.shape[1])
    rot = load_classifier(real.name, res, ch, task="rotation")
    scores = metrics.evaluate(loaded, real, extractor=rot, n=n)
    keep = ("feature_space", "fid", "kid_mean", "kid_std", "precision", "recall", "density", "coverage")
    return {k: scores[k] for k in keep if k in scores}


def second_space_table(runs: dict) -> list[str]:
    """Markdown rows of ``second_space`` per run (empty when no run has them)."""
    rows = [(name, r["scores_rotnet"]) for name, r in runs.items() if "scores_rotnet" in r]
    if not rows:
        return []
    fmt = lambda v: f"{v:.3f}" if isinstance(v, (int, float)) else "-"  # noqa: E731
    lines = [f"Second feature space, to confirm: `{rows[0][1]['feature_space']}` (a CNN trained to predict rotation).", "",
             "| run | FID | KID (x1e3) | precision | recall | density | coverage |", "|---|---|---|---|---|---|---|"]
    for name, s in rows:
        lines.append(f"| {name} | {fmt(s['fid'])} | {s['kid_mean'] * 1e3:.2f} ± {s['kid_std'] * 1e3:.2f} | "
                     f"{fmt(s['precision'])} | {fmt(s['recall'])} | {fmt(s['density'])} | {fmt(s['coverage'])} |")
    return lines + [""]


def score(loaded, n: int, predictions: torch.Tensor) -> dict:
    """FID/KID/precision/recall/density/coverage in the offline classifier's feature space,
    plus class coverage: the share of the ten classes that get at least 2% of the classifier's
    ``predictions`` on n samples (a uniform spread gives 10% each; a collapsed generator covers few)."""
    from gan_core.metrics import quality as metrics

    real = load_dataset("fashion-mnist", 32, 1, split="test")
    result = metrics.evaluate(loaded, real, n=n)
    counts = torch.bincount(predictions, minlength=len(FASHION_CLASSES)).float() / len(predictions)
    result["class_coverage"] = float((counts >= 0.02).float().mean())
    result["class_shares"] = {c: round(float(v), 3) for c, v in zip(FASHION_CLASSES, counts)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--n", type=int, default=5000, help="samples for the metrics")
    parser.add_argument("--root", type=Path, default=None, help="keep the runs here (default: a temp folder)")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=FLAGS",
                        help="train these instead of studio and classic, e.g. 'mbstd=--minibatch-std' "
                             "(repeatable; shell quoting: \"x=--augment ''\"; results go to --out-dir as variants_*.json, docs untouched)")
    parser.add_argument("--score-only", action="store_true",
                        help="train nothing: score the finished runs already in --root again")
    args = parser.parse_args()
    runs = dict(RUNS)
    if args.variant:
        runs = {v.split("=", 1)[0]: shlex.split(v.split("=", 1)[1]) if "=" in v else [] for v in args.variant}
    load_dataset("fashion-mnist", 32, 1)  # fail early, clearly, if the data is missing
    if args.score_only and args.root is None:
        parser.error("--score-only needs --root (the folder holding the runs)")
    root = args.root or Path(tempfile.mkdtemp(prefix="fashion-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"runs in {root}", flush=True)
    procs = {} if args.score_only else {name: launch(name, flags, args.minutes, root) for name, flags in runs.items()}
    for name, proc in procs.items():
        if proc.wait() != 0:
            sys.exit(f"{name} failed: see {root / (name + '.out')}")
    os.environ["GAN_CHECKPOINTS"] = str(root)
    results = {"minutes": args.minutes, "threads_each": 1, "machine": machine(),
               "load_avg_5min_after_training": None if args.score_only else round(os.getloadavg()[1], 2), "runs": {}}
    docs = ROOT / "docs" if not args.variant else root
    docs.mkdir(exist_ok=True)
    for name in runs:
        run = RunDir.open(name, root)
        records = [r for r in run.read_metrics() if "loss_d" in r]
        status = run.read_status()
        loaded = load_generator(name, root=root)
        final_grid(loaded, docs / f"fashion_{name}.png")
        images, predicted = classified_samples(loaded, args.n)
        if not loaded.conditional:
            by_class_grid(images[:2000], predicted[:2000], docs / f"fashion_{name}_by_class.png")
        entry = {
            "steps": status.get("step"), "images_seen": status.get("images_seen"),
            "images_per_s": round(status["images_seen"] / max(status["elapsed_s"], 1e-9), 1),
            "median_logged_images_per_s": sorted(r["images_per_s"] for r in records)[len(records) // 2] if records else None,
            "config": run.config().to_dict(),
        }
        try:
            entry["scores"] = score(loaded, args.n, predicted)
            entry["scores_rotnet"] = second_space(loaded, load_dataset("fashion-mnist", 32, 1, split="test"), args.n)
        except ImportError as exc:
            entry["scores"] = {"note": f"metrics unavailable: {exc}"}
        results["runs"][name] = entry
        print(name, json.dumps({k: v for k, v in entry.items() if k != "config"}), flush=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = "fashion_quality" if not args.variant else "variants_" + "_".join(runs)
    (args.out_dir / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out_dir / f"{stem}.md").write_text(markdown(results))
    print((args.out_dir / f"{stem}.md").read_text())


def markdown(results: dict) -> str:
    lines = [f"# Fashion-MNIST, {results['minutes']:g} minutes each ({results['machine']}, {results['threads_each']} thread each)", "",
             f"Load average (last 5 min of training): {results.get('load_avg_5min_after_training', '?')}.", "",
             "| run | steps | images seen | images/s | FID | KID (x1e3) | precision | recall | density | coverage | class coverage | class accuracy |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    space = ""
    for name, r in results["runs"].items():
        s = r.get("scores", {})
        space = s.get("feature_space", space)
        kid = f"{s['kid_mean'] * 1e3:.2f} ± {s['kid_std'] * 1e3:.2f}" if "kid_mean" in s else "-"
        acc = f"{s['class_accuracy']:.3f}" if s.get("class_accuracy") is not None else "n/a (unconditional)"
        cov = f"{s['class_coverage']:.2f}" if s.get("class_coverage") is not None else "-"
        fmt = lambda k: f"{s[k]:.3f}" if isinstance(s.get(k), (int, float)) else "-"  # noqa: E731
        lines.append(f"| {name} | {r['steps']} | {r['images_seen']:,} | {r['images_per_s']} | {fmt('fid')} | {kid} | "
                     f"{fmt('precision')} | {fmt('recall')} | {fmt('density')} | {fmt('coverage')} | {cov} | {acc} |")
    lines += ["", f"Feature space: `{space}`. Precision/recall: k-NN manifolds (k=3); density/coverage: "
              "the reals' k-NN balls only (Naeem et al. 2020, k=5; outlying fakes cannot raise coverage "
              "as they can raise recall). Class coverage: share of classes with at least 2% of the samples.", ""]
    return "\n".join(lines + second_space_table(results["runs"]))


if __name__ == "__main__":
    main()
