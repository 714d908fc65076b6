"""``python -m gan_core inpaint`` / ``superres``: repair image files with a trained run or a baseline."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable

from PIL import Image

from gan_core.inference.generators import png_bytes, resolve_class
from gan_core.restore.images import RestoreError, open_image
from gan_core.restore.repair import (
    IMAGE_SUFFIXES,
    INPAINT_METHODS,
    SUPERRES_METHODS,
    RestoreResult,
    _check_run,
    inpaint,
    load_for,
    superres,
)
from gan_core.runs.rundir import RunError
from gan_core.torch_utils.devices import pick_device


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def _jobs(image: Path, out_arg: str) -> list[tuple[Path, Path]]:
    """(input, output) pairs. The output is checked before any work: a name Pillow cannot write
    (no suffix, or a new folder given as "out/") failed only at the save, after the restore
    ran ("unknown file extension: "), and a prior's minutes of search were lost."""
    out = Path(out_arg)
    if not image.exists():
        raise RestoreError(f"{image} does not exist")
    if image.is_dir():
        files = _image_files(image)
        if not files:
            raise RestoreError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {image}")
        if out.exists() and not out.is_dir():
            raise RestoreError(f"--image is a folder, so --out must be a folder too; {out} is a file")
        out.mkdir(parents=True, exist_ok=True)
        return [(f, out / f.name) for f in files]
    if out.is_dir() or out_arg.endswith(("/", os.sep)):
        out.mkdir(parents=True, exist_ok=True)
        return [(image, out / image.name)]
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise RestoreError(f"--out {out_arg}: give a file name ending in {', '.join(IMAGE_SUFFIXES)}, or a folder (end it with /)")
    out.parent.mkdir(parents=True, exist_ok=True)
    return [(image, out)]


def _overwritten_input(jobs: list[tuple[Path, Path]], masks: Path | None) -> Path | None:
    """An input (image or mask) that an output would replace: `--image in/ --out in/` wrote the
    results over the originals without a word (and a second run upscaled them again)."""
    inputs = {src.resolve() for src, _ in jobs}
    if masks is not None:
        inputs |= {p.resolve() for p in (masks.iterdir() if masks.is_dir() else [masks])}
    return next((dst for _, dst in jobs if dst.resolve() in inputs), None)


def _mask_for(mask: Path, image: Path) -> Path:
    if not mask.is_dir():
        return mask
    for candidate in [mask / image.name] + [mask / (image.stem + s) for s in IMAGE_SUFFIXES]:
        if candidate.is_file():
            return candidate
    raise RestoreError(f"no mask for {image.name} in {mask} (expected a file with the same name)")


def _save(image: Image.Image, path: Path, info: dict[str, Any]) -> None:
    if path.suffix.lower() == ".png":
        path.write_bytes(png_bytes(image, {"software": "GAN Studio", **{k: str(v) for k, v in info.items()}}))
    elif path.suffix.lower() in (".jpg", ".jpeg") and image.mode not in ("L", "RGB"):
        image.convert("RGB").save(path)
    else:
        image.save(path)


def _common_args(parser: argparse.ArgumentParser, methods: tuple[str, ...]) -> None:
    parser.add_argument("--run", help="trained run (image GAN for prior; srgan / inpaint-gan for model)")
    parser.add_argument("--checkpoint", help="checkpoint file or step of --run (default: newest)")
    parser.add_argument("--method", choices=methods, default="prior")
    parser.add_argument("--image", type=Path, required=True, help="input image, or a folder of images (batch)")
    parser.add_argument("--out", required=True, help="output file, or a folder (batch: same file names; a new folder ends with /)")
    parser.add_argument("--steps", type=int, default=None, help="optimisation steps (prior)")
    parser.add_argument("--restarts", type=int, default=None, help="random restarts optimised in parallel (prior; default 16)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the restarts (prior; default 0)")
    parser.add_argument("--class", dest="class_", help="class index or name for a conditional prior (default: try all)")
    parser.add_argument("--device", default="cpu", help="auto, cpu (default), cuda, cuda:N or mps")


def _ignored_flag_problem(args) -> str | None:
    """Flags the chosen method does not use: they were dropped without a word
    (`inpaint --method model --steps 500` ran its one forward pass, `--blend` left biharmonic as it was)."""
    given = [f"--{name.rstrip('_')}" for name in ("steps", "restarts", "seed", "class_") if getattr(args, name) is not None]
    if given and args.method != "prior":
        return f"{', '.join(given)} shape{'s' if len(given) == 1 else ''} the generator-prior search; --method {args.method} has none"
    if getattr(args, "blend", None) and args.method not in ("prior", "model"):
        return f"--blend sets how a prior or model fill meets the known pixels; --method {args.method} fills the hole itself"
    return None


def _run_cli(args, task: str, restore_one: Callable[[Path, Any], RestoreResult]) -> int:
    problem = _ignored_flag_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    args.restarts = 16 if args.restarts is None else args.restarts
    args.seed = 0 if args.seed is None else args.seed
    if args.steps is not None and not 1 <= args.steps <= 100_000:
        print("error: --steps must be from 1 to 100000", file=sys.stderr)
        return 2
    if not 1 <= args.restarts <= 4096:
        print("error: --restarts must be from 1 to 4096", file=sys.stderr)
        return 2
    try:
        jobs = _jobs(args.image, args.out)
        clash = _overwritten_input(jobs, getattr(args, "mask", None))
        if clash is not None:
            raise RestoreError(f"--out would write over the input {clash}: give another file or folder")
        loaded = load_for(args.run, args.method, args.checkpoint, pick_device(args.device))
        if loaded is not None:
            _check_run(loaded, args.method, task)
        if args.class_ is not None:
            args.class_index = resolve_class(args.class_, loaded.classes if loaded and loaded.conditional else [])
        else:
            args.class_index = None
    except (RestoreError, RunError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = 0
    for src, dst in jobs:
        try:
            result = restore_one(src, loaded)
            _save(result.image, dst, {"method": result.method, **result.info})
            print(f"{src.name} -> {dst} ({result.method}, {result.seconds:.2f}s)")
        except (RestoreError, RunError, ValueError, OSError) as exc:
            failed += 1
            print(f"error: {src.name}: {exc}", file=sys.stderr)
    if failed:
        print(f"{failed} of {len(jobs)} images failed", file=sys.stderr)
        return 1
    return 0


def cli_inpaint(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core inpaint", description="Fill the white part of a mask in images.")
    _common_args(parser, INPAINT_METHODS)
    parser.add_argument("--mask", type=Path, required=True, help="mask image (white = missing) for all, or a folder of per-image masks")
    parser.add_argument("--blend", choices=("poisson", "feather", "paste"), default=None,
                        help="how the fill meets the known pixels (default: poisson for prior, paste for model)")
    args = parser.parse_args(argv)
    if not args.mask.exists():
        print(f"error: mask {args.mask} does not exist", file=sys.stderr)
        return 2

    def one(src: Path, loaded) -> RestoreResult:
        mask = open_image(_mask_for(args.mask, src))
        return inpaint(open_image(src), mask, args.method, loaded, steps=args.steps or 300, restarts=args.restarts,
                       seed=args.seed, class_index=args.class_index, blend=args.blend)

    return _run_cli(args, "inpaint", one)


def cli_superres(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core superres", description="Raise the resolution of images.")
    _common_args(parser, SUPERRES_METHODS)
    parser.add_argument("--scale", type=int, default=None, help="upscaling factor (default: the srgan run's, else 4)")
    args = parser.parse_args(argv)

    def one(src: Path, loaded) -> RestoreResult:
        scale = args.scale if args.scale is not None else (loaded.config.scale if loaded is not None and loaded.config.run_type.restores == "superres" else 4)
        return superres(open_image(src), scale, args.method, loaded, steps=args.steps or 150, restarts=args.restarts,
                        seed=args.seed, class_index=args.class_index)

    return _run_cli(args, "superres", one)
