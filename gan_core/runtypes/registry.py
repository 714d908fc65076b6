"""The run types: one table says, for each ``--model``, what it is and how to build, train and
sample it. The config's choices and rules, the loop, sampling, metrics, restoration and the
Train page all look a run type up here instead of naming models.

Adding a run type is one module (its task, plus networks in ``models/``) and one entry:
``register(RunType(...))`` from that module's user, or a line in ``BUILTIN`` below.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from torch import nn

from gan_core.data.importer import BUILTIN_DATASETS
from gan_core.models import image, restoration, stylegan2, video
from gan_core.runtypes.image import ImageTask
from gan_core.runtypes.restoration import InpaintTask, SRTask
from gan_core.runtypes.translation import (
    CycleTask,
    PairedTask,
    cyclegan_networks,
    pix2pix_networks,
)
from gan_core.runtypes.video import VideoTask

KINDS = ("image", "video", "restoration", "translation")
Problem = tuple[str, str]  # (config field, message)


@dataclass(frozen=True)
class RunType:
    name: str  # the --model value
    kind: str  # one of KINDS
    description: str  # one line, for --help and the Train page
    task: Callable[..., Any]  # task(cfg, device, rank): G, D, data, loss (see runtypes.base.Task)
    build_generator: Callable[[Any, int], nn.Module]  # (cfg, num_classes) -> G, for loading checkpoints
    build_discriminator: Callable[[Any, int], nn.Module]
    # Config fields that only some run types use (see config.fields: ``specific``) and that
    # this one does; and general fields that this one ignores (hidden on the Train page).
    fields: tuple[str, ...] = ()
    ignores: tuple[str, ...] = ()
    resolutions: tuple[int, ...] | None = None  # allowed image sizes (powers of two); None: 8 to 128
    class_norm: bool = False  # G offers per-class batch norm (g_norm "conditional")
    sample: str | None = "image"  # what noise turns into: "image" (PNGs), "clip" (GIFs), None (it restores or translates)
    evaluable: bool = False  # FID & co. against the held-out split apply
    restores: str | None = None  # "inpaint" / "superres": what a trained run of this type repairs
    check: Callable[[Any], list[Problem]] | None = None  # rules between fields, on a typed config
    # What the rows of its fixed progress grid hold, when they are not samples from fixed noise
    # (a translation run's: held-out images and their translations); Monitor and the report say it.
    grid_rows: str | None = None


def _srgan_check(cfg) -> list[Problem]:
    if cfg.resolution // cfg.scale < 4:
        return [("scale", f"x{cfg.scale} from {cfg.resolution} px leaves under 4 px of input")]
    return []


def _pix2pix_check(cfg) -> list[Problem]:
    if cfg.paired_transform == "grey" and cfg.channels != 3:
        return [("paired_transform", "grey (colourisation) needs an RGB set: use channels 3")]
    if cfg.paired_transform == "folder" and cfg.data in BUILTIN_DATASETS:  # (the run failed: "shapes does not exist")
        return [("paired_transform", f"folder reads real pairs from a folder, .zip or imported set; {cfg.data} is a "
                 "built-in set of single images: use edges, grey, lowres or masked")]
    return []


def _cyclegan_check(cfg) -> list[Problem]:
    if not cfg.domain_a.strip() or not cfg.domain_b.strip():
        return [("domain_a" if not cfg.domain_a.strip() else "domain_b",
                 ("cyclegan needs two domains: two class names of the data set (e.g. --domain-a sneaker "
                  "--domain-b 'ankle boot' on fashion-mnist) or two folders / imported sets"))]
    if cfg.domain_a.strip().lower() == cfg.domain_b.strip().lower():
        return [("domain_b", f"must differ from domain_a ({cfg.domain_a!r})")]
    return []


def _translation_check(check):
    def run(cfg) -> list[Problem]:
        found = [(name, f"is not used by {cfg.model} (its own losses and networks)")
                 for name, off in (("conditional", cfg.conditional), ("augment", cfg.augment)) if off]
        return found + check(cfg)
    return run


def _first(networks):
    return lambda cfg, num_classes: networks(cfg, num_classes)[0]


def _second(networks):
    return lambda cfg, num_classes: networks(cfg, num_classes)[1]


_CONV = (16, 32, 64, 128)
_ADA = ("ada_target", "ada_kimg")  # image GANs only (config.checks refuses --augment ada elsewhere)
_RESTORATION_IGNORES = ("z_dim", "conditional", "g_norm", "d_norm", "spectral_norm", "eval_every", "eval_samples",
                        *_ADA)
BUILTIN = (
    RunType("mlp", "image", "the original 2014 fully-connected GAN", partial(ImageTask, networks=image.build_mlp),
            _first(image.build_mlp), _second(image.build_mlp), evaluable=True),
    RunType("dcgan", "image", "convolutional GAN (recommended)", partial(ImageTask, networks=image.build_dcgan),
            _first(image.build_dcgan), _second(image.build_dcgan), fields=("minibatch_std",), resolutions=_CONV,
            class_norm=True, evaluable=True),
    RunType("stylegan2", "image", "style-based GAN for colour images, 16-256 px (StyleGAN2)",
            partial(ImageTask, networks=stylegan2.build_stylegan2), _first(stylegan2.build_stylegan2),
            _second(stylegan2.build_stylegan2), fields=("mapping_layers", "style_mixing", "max_channels"),
            ignores=("g_norm", "d_norm", "spectral_norm"), resolutions=(16, 32, 64, 128, 256), evaluable=True),
    RunType("srgan", "restoration", "super-resolution model (SRResNet G, PatchGAN D)", SRTask,
            restoration.build_sr_generator, restoration.build_patch_discriminator, fields=("scale",),
            ignores=_RESTORATION_IGNORES, resolutions=_CONV, sample=None, restores="superres", check=_srgan_check),
    RunType("inpaint-gan", "restoration", "inpainting model (U-Net G, PatchGAN D)", InpaintTask,
            restoration.build_inpaint_generator, restoration.build_patch_discriminator, ignores=_RESTORATION_IGNORES,
            resolutions=_CONV, sample=None, restores="inpaint"),
    RunType("dvdgan", "video", "video GAN: clips, with a spatial and a temporal critic", VideoTask,
            video.build_generator, video.build_discriminator, fields=("frames",), ignores=("eval_every", "eval_samples", *_ADA),
            resolutions=_CONV, class_norm=True, sample="clip"),
)
# Translation keeps its papers' own losses, norms and networks: the image GANs' knobs do not apply.
_TRANSLATION_IGNORES = ("z_dim", "conditional", "g_norm", "d_norm", "spectral_norm", "loss", "r1_gamma", "r2_gamma", "gp_weight",
                        "augment", "eval_every", "eval_samples")
BUILTIN += (
    RunType("pix2pix", "translation", "paired image-to-image translation (U-Net G, PatchGAN D on input+output)",
            PairedTask, _first(pix2pix_networks), _second(pix2pix_networks), fields=("paired_transform", "lambda_l1"),
            ignores=_TRANSLATION_IGNORES, resolutions=_CONV, sample=None, check=_translation_check(_pix2pix_check),
            grid_rows="input · output · target"),
    RunType("cyclegan", "translation", "unpaired translation between two domains (two ResNet Gs, two PatchGANs)",
            CycleTask, _first(cyclegan_networks), _second(cyclegan_networks),
            fields=("domain_a", "domain_b", "lambda_cycle", "lambda_identity"), ignores=_TRANSLATION_IGNORES,
            resolutions=_CONV, sample=None, check=_translation_check(_cyclegan_check),
            grid_rows="A · A→B · back to A, then B · B→A · back to B"),
)
_TABLE: dict[str, RunType] = {rt.name: rt for rt in BUILTIN}


def register(run_type: RunType) -> RunType:
    """Add a run type (a new ``--model``); refuses a name in use or an unknown kind."""
    if run_type.name in _TABLE:
        raise ValueError(f"run type {run_type.name!r} is registered already")
    if run_type.kind not in KINDS:
        raise ValueError(f"run type kind must be one of {', '.join(KINDS)}; got {run_type.kind!r}")
    _TABLE[run_type.name] = run_type
    return run_type


def unregister(name: str) -> None:
    """Take a registered run type out again (tests register their own)."""
    if any(rt.name == name for rt in BUILTIN):
        raise ValueError(f"{name!r} is built in")
    _TABLE.pop(name, None)


def names() -> tuple[str, ...]:
    return tuple(_TABLE)


def get(name: str) -> RunType:
    try:
        return _TABLE[name]
    except KeyError:
        raise ValueError(f"unknown run type {name!r}; known: {', '.join(_TABLE)}") from None


def of_kind(*kinds: str) -> tuple[str, ...]:
    return tuple(rt.name for rt in _TABLE.values() if rt.kind in kinds)


def grid_rows(name: str) -> str | None:
    """``RunType.grid_rows`` of model ``name`` (None for a name not registered here)."""
    return _TABLE[name].grid_rows if name in _TABLE else None


def kind_of(name: str) -> str:
    return get(name).kind


def task_for(cfg, device, rank: int = 0):
    return get(cfg.model).task(cfg, device, rank)


def build_generator(cfg, num_classes: int) -> nn.Module:
    return get(cfg.model).build_generator(cfg, num_classes)


def build_discriminator(cfg, num_classes: int) -> nn.Module:
    return get(cfg.model).build_discriminator(cfg, num_classes)
