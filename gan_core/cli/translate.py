"""``python -m gan_core translate``: one PNG per input image through a pix2pix or CycleGAN run.

Exit codes: 0 every input written; 1 some inputs skipped (each named with its reason on
stderr); 2 nothing done (bad run, bad input)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gan_core.data.importer import DatasetError
from gan_core.inference.translate import (
    HIDDEN,
    TranslateError,
    load_translator,
    translate_file,
    translate_folder,
)
from gan_core.runs.rundir import CheckpointError, RunError
from gan_core.torch_utils.devices import pick_device


def device_of(name: str):
    """``--device`` as train reads it (auto, cpu, cuda, cuda:N, mps): ``auto``, a GPU that is
    not there, or a typo went straight to torch and ended in its traceback."""
    try:
        return pick_device(name)
    except ValueError as exc:
        raise TranslateError(str(exc)) from None


def cli_translate(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan_core translate",
                                     description="Translate images with a pix2pix or CycleGAN run: one PNG per input.")
    parser.add_argument("--run", help="translation run (its newest checkpoint unless --checkpoint)")
    parser.add_argument("--checkpoint", help="checkpoint file, or a file name inside --run's weights")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--image", type=Path, help="one input image")
    src.add_argument("--image-dir", type=Path, help="a folder of input images (the files directly in it)")
    parser.add_argument("--out", required=True, help="output file or folder (--image-dir: a folder; "
                        "--image: a folder when it exists or ends with /)")
    parser.add_argument("--reverse", action="store_true", help="CycleGAN: translate B -> A")
    parser.add_argument("--raw", action="store_true", help="use the raw G weights instead of the EMA")
    parser.add_argument("--device", default="cpu", help="auto, cpu (default), cuda, cuda:N or mps")
    args = parser.parse_args(argv)
    wants_folder = args.out.endswith(("/", os.sep))  # Path() drops the slash: "new/" became a file "new"
    args.out = Path(args.out)
    try:
        translator = load_translator(args.run, args.checkpoint, ema=not args.raw, device=device_of(args.device))
        if args.reverse and translator.model != "cyclegan":
            raise TranslateError(f"--reverse needs a CycleGAN run; this is a {translator.model} run (A -> B only)")
        if args.image is not None:
            if not args.image.is_file():
                raise TranslateError(f"{args.image} is not a file (use --image-dir for a folder)")
            if wants_folder:
                args.out.mkdir(parents=True, exist_ok=True)
            dst = translate_file(translator, args.image, args.out, args.reverse)
            print(f"{args.image.name} -> {dst}")
            return 0
        if not args.image_dir.exists():
            raise TranslateError(f"{args.image_dir} does not exist")
        written, skipped = translate_folder(translator, args.image_dir, args.out, args.reverse)
    except (TranslateError, RunError, CheckpointError, DatasetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = [(name, reason) for name, reason in skipped if reason != HIDDEN]
    for name, reason in failed:
        print(f"skipped {name}: {reason}", file=sys.stderr)
    print(f"wrote {len(written)} images to {args.out} ({translator.info['model']}, "
          f"{'B->A' if args.reverse else 'A->B'}, step {translator.info['checkpoint_step']})")
    return 1 if failed else 0
