"""Translate images with a trained pix2pix or CycleGAN generator.

What ``python -m gan_core translate --run RUN (--image IN | --image-dir DIR) --out OUT
[--reverse]`` (``gan_core.cli.translate``) and the Translate page call: one PNG per input, A -> B (CycleGAN: B -> A with ``--reverse``), each with provenance
text chunks like Generate's exports (``inference.generators.png_bytes``).

Inputs are untrusted: a file is read with a size cap (``MAX_INPUT_BYTES``), never through
a symlink or special file, and decoded by the importer's ``decode_image`` (header size
check before any pixel is decoded, any Pillow failure a clear message). Transparent
pixels become white paper for an ``edges`` model (a drawing on a transparent canvas),
black otherwise (the importer's rule). ``--image-dir``
reads the files directly in the folder, as ``inpaint`` / ``superres`` do; hidden files,
subfolders, symlinks and special files are skipped and said. An image is converted to
the model's channels (grey: ITU-R 601 luminance; grey into RGB repeated), centre-cropped
square and resized to its resolution, exactly as training data is
(``data.images.fit_image``); the output is at the model's resolution.

Output names: the input's file name with a ``.png`` suffix (``shoe.jpg`` -> ``shoe.png``;
``a.png`` stays ``a.png``); when two inputs would share a name (``a.jpg`` and ``a.png``),
the non-PNG one keeps its full name (``a.jpg.png``).

A checkpoint says what it holds in its metadata (``meta["config"]``, a plain dict):
``model`` ("pix2pix" | "cyclegan"), ``resolution``, ``channels`` (of the targets / both
domains), and optionally ``paired_transform`` (pix2pix; default "edges"; "folder" for
real pairs), ``width`` (G's base width), ``blocks`` (CycleGAN), ``domain_a`` /
``domain_b``. Generator tensors are prefixed ``G_ema.`` (preferred) or ``G.``.
"""
from __future__ import annotations

import io
import json
import os
import stat
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save as st_save
from torch import nn

from gan_core.data.images import fit_image, load_dataset, to_image_tensor
from gan_core.data.importer import DatasetError, Limits
from gan_core.data.paired import (
    PAIRED_TRANSFORMS,
    domains,
    input_channels,
    load_paired_folder,
    paired_input,
)
from gan_core.data.untrusted import SkipFile, open_untrusted, to_l_or_rgb
from gan_core.inference.generators import png_bytes, to_pil
from gan_core.models.translation import (
    CYCLEGAN_BLOCKS,
    CYCLEGAN_WIDTH,
    PIX2PIX_WIDTH,
    CycleGenerators,
    ResnetGenerator,
    UNetGenerator,
)
from gan_core.runs.rundir import (
    CHECKPOINT_FORMAT,
    RunDir,
    atomic_write_bytes,
    load_checkpoint_file,
)

MODELS = ("pix2pix", "cyclegan")
MAX_INPUT_BYTES = 64 * 1024**2  # the importer's per-file cap
MAX_BATCH_FILES = 500  # one batch translation on the page
HIDDEN = "hidden or system file"


class TranslateError(ValueError):
    """A request that cannot be served (wrong run type, unreadable input ...); says why."""


@dataclass
class Translator:
    """A loaded generator and what it expects: ``translate`` maps [N, C_in, R, R] in
    [-1, 1] to [N, C_out, R, R] (CycleGAN ``reverse``: B -> A)."""

    G: nn.Module
    model: str
    resolution: int
    in_channels: int  # domain A
    out_channels: int  # domain B
    transform: str | None = None  # pix2pix: how its inputs were made from targets
    info: dict[str, str] = field(default_factory=dict)  # provenance: run, step, weights

    def channels_of(self, reverse: bool) -> tuple[int, int]:
        """(input, output) channels in the asked direction."""
        return (self.out_channels, self.in_channels) if reverse else (self.in_channels, self.out_channels)

    @torch.no_grad()
    def translate(self, x: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        if reverse and self.model != "cyclegan":
            raise TranslateError(f"a {self.model} run translates one way (A -> B); --reverse needs a CycleGAN run")
        device = next(self.G.parameters()).device
        out = self.G(x.to(device), reverse=True) if reverse else self.G(x.to(device))
        return out.float().cpu().clamp(-1, 1)

    @property
    def paper(self) -> int:
        """Background for transparent inputs: white for an outline model (a drawing's
        paper, e.g. the page's canvas), black otherwise (the importer's rule)."""
        return 255 if self.transform == "edges" else 0

    def prepare(self, image: Image.Image, reverse: bool = False) -> torch.Tensor:
        """[1, C, R, R] model input from any decoded image (see the module docstring)."""
        channels = self.channels_of(reverse)[0]
        image = on_paper(image, self.paper)
        square = fit_image(image.convert("L" if channels == 1 else "RGB"), self.resolution)
        return to_image_tensor(np.asarray(square)[None], self.resolution, channels)

    def input_from_target(self, images: torch.Tensor) -> torch.Tensor:
        """pix2pix: the input its training made from target images (an outline drawing of a
        data-set image, for the page's "pick a data-set image")."""
        if self.transform not in PAIRED_TRANSFORMS:
            raise TranslateError("this run was not trained on a paired transform: give an input image")
        return paired_input(images, self.transform)

    def prepare_drawing(self, image: Image.Image, reverse: bool = False) -> torch.Tensor:
        """Like ``prepare``, for a drawing on a larger canvas: an outline model's strokes are
        made black-or-white again after the downscale (its training outlines are 1 px lines,
        not the grey a thin stroke averages to)."""
        x = self.prepare(on_paper(image, 255), reverse)  # a canvas is white paper, whatever the model
        if self.transform == "edges" and not reverse:
            x = torch.where(x < 0.5, -1.0, 1.0)
        return x

    def translate_image(self, image: Image.Image, reverse: bool = False) -> Image.Image:
        return to_pil(self.translate(self.prepare(image, reverse), reverse)[0])

    def round_trip(self, x: torch.Tensor, reverse: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """CycleGAN: (the translation of ``x``, and that translated back)."""
        there = self.translate(x, reverse)
        return there, self.translate(there, not reverse)


# ---- building and loading ------------------------------------------------------------------------
def build_generator(config: dict[str, Any]) -> tuple[nn.Module, int, int, str | None]:
    """(G, input channels, output channels, transform) for a checkpoint's config dict."""
    model = config.get("model")
    if model not in MODELS:
        raise TranslateError(f"not a translation run: model {model!r} (translate needs {' or '.join(MODELS)})")
    try:
        res, ch = int(config["resolution"]), int(config["channels"])
    except (KeyError, TypeError, ValueError):
        raise TranslateError("the checkpoint's config lacks resolution / channels") from None
    if model == "pix2pix":
        transform = config.get("paired_transform") or "edges"
        in_ch = ch if transform == "folder" else input_channels(transform, ch)
        return UNetGenerator(in_ch, ch, res, int(config.get("width") or PIX2PIX_WIDTH)), in_ch, ch, transform
    width, blocks = int(config.get("width") or CYCLEGAN_WIDTH), int(config.get("blocks") or CYCLEGAN_BLOCKS)
    G = CycleGenerators(ResnetGenerator(ch, ch, res, width, blocks), ResnetGenerator(ch, ch, res, width, blocks))
    return G, ch, ch, None


def translator_from_tensors(tensors: dict[str, torch.Tensor], meta: dict[str, Any], *, ema: bool = True,
                            device: str | torch.device = "cpu", source: str = "") -> Translator:
    config = meta.get("config")
    if not isinstance(config, dict):
        raise TranslateError(f"{source or 'the checkpoint'} carries no config in its metadata: its architecture is unknown")
    G, in_ch, out_ch, transform = build_generator(config)
    weights = "raw"
    state = {}
    for prefix, name in ((("G_ema.", "ema"),) if ema else ()) + (("G.", "raw"),):
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if state:
            weights = name
            break
    try:
        G.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1:3] if str(exc) else []
        raise TranslateError(f"{source or 'the checkpoint'} does not fit a {config['model']} generator "
                             f"of its config ({' '.join(s.strip() for s in first)[:300]})") from None
    G.to(device).eval()
    info = {"model": config["model"], "run": str(meta.get("run") or source), "checkpoint_step": str(meta.get("step", 0)),
            "weights": weights}
    return Translator(G, config["model"], int(config["resolution"]), in_ch, out_ch, transform, info)


def load_translator(run: str | None = None, checkpoint: str | Path | None = None, *, ema: bool = True,
                    device: str | torch.device = "cpu", root: Path | None = None) -> Translator:
    """A run's newest checkpoint, or a checkpoint file."""
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.is_file() and run is not None:
            path = RunDir.open(run, root).weights_dir / path.name
        source = run or path.name
    elif run is not None:
        latest = RunDir.open(run, root).latest_checkpoint()
        if latest is None:
            raise TranslateError(f"run {run} has no checkpoint yet: wait for the first one")
        path, source = latest.weights, run
    else:
        raise TranslateError("give --run RUN or --checkpoint FILE")
    if not path.is_file():
        raise TranslateError(f"checkpoint {path} not found")
    tensors, meta = load_checkpoint_file(path)
    return translator_from_tensors(tensors, meta, ema=ema, device=device, source=source)


def save_translator(path: str | Path, G: nn.Module, config: dict[str, Any], step: int = 0, **meta: Any) -> Path:
    """A standalone checkpoint (the run format's ``G.`` tensors and metadata) that
    ``load_translator(checkpoint=path)`` reads: for export, and for tests before runs exist."""
    path = Path(path)
    tensors = {f"G.{k}": v.detach().contiguous().cpu() for k, v in G.state_dict().items()}
    info = {"format": CHECKPOINT_FORMAT, "step": step, "model": config.get("model"), "config": config, **meta}
    atomic_write_bytes(path, st_save(tensors, metadata={"gan_studio": json.dumps(info, default=str)}))
    return path


# ---- inputs and outputs ---------------------------------------------------------------------------
def read_input(path: Path, cap: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of one regular file, at most ``cap`` (symlinks and special files refused)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise TranslateError(f"cannot read {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise TranslateError(f"{path} is not a regular file")
        data = f.read(cap + 1)
    if len(data) > cap:
        raise TranslateError(f"{path} is over the {cap // 1024**2} MiB input limit")
    return data


def on_paper(image: Image.Image, paper: int) -> Image.Image:
    """A transparent image composited on a plain background of grey level ``paper``
    (other images unchanged)."""
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (paper, paper, paper, 255)), rgba).convert("RGB")
    return image


def decode_input(data: bytes, name: str, paper: int = 0) -> Image.Image:
    """Untrusted image bytes (a file, an upload), decoded safely ("L" or "RGB", transparency on
    ``paper``), or a ``TranslateError`` saying why not."""
    if len(data) > MAX_INPUT_BYTES:
        raise TranslateError(f"{name} is over the {MAX_INPUT_BYTES // 1024**2} MiB input limit")
    try:
        with open_untrusted(data) as im:  # any Pillow failure inside becomes SkipFile
            im.load()
            return to_l_or_rgb(on_paper(im, paper))
    except SkipFile as exc:
        raise TranslateError(f"{name}: {exc}") from None


def open_input(path: Path, paper: int = 0) -> Image.Image:
    """One untrusted image file (see ``decode_input``)."""
    return decode_input(read_input(path), path.name, paper)


def output_names(rels: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Output paths for input paths (rules in the module docstring)."""
    pngs = [r[:-1] + (str(Path(r[-1]).with_suffix(".png")),) for r in rels]
    count = Counter(tuple(p.lower() for p in s) for s in pngs)
    return [s if count[tuple(p.lower() for p in s)] == 1 or s == r else r[:-1] + (r[-1] + ".png",)
            for r, s in zip(rels, pngs)]


def provenance(translator: Translator, source_name: str, reverse: bool) -> dict[str, str]:
    """PNG text chunks: the keys of Generate's exports plus the source image and direction."""
    return {"synthetic": "true", "software": "GAN Studio", **translator.info,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "source_image": source_name,
            "direction": "B->A" if reverse else "A->B"}


def write_output(translator: Translator, image: Image.Image, dst: Path, source_name: str, reverse: bool) -> Path:
    out = translator.translate_image(image, reverse)
    dst.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(dst, png_bytes(out, provenance(translator, source_name, reverse)))
    os.chmod(dst, 0o666 & ~current_umask())  # mkstemp's 0600 made outputs private; sample's are not
    return dst


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file or folder (links and ``..`` resolved)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return Path(a).resolve() == Path(b).resolve()


def translate_file(translator: Translator, src: Path, out: Path, reverse: bool = False) -> Path:
    """One image; ``out`` is a file, or an existing folder (then the output keeps the name).
    An output that would replace its own input is refused: ``--out`` set to the input's
    folder turned ``a.png`` into its translation, and the drawing was gone."""
    image = open_input(Path(src), translator.paper)
    dst = out / output_names([(Path(src).name,)])[0][0] if out.is_dir() else out
    if not out.is_dir() and dst.suffix and dst.suffix.lower() != ".png":  # painted.jpg held PNG bytes
        raise TranslateError(f"--out {out}: translations are written as PNG (with their provenance); "
                             "name the file .png, or give a folder")
    if same_file(dst, src):
        raise TranslateError(f"the output {dst} is the input itself: writing it would replace {Path(src).name}; "
                             "choose another --out")
    if out.is_dir() and same_file(out, Path(src).parent) and dst.exists():  # shoe.jpg -> the user's shoe.png
        raise TranslateError(f"--out {out} is the input's folder and already holds {dst.name}; choose another --out")
    return write_output(translator, image, dst, Path(src).name, reverse)


def translate_folder(translator: Translator, folder: Path, out: Path, reverse: bool = False,
                     max_files: int = Limits().max_files) -> tuple[list[Path], list[tuple[str, str]]]:
    """Every image directly in ``folder``; returns (written, skipped (name, reason)).
    Hidden files, subfolders, symlinks and special files are skipped, each with its reason."""
    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise TranslateError(f"{folder} is not a folder")
    if out.exists() and not out.is_dir():
        raise TranslateError(f"--image-dir needs --out to be a folder; {out} is a file")
    if same_file(out, folder):  # every PNG input would be replaced by its translation
        raise TranslateError(f"--out {out} is the input folder: the translations would replace its PNG images; "
                             "choose another folder")
    files, skipped = [], []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.startswith(".") or entry.name.lower() in ("thumbs.db", "desktop.ini", "__macosx"):
            skipped.append((entry.name, HIDDEN))
        elif entry.is_symlink():
            skipped.append((entry.name, "symlink not followed"))
        elif entry.is_dir(follow_symlinks=False):
            skipped.append((entry.name, "a folder: only the images directly in --image-dir are translated"))
        elif not entry.is_file(follow_symlinks=False):
            skipped.append((entry.name, "not a regular file"))
        else:
            files.append(entry.name)
        if max_files is not None and len(files) > max_files:
            raise TranslateError(f"{folder} holds over {max_files} files; translate it in parts")
    written = []
    for name, dst in zip(files, output_names([(f,) for f in files])):
        try:
            image = open_input(folder / name, translator.paper)
        except TranslateError as exc:
            skipped.append((name, str(exc).removeprefix(f"{name}: ")))
            continue
        written.append(write_output(translator, image, out / dst[0], name, reverse))
    if not written and not any(reason != HIDDEN for _, reason in skipped):
        raise TranslateError(f"no images in {folder}")
    return written, skipped


def translate_to_zip(translator: Translator, files: list[tuple[str, bytes]], reverse: bool = False,
                     max_files: int = MAX_BATCH_FILES) -> tuple[bytes, list[str], list[tuple[str, str]]]:
    """Uploaded files -> (a ZIP of one provenance-tagged PNG per readable input, named as the CLI
    names them, the names written, skipped (name, reason)). Memory stays bounded: each input
    is capped (``MAX_INPUT_BYTES``) and the outputs are model-sized PNGs."""
    if len(files) > max_files:
        raise TranslateError(f"{len(files)} files: translate at most {max_files} at once")
    names = [Path(name).name or "image" for name, _ in files]
    buffer, written, skipped = io.BytesIO(), [], []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (_, data), dst in zip(names, files, output_names([(n,) for n in names])):
            try:
                image = decode_input(data, name, translator.paper)
            except TranslateError as exc:
                skipped.append((name, str(exc).removeprefix(f"{name}: ")))
                continue
            out = translator.translate_image(image, reverse)
            archive.writestr(dst[0], png_bytes(out, provenance(translator, name, reverse)))
            written.append(dst[0])
    return buffer.getvalue(), written, skipped


def held_out_example(cfg, index: int, reverse: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A held-out input of a run's own data ([1, C, R, R]) and, for pix2pix, its real target:
    the test split's image ``index`` modulo its size (the training split's when the set has
    no test split)."""
    why = ""  # the loader's reason: a set moved or deleted since training read "no held-out image 0"
    for split in ("test", "train"):
        try:
            if cfg.model == "cyclegan":
                a, b = domains(cfg.data, cfg.domain_a, cfg.domain_b, cfg.resolution, cfg.channels, split, cfg.seed)
                source = b if reverse else a
                return source[index % len(source)][None], None
            if cfg.paired_transform == "folder":
                pairs = load_paired_folder(cfg.data, cfg.resolution, cfg.channels, split=split)
                i = index % len(pairs)
                return pairs.a[i:i + 1], pairs.b[i:i + 1]
            images = load_dataset(cfg.data, cfg.resolution, cfg.channels, split=split, seed=cfg.seed,
                                  limit=index + 1).images
            if len(images):  # fewer than index + 1: the whole split, so wrap as the branches above do
                i = index % len(images)  # (past the end, a training image was shown as held out)
                target = images[i:i + 1]
                return paired_input(target, cfg.paired_transform, [i]), target
        except (DatasetError, ValueError) as exc:
            why = f": {exc}"
            continue
    raise TranslateError(f"no held-out image {index} in {cfg.data}{why}")
