"""Emoji at 64 px: StyleGAN2 + ADA (the new default preset) against the DCGAN folder recipe.

Two experiments, each a pair of runs trained at the same time for the same wall clock, one
CPU thread each, through the engine's CLI (``fashion_quality.launch``), then sampled and
scored in one feature space (``gan_core.metrics.quality.evaluate``: the offline classifier trained
on the emoji train split; FID/KID, precision/recall, density/coverage, class accuracy).

- ``--experiment preset``: ``--data emoji`` (StyleGAN2 + ADA) vs ``--preset dcgan-folder``
  (DCGAN + DiffAugment, the folder recipe before issue 18). Grids: ``docs/emoji_<run>.png``.
- ``--experiment small``: 500 emoji (every third of the train split, all nine groups, written
  as a folder of 555 PNGs in class subfolders; the folder loader holds out every 10th file,
  leaving 500 to train on), StyleGAN2 with ADA vs without. Besides the scores, D's accuracy on
  the 500 training reals and the 55 held-out ones (same distribution, never trained on), and
  the gap of its mean logits: a D that scores its training images higher than unseen ones has
  memorised them.

Scores use the *train* split as the reference set (1,683 images; the test split's 187 are
too few for FID's covariance or k-NN manifolds) with 2,000 samples per run.

    python bench/emoji_quality.py --experiment preset [--minutes 10]
    python bench/emoji_quality.py --experiment small [--minutes 10]
    python bench/emoji_quality.py --variant "r2_s0=--r2-gamma 0.025" --variant "r2_s1=--r2-gamma 0.025 --seed 1"

``--variant NAME=FLAGS`` (repeatable) trains the emoji preset with extra CLI flags instead (a
variant's own ``--seed`` wins over ``--seed``), scored the same way; results go to
``emoji_variants_<names>.json`` / ``.md``, grids to the runs' folder, docs untouched.

Writes ``bench/results/emoji_<experiment>.json`` / ``.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from fashion_quality import final_grid, launch, machine, second_space, second_space_table  # noqa: E402
from gan_core.data import ImageSet, load_dataset  # noqa: E402
from gan_core.inference.generators import load_generator  # noqa: E402
from gan_core.metrics.quality import evaluate  # noqa: E402
from gan_core.metrics.style_mixing import style_mixing_check  # noqa: E402
from gan_core.runs.rundir import RunDir  # noqa: E402

EXPERIMENTS = {
    "preset": {"stylegan2_ada": ["--data", "emoji"], "dcgan_folder": ["--preset", "dcgan-folder", "--data", "emoji"]},
    "small": {"small_ada": ["--augment", "ada"], "small_no_aug": ["--augment", ""]},
}
SMALL_N = 555  # files; the folder loader holds out every 10th, leaving 500 to train on


def group_folder(group: str) -> str:
    return group.replace(" & ", "-and-").replace(" ", "-")


def write_small_set(folder: Path, n: int = SMALL_N) -> Path:
    """Every third train emoji (so all nine groups are there, in proportion), the first ``n``
    of them, as PNGs in one subfolder per Unicode group (labels kept)."""
    data = load_dataset("emoji", 64, 3, split="train")
    for i in range(0, 3 * n, 3):
        group = group_folder(data.classes[int(data.labels[i])])
        path = folder / group / f"{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = ((data.images[i].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
        Image.fromarray(np.ascontiguousarray(pixels)).save(path)
    return folder


def write_generator_fixture(root: Path, name: str, path: Path) -> None:
    """The run's newest EMA generator alone (no D, no optimiser state), with the metadata that
    ``load_generator(checkpoint=path)`` needs: the trained model that ``tests/test_stylegan2.py``
    checks style mixing on (about 1.5 MB, committed; made by ``--fixture``)."""
    from safetensors.torch import save_file

    from gan_core.runs.rundir import load_checkpoint_file

    tensors, meta = load_checkpoint_file(RunDir.open(name, root).latest_checkpoint().weights)
    keep = {k: v.contiguous() for k, v in tensors.items() if k.startswith("G_ema.")}
    info = {k: meta[k] for k in ("model", "config", "classes", "step", "images_seen", "format")}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(keep, str(path), metadata={"gan_studio": json.dumps(info)})


@torch.no_grad()
def d_logits(loaded, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """The trained D's logits (no augmentation) for ``images``."""
    D = loaded.D
    return torch.cat([D(images[s:s + 256], labels[s:s + 256] if labels is not None and loaded.conditional else None)
                      for s in range(0, len(images), 256)])


def overfitting(loaded, train: ImageSet, held_out: ImageSet) -> dict:
    """D's accuracy (logit > 0) on its training reals and on held-out reals of the same
    distribution, and the gap of the mean logits in units of their pooled std. One checkpoint's
    D can swing between steps (seen here: 16% of reals called real, one step later 100%), so
    the gap, not the level, is the overfitting signal."""
    a, b = d_logits(loaded, train.images, train.labels), d_logits(loaded, held_out.images, held_out.labels)
    return {"d_acc_train_reals": float((a > 0).float().mean()), "d_acc_heldout_reals": float((b > 0).float().mean()),
            "d_logit_train": float(a.mean()), "d_logit_heldout": float(b.mean()),
            "d_logit_gap_in_std": float((a.mean() - b.mean()) / torch.cat([a, b]).std())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", choices=list(EXPERIMENTS), default="preset")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--n", type=int, default=2000, help="samples for the metrics")
    parser.add_argument("--root", type=Path, default=None, help="keep the runs here (default: a temp folder)")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--score-only", action="store_true", help="score the finished runs in --root again")
    parser.add_argument("--seed", type=int, default=0, help="training seed of both runs (results file gets _seed<N>)")
    parser.add_argument("--grids", type=Path, default=ROOT / "docs",
                        help="where the preset experiment's sample grids go (the README shows docs/)")
    parser.add_argument("--fixture", type=Path, default=None,
                        help="also write the StyleGAN2 run's EMA generator here (tests/fixtures/emoji_stylegan2_g.safetensors)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=FLAGS",
                        help="instead of the experiment's pair: the emoji preset with these extra train flags (repeatable)")
    args = parser.parse_args()
    train_set = load_dataset("emoji", 64, 3, split="train")  # fail early, clearly, when the font is missing
    root = args.root or Path(tempfile.mkdtemp(prefix=f"emoji-{args.experiment}-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"runs in {root}", flush=True)
    runs = EXPERIMENTS[args.experiment]
    if args.variant:  # the seed goes first so that a variant's own --seed wins (argparse keeps the last)
        runs = {v.split("=", 1)[0]: ["--data", "emoji", "--seed", str(args.seed), *shlex.split(v.partition("=")[2])]
                for v in args.variant}
    data = "emoji"
    if args.experiment == "small":
        data = str(write_small_set(root / "emoji500") if not args.score_only else root / "emoji500")
    if not args.score_only:
        procs = {name: launch(name, flags if args.variant else flags + ["--seed", str(args.seed)], args.minutes, root,
                              data=data)
                 for name, flags in runs.items()}
        for name, proc in procs.items():
            if proc.wait() != 0:
                sys.exit(f"{name} failed: see {root / (name + '.out')}")
    os.environ["GAN_CHECKPOINTS"] = str(root)
    results = {"experiment": "variants" if args.variant else args.experiment, "seed": args.seed, "minutes": args.minutes, "threads_each": 1,
               "machine": machine(),
               "load_avg_5min_after_training": None if args.score_only else round(os.getloadavg()[1], 2),
               "reference": f"emoji train split ({len(train_set)} images), {args.n} samples per run", "runs": {}}
    # file names: emoji_preset.md for seed 0 and 10 minutes, else e.g. emoji_preset_seed1_20min.md
    suffix = (f"_seed{args.seed}" if args.seed else "") + (f"_{args.minutes:g}min" if args.minutes != 10 else "")
    for name in runs:
        run = RunDir.open(name, root)
        status = run.read_status()
        loaded = load_generator(name, root=root, with_discriminator=True)
        if args.experiment == "preset" and not args.variant:
            final_grid(loaded, args.grids / f"emoji_{name}{suffix}.png")
        else:
            final_grid(loaded, root / f"emoji_{name}.png")
        records = [r for r in run.read_metrics() if "loss_d" in r]
        entry = {
            "steps": status.get("step"), "images_seen": status.get("images_seen"),
            "images_per_s": round(status["images_seen"] / max(status["elapsed_s"], 1e-9), 1),
            "final_ada_p": records[-1].get("ada_p") if records else None,
            "config": run.config().to_dict(),
            "scores": evaluate(loaded, train_set, n=args.n),
            "scores_rotnet": second_space(loaded, train_set, args.n),
        }
        entry["seed"] = run.config().seed
        if loaded.config.model == "stylegan2":
            entry["style_mixing"] = style_mixing_check(loaded)
            if args.fixture:
                write_generator_fixture(root, name, args.fixture)
        if args.experiment == "small":  # the folder's split: 9 of every 10 files train, the 10th held out
            entry.update(overfitting(loaded, load_dataset(data, 64, 3, split="train"),
                                     load_dataset(data, 64, 3, split="test")))
        results["runs"][name] = entry
        print(name, json.dumps({k: v for k, v in entry.items() if k != "config"}), flush=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"emoji_{args.experiment}{suffix}" if not args.variant else "emoji_variants_" + "_".join(runs)
    (args.out_dir / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out_dir / f"{stem}.md").write_text(markdown(results))
    print((args.out_dir / f"{stem}.md").read_text())


def markdown(results: dict) -> str:
    small = results["experiment"] == "small"
    lines = [f"# Emoji 64 px, experiment '{results['experiment']}': {results['minutes']:g} minutes each "
             f"({results['machine']}, {results['threads_each']} thread each)", "",
             f"Reference: {results['reference']}. Load average (last 5 min of training): "
             f"{results.get('load_avg_5min_after_training', '?')} (2 means both cores busy with the two runs).", "",
             "| run | steps | images seen | images/s | ADA p | FID | KID (x1e3) | precision | recall | density | coverage | class accuracy |"
             + (" D acc. train reals | D acc. held-out reals | D logit gap (std) |" if small else ""),
             "|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|---|---|" if small else "")]
    space = ""
    for name, r in results["runs"].items():
        s = r["scores"]
        space = s.get("feature_space", space)
        fmt = lambda v: f"{v:.3f}" if isinstance(v, (int, float)) else "-"  # noqa: E731
        kid = f"{s['kid_mean'] * 1e3:.2f} ± {s['kid_std'] * 1e3:.2f}"
        row = (f"| {name} | {r['steps']} | {r['images_seen']:,} | {r['images_per_s']} | {fmt(r['final_ada_p'])} | "
               f"{fmt(s['fid'])} | {kid} | {fmt(s['precision'])} | {fmt(s['recall'])} | {fmt(s['density'])} | "
               f"{fmt(s['coverage'])} | {fmt(s.get('class_accuracy'))} |")
        if small:
            row += f" {fmt(r['d_acc_train_reals'])} | {fmt(r['d_acc_heldout_reals'])} | {fmt(r['d_logit_gap_in_std'])} |"
        lines.append(row)
    for name, r in results["runs"].items():
        if "style_mixing" in r:
            m = r["style_mixing"]
            lines += ["", f"Style mixing on `{name}` ({m['pairs']} seed pairs, layers 1-{m['cutoff']} of {m['num_ws']} from A): "
                      f"layout nearer A in {m['layout_follows_a']:.0%} of pairs (corr. {m['layout_corr_a']:.2f} vs "
                      f"{m['layout_corr_b']:.2f}), mean colour nearer B in {m['colour_follows_b']:.0%} "
                      f"(distance {m['colour_dist_b']:.3f} vs {m['colour_dist_a']:.3f} to A)."]
    if results["experiment"] == "variants":
        seeds = "Training seeds: " + ", ".join(f"{name} {r.get('seed')}" for name, r in results["runs"].items())
    else:
        seeds = f"Training seed {results.get('seed', 0)}; one seed per file (seeds are separate runs of this script)"
    lines += ["", f"Feature space: `{space}`. {seeds}: read differences smaller than the KID spread as noise.", ""]
    return "\n".join(lines + second_space_table(results["runs"]))


if __name__ == "__main__":
    main()
