"""``python -m gan_core sample``: PNGs (GIFs for video runs) from a trained generator."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gan_core.data.importer import DatasetError
from gan_core.inference.animation import gif_bytes
from gan_core.inference.export import export_synthetic
from gan_core.inference.generators import (interpolate, load_generator, png_bytes, provenance, resolve_class, style_mix,
                                           to_pil, write_samples)
from gan_core.runs.rundir import RunDir, RunError
from gan_core.torch_utils.devices import pick_device
from gan_core.video.clips import write_clip_samples


def cmd_sample(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core sample", description="Write N samples from a trained generator: PNGs, or one GIF per clip for video runs.")
    parser.add_argument("--run", help="run name (its newest checkpoint unless --checkpoint)")
    parser.add_argument("--checkpoint", help="checkpoint file (.safetensors, or weights-only .pt/.pth), or a step number of --run")
    parser.add_argument("--n", type=int, default=16, help="number of images (per class with --as-dataset)")
    parser.add_argument("--out", type=Path, help="output folder")
    parser.add_argument("--as-dataset", metavar="NAME",
                        help="instead of --out: write --n images per class as a new data set NAME in $GAN_DATA, "
                             "one folder per class, trainable and listed on Data (Generate's Export)")
    parser.add_argument("--class", dest="class_", help="class index or name (conditional runs), e.g. 7 or sneaker")
    parser.add_argument("--seed", type=int, default=0, help="first seed; image i uses seed+i")
    parser.add_argument("--truncation", type=float, default=None, help="truncate z to [-T, T] (e.g. 0.7 for cleaner, less varied images); "
                        "stylegan2: psi from 0 (the mean image) to 1 (none), pulling w toward its average")
    parser.add_argument("--interpolate", type=int, nargs=2, metavar=("A", "B"),
                        help="instead of N samples: one looping GIF from seed A to seed B (in W for stylegan2 runs), "
                             "as Generate's Interpolate tab")
    parser.add_argument("--frames", type=int, default=None, help="frames of --interpolate (2-240, default 24)")
    parser.add_argument("--mix", type=int, nargs=2, metavar=("A", "B"),
                        help="stylegan2: one PNG with the coarse styles (layout) of seed A and the rest (colours) of seed B")
    parser.add_argument("--cutoff", type=int, default=None, help="--mix: style layers taken from A (default 3)")
    parser.add_argument("--raw", action="store_true", help="use the raw G weights instead of the EMA")
    parser.add_argument("--device", default="cpu", help="auto, cpu (default), cuda, cuda:N or mps")
    args = parser.parse_args(argv)
    if (args.out is None) == (args.as_dataset is None):
        parser.error("give one of --out FOLDER or --as-dataset NAME")
    if args.n < 1 or args.n > 100_000:
        print("error: --n must be from 1 to 100000", file=sys.stderr)
        return 2
    try:
        kind = RunDir.open(args.run).config().run_type.kind if args.run else None
        if kind == "translation":
            print(f"error: {args.run} is a translation run (it turns images into images, not noise into images): "
                  f"use `python -m gan_core translate --run {args.run} --image IN --out OUT` or the Translate page",
                  file=sys.stderr)
            return 2
        loaded = load_generator(args.run, args.checkpoint, ema=not args.raw, device=pick_device(args.device))
        _refuse_stray_flags(args, loaded)
        if args.as_dataset:
            if args.class_ is not None or args.interpolate or args.mix:
                raise ValueError("--as-dataset writes every class of an image generator; drop --class, --interpolate and --mix")
            folder, count = export_synthetic(loaded, args.as_dataset, args.n, seed=args.seed, truncation=args.truncation)
            print(f"wrote {count:,} images to the data set {args.as_dataset} ({folder}; step {loaded.step}, "
                  f"{loaded.weights} weights)")
            return 0
        class_index = resolve_class(args.class_, loaded.classes) if args.class_ is not None else None
        if args.interpolate or args.mix:
            return _one_walk_or_mix(args, loaded, class_index)
        if loaded.config.run_type.sample == "clip":
            paths = write_clip_samples(loaded, args.out, args.n, seed=args.seed, class_index=class_index, truncation=args.truncation)
        else:
            paths = write_samples(loaded, args.out, args.n, seed=args.seed, class_index=class_index, truncation=args.truncation)
    except (RunError, DatasetError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(paths)} files to {args.out} (step {loaded.step}, {loaded.weights} weights)")
    return 0


def _refuse_stray_flags(args, loaded) -> None:
    """``--frames`` / ``--cutoff`` only shape ``--interpolate`` / ``--mix``: given alone they were
    dropped without a word (``sample --run VIDEO --frames 4`` wrote 8-frame GIFs)."""
    clip = loaded.config.run_type.sample == "clip"
    if args.frames is not None and not args.interpolate:
        raise ValueError("--frames is the length of an --interpolate GIF" + (
            f"; a clip of this video run always has the {loaded.config.frames} frames it was trained with" if clip else ""))
    if args.cutoff is not None and not args.mix:
        raise ValueError("--cutoff is for --mix (the style layers taken from seed A)")
    args.frames = 24 if args.frames is None else args.frames
    args.cutoff = 3 if args.cutoff is None else args.cutoff


def _one_walk_or_mix(args, loaded, class_index: int | None) -> int:
    """``--interpolate`` (a GIF) or ``--mix`` (a PNG): the Generate tabs' pictures, as files."""
    if args.interpolate and args.mix:
        raise ValueError("give --interpolate or --mix, not both")
    if loaded.config.run_type.sample == "clip":
        raise ValueError("--interpolate and --mix are for image generators, not video runs")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.interpolate:
        if not 2 <= args.frames <= 240:
            raise ValueError(f"--frames must be from 2 to 240, got {args.frames}")
        a, b = args.interpolate
        path = args.out / f"interp_{a}_{b}.gif"
        path.write_bytes(gif_bytes([to_pil(x) for x in interpolate(loaded, a, b, args.frames, class_index, args.truncation)]))
    else:
        a, b = args.mix
        mixed = style_mix(loaded, a, b, args.cutoff, class_index, args.truncation)
        info = provenance(loaded, a, class_index, truncation="none" if args.truncation is None else args.truncation,
                          mixed_with_seed=b, cutoff=args.cutoff)
        path = args.out / f"mix_{a}_{b}_cutoff{args.cutoff}.png"
        path.write_bytes(png_bytes(to_pil(mixed), info))
    print(f"wrote {path} (step {loaded.step}, {loaded.weights} weights)")
    return 0
