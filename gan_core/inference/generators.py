"""Load a trained generator and make images from it.

Every image comes from its own seed (``z = N(0, I)`` drawn by ``torch.Generator(seed)``),
so any image of a grid can be regenerated alone from the seed printed under it.
"""
from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, PngImagePlugin

from gan_core.config import TrainConfig
from gan_core.inference.animation import slerp
from gan_core.inference.checkpoint_checks import check_fits, checked_classes, checked_config, checked_step
from gan_core.models.image import truncated_normal
from gan_core.models.stylegan2 import StyleGenerator, mix_styles
from gan_core.runs.rundir import CheckpointError, RunDir, load_checkpoint_file
from gan_core.runtypes.registry import build_discriminator, build_generator
from gan_core.torch_utils.vision import torchvision


@dataclass
class LoadedGenerator:
    G: torch.nn.Module
    config: TrainConfig
    classes: list[str]
    step: int
    source: str  # run name or file path
    weights: str  # "ema" or "raw"
    meta: dict[str, Any] = field(default_factory=dict)
    D: torch.nn.Module | None = None  # loaded on request (restoration priors use it)

    @property
    def device(self) -> torch.device:
        return next(self.G.parameters()).device

    @property
    def conditional(self) -> bool:
        return bool(self.classes) and self.config.conditional


def load_generator(run: str | None = None, checkpoint: str | Path | None = None, *, ema: bool = True,
                   device: str | torch.device = "cpu", with_discriminator: bool = False,
                   root: Path | None = None) -> LoadedGenerator:
    """G from a run's newest checkpoint, a named checkpoint of a run, or a standalone file.

    ``checkpoint`` may be a path, or (with ``run``) a file name or step number inside the run.
    EMA weights are used when the checkpoint has them and ``ema`` is true.
    """
    if run is None and checkpoint is None:
        raise CheckpointError("give a run name, a checkpoint file, or both")
    run_dir = RunDir.open(run, root) if run else None
    path = _resolve_checkpoint(run_dir, checkpoint)
    tensors, meta = load_checkpoint_file(path)
    if run_dir is not None:
        cfg = run_dir.config()
    else:
        cfg = checked_config(meta, path.name, "give --run to take the architecture from a run")
    step = checked_step(meta, path.name)
    classes = checked_classes(meta, path.name) or (run_dir and _classes_of(run_dir)) or []
    n_classes = len(classes) if cfg.conditional else 0
    state, used = _generator_state(tensors, ema)
    check_fits(lambda: build_generator(cfg, n_classes), state, path.name, "generator")  # before any allocation
    G = build_generator(cfg, n_classes)
    G.load_state_dict(state)
    D = None
    if with_discriminator:
        d_state = {k[2:]: v for k, v in tensors.items() if k.startswith("D.")}
        if d_state:
            check_fits(lambda: build_discriminator(cfg, n_classes), d_state, path.name, "discriminator")
            D = build_discriminator(cfg, n_classes)
            D.load_state_dict(d_state)
            D.to(device).eval()
    G.to(device, memory_format=torch.channels_last).eval()  # faster convolutions on CPU and GPU
    return LoadedGenerator(G, cfg, list(classes), step, run or str(path), used, meta, D)


def _resolve_checkpoint(run_dir: RunDir | None, checkpoint: str | Path | None) -> Path:
    if checkpoint is None:
        best = run_dir.latest_checkpoint()
        if best is None:
            raise CheckpointError(f"run {run_dir.name} has no checkpoint yet: wait for the first one (every checkpoint_every steps)")
        return best.weights
    text = str(checkpoint)
    if run_dir is not None and text.isdigit():
        found = [c for c in run_dir.checkpoints() if c.step == int(text)]
        if not found:
            raise CheckpointError(f"run {run_dir.name} has no checkpoint at step {text}")
        return found[0].weights
    if run_dir is not None and text == "best":
        best = run_dir.best_checkpoint()
        if best is None:
            raise CheckpointError(f"run {run_dir.name} has no checkpoint marked best yet")
        return best.weights
    path = Path(text)
    if run_dir is not None and not path.exists() and (run_dir.weights_dir / path.name).exists():
        path = run_dir.weights_dir / path.name
    if not path.is_file():
        raise CheckpointError(f"checkpoint {text} not found")
    return path


def _classes_of(run_dir: RunDir) -> list[str]:
    latest = run_dir.latest_checkpoint()
    return list(latest.meta.get("classes", [])) if latest else []


def _generator_state(tensors: dict[str, torch.Tensor], ema: bool) -> tuple[dict[str, torch.Tensor], str]:
    for prefix, name in ((("G_ema.", "ema"), ("G.", "raw")) if ema else (("G.", "raw"),)):
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if state:
            return state, name
    return tensors, "raw"  # a bare generator state dict


# ---- generating -------------------------------------------------------------------------
def latents_for_seeds(seeds: list[int], z_dim: int, truncation: float | None = None) -> torch.Tensor:
    return torch.cat([truncated_normal((1, z_dim), torch.Generator().manual_seed(int(s)), truncation) for s in seeds])


def class_labels(loaded: LoadedGenerator, n: int, class_index: int | None) -> torch.Tensor | None:
    """The class of each image: the asked one, or every class in turn."""
    if not loaded.conditional:
        return None
    k = len(loaded.classes)
    if class_index is not None:
        return torch.full((n,), int(class_index), dtype=torch.long)
    return torch.arange(n) % k


def is_style_based(loaded: LoadedGenerator) -> bool:
    """A generator with a W space (StyleGAN2): truncation happens there (psi toward the mean w)
    and styles can be mixed. Asked of the network, not the model's name, so the registry stays
    the one place that names run types."""
    return isinstance(loaded.G, StyleGenerator)


def check_psi(truncation: float | None) -> float:
    """StyleGAN's truncation psi: 1 (or None) = none, 0 = the mean image for every seed."""
    if truncation is None:
        return 1.0
    if not 0.0 <= truncation <= 1.0:
        raise ValueError(f"truncation for stylegan2 is psi from 0 (the mean image) to 1 (none), got {truncation:g}")
    return float(truncation)


def check_z_truncation(truncation: float | None) -> float | None:
    """BigGAN's truncation T for z models: z redrawn into [-T, T]. A T of 0 or below was taken
    as none without a word (a user asking a DCGAN for its "mean image" with 0 got full variety)."""
    if truncation is not None and not truncation > 0:
        raise ValueError(f"truncation for a z-space model is T > 0 (z kept in [-T, T], e.g. 0.7), got {truncation:g}; "
                         "leave it out for none (0 means the mean image only for stylegan2 runs)")
    return truncation


@torch.no_grad()
def generate(loaded: LoadedGenerator, seeds: list[int], class_index: int | None = None,
             truncation: float | None = None, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Images [N, C, H, W] in [-1, 1], one per seed (CPU tensor). ``truncation``: z to
    [-T, T] for most models; for stylegan2 psi, the pull toward the mean w (see ``check_psi``)."""
    if class_index is not None and loaded.conditional and not 0 <= class_index < len(loaded.classes):
        raise ValueError(f"class index {class_index} is out of range 0..{len(loaded.classes) - 1}")
    y = labels if labels is not None else class_labels(loaded, len(seeds), class_index)
    y = y.to(loaded.device) if y is not None and loaded.conditional else None
    if is_style_based(loaded):
        z = latents_for_seeds(seeds, loaded.config.z_dim).to(loaded.device)
        return loaded.G(z, y, truncation_psi=check_psi(truncation)).float().cpu().clamp(-1, 1)
    z = latents_for_seeds(seeds, loaded.config.z_dim, check_z_truncation(truncation)).to(loaded.device)
    return loaded.G(z, y).float().cpu().clamp(-1, 1)


@torch.no_grad()
def style_ws(loaded: LoadedGenerator, seeds: list[int], class_index: int | None = None,
             truncation: float | None = None) -> torch.Tensor:
    """Per-layer styles [N, num_ws, w_dim] of a stylegan2 run for the seeds."""
    if not is_style_based(loaded):
        raise ValueError(f"style mixing and W interpolation need a stylegan2 run, not {loaded.config.model}")
    z = latents_for_seeds(seeds, loaded.config.z_dim).to(loaded.device)
    y = class_labels(loaded, len(seeds), class_index if class_index is not None else 0)  # one class for all
    return loaded.G.ws(z, y.to(loaded.device) if y is not None else None, check_psi(truncation))


@torch.no_grad()
def style_mix(loaded: LoadedGenerator, seed_a: int, seed_b: int, cutoff: int, class_index: int | None = None,
              truncation: float | None = None) -> torch.Tensor:
    """One image [C, H, W]: layers before ``cutoff`` (coarse: layout, pose) from seed A,
    the rest (fine: colours, texture) from seed B. ``cutoff`` in 1..num_ws-1."""
    ws = style_ws(loaded, [seed_a, seed_b], class_index, truncation)
    if not 0 <= cutoff <= ws.shape[1]:
        raise ValueError(f"cutoff must be from 0 to {ws.shape[1]} (the generator's style layers), got {cutoff}")
    mixed = mix_styles(ws[0:1], ws[1:2], cutoff)
    return loaded.G.synthesis(mixed, "const").float().cpu().clamp(-1, 1)[0]


@torch.no_grad()
def interpolate_w(loaded: LoadedGenerator, seed_a: int, seed_b: int, frames: int, class_index: int | None = None,
                  truncation: float | None = None) -> torch.Tensor:
    """``frames`` images [F, C, H, W] along the straight line from seed A's w to seed B's
    (W is where StyleGAN's latent space is linear enough to walk straight)."""
    ws = style_ws(loaded, [seed_a, seed_b], class_index, truncation)
    t = torch.linspace(0, 1, frames, device=ws.device)[:, None, None]
    path = ws[0:1].lerp(ws[1:2], t)
    return loaded.G.synthesis(path, "const").float().cpu().clamp(-1, 1)


@torch.no_grad()
def interpolate(loaded: LoadedGenerator, seed_a: int, seed_b: int, frames: int, class_index: int | None = None,
                truncation: float | None = None) -> torch.Tensor:
    """``frames`` images [F, C, H, W] from seed A to seed B: a straight line in W for a
    stylegan2 run, the great circle between the two z otherwise (z is Gaussian: a straight
    line through the middle would pass through unlikely, low-norm latents). Conditional runs
    stay in one class (the first when none is asked). Generate, the report and ``sample
    --interpolate`` all walk this way."""
    if frames < 2:
        raise ValueError(f"an interpolation needs at least 2 frames, got {frames}")
    if is_style_based(loaded):
        return interpolate_w(loaded, seed_a, seed_b, frames, class_index, truncation)
    z = latents_for_seeds([seed_a, seed_b], loaded.config.z_dim, check_z_truncation(truncation))
    zs = torch.cat([slerp(z[0:1], z[1:2], t / (frames - 1)) for t in range(frames)])
    y = torch.full((frames,), class_index or 0, dtype=torch.long, device=loaded.device) if loaded.conditional else None
    return loaded.G(zs.to(loaded.device), y).float().cpu().clamp(-1, 1)


def resolve_class(value: str | int | None, classes: list[str]) -> int | None:
    """A class index from an index, an exact name, or free words ("a bag", "sneakers")."""
    if value is None or value == "":
        return None
    if not classes:
        raise ValueError("this generator is unconditional: it takes no class")
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        index = int(text)
        if not 0 <= index < len(classes):
            raise ValueError(f"class index {index} is out of range 0..{len(classes) - 1}")
        return index
    index = class_from_text(text, classes)
    if index is None:
        raise ValueError(f"no class matches {text!r}; classes: {', '.join(classes)}")
    return index


_SYNONYMS = {
    "t-shirt/top": ["t-shirt", "tshirt", "tee", "top", "t shirt"],
    "trouser": ["trousers", "pants", "jeans", "slacks"],
    "pullover": ["sweater", "jumper", "hoodie", "sweatshirt"],
    "dress": ["gown", "frock"],
    "coat": ["jacket", "parka", "overcoat"],
    "sandal": ["sandals", "flip-flop", "flip flops"],
    "shirt": ["blouse", "button-down"],
    "sneaker": ["sneakers", "trainer", "trainers", "running shoe", "shoe", "shoes"],
    "bag": ["handbag", "purse", "backpack", "tote"],
    "ankle boot": ["boot", "boots", "ankle boots"],
    "circle": ["circles", "round", "disc", "disk", "ball"],
    "square": ["squares", "box", "rectangle"],
    "triangle": ["triangles"],
}


def class_from_text(text: str, classes: list[str]) -> int | None:
    """A tiny text-to-class mapper: names, each half of an "A & B" name (emoji's groups),
    singulars, plurals and everyday synonyms, longest match first."""
    words = f" {_words(text)} "
    candidates: list[tuple[int, int]] = []  # (length of the matched phrase, class index)
    for index, name in enumerate(classes):
        for phrase in _phrases(name):
            if f" {phrase} " in words:
                candidates.append((len(phrase), index))
    return max(candidates)[1] if candidates else None


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9/ -]+", " ", text.lower()).split())


def _phrases(name: str) -> set[str]:
    phrases = set(_SYNONYMS.get(name.lower(), []))
    for part in {_words(name), *(_words(half) for half in name.split("&"))} - {""}:
        phrases |= {part, part + "s", part.removesuffix("s")}
    return phrases


# ---- files ------------------------------------------------------------------------------
def to_pil(image: torch.Tensor) -> Image.Image:
    array = ((image.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array, "L" if array.shape[2] == 1 else "RGB")


def provenance(loaded: LoadedGenerator, seed: int | None, class_index: int | None = None, **extra: Any) -> dict[str, str]:
    info = {
        "synthetic": "true", "software": "GAN Studio", "model": loaded.config.model, "run": str(loaded.source),
        "checkpoint_step": str(loaded.step), "weights": loaded.weights,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if seed is not None:
        info["seed"] = str(seed)
    if class_index is not None and loaded.classes:
        info["class"] = f"{class_index}:{loaded.classes[class_index]}"
    info.update({k: str(v) for k, v in extra.items()})
    return info


def png_bytes(image: Image.Image, text: dict[str, str] | None = None) -> bytes:
    """PNG with tEXt provenance chunks."""
    meta = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        meta.add_text(key, value)
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=meta)
    return buf.getvalue()


def sample_file_name(seed: int, class_index: int | None) -> str:
    return f"{class_index}_{seed:05d}.png" if class_index is not None else f"{seed:05d}.png"


def write_samples(loaded: LoadedGenerator, out: Path, n: int, seed: int = 0, class_index: int | None = None,
                  truncation: float | None = None, batch: int = 256) -> list[Path]:
    """N PNGs with seeds seed..seed+n-1 in ``out``; conditional names start with the class index."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    labels = class_labels(loaded, n, class_index)
    for start in range(0, n, batch):
        seeds = list(range(seed + start, seed + min(n, start + batch)))
        chunk_labels = labels[start:start + len(seeds)] if labels is not None else None
        images = generate(loaded, seeds, truncation=truncation, labels=chunk_labels)
        for i, s in enumerate(seeds):
            c = int(chunk_labels[i]) if chunk_labels is not None else None
            path = out / sample_file_name(s, c)
            path.write_bytes(png_bytes(to_pil(images[i]), provenance(loaded, s, c, truncation="none" if truncation is None else truncation)))
            written.append(path)
    return written


def image_grid(images: torch.Tensor, nrow: int) -> Image.Image:
    grid = torchvision.utils.make_grid(images, nrow=nrow, normalize=True, value_range=(-1, 1), pad_value=1.0)
    array = (grid * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(np.ascontiguousarray(array), "RGB")


def import_checkpoint(path: Path, name: str, root: Path | None = None) -> RunDir:
    """Turn a checkpoint file from elsewhere into a run folder (state ``imported``), so the
    pages and commands use it like any run. It is loaded first (never unpickled) and its
    generator checked against its own config; nothing is created if that fails."""
    path = Path(path)
    tensors, meta = load_checkpoint_file(path)
    cfg = checked_config(meta, path.name, "sample it with `python -m gan_core sample --run RUN --checkpoint FILE` instead")
    step = checked_step(meta, path.name)
    classes = checked_classes(meta, path.name)
    state, _ = _generator_state(tensors, ema=True)
    check_fits(lambda: build_generator(cfg, len(classes) if cfg.conditional else 0), state, path.name, "generator")
    run = RunDir.create(name, cfg.replace(init_from=""), root)
    try:
        run.save_checkpoint(step, tensors, {**meta, "imported_from": path.name})
        run.write_status(state="imported", step=step, imported_from=path.name)
    except BaseException:
        run.delete()  # a full disk must not leave a run without its checkpoint
        raise
    run.log(f"imported from {path.name} (step {step})")
    return run
