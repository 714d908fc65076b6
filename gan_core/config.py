"""One typed training config, validated at the edge.

Every entry point (CLI flags, a ``--config`` file, the app's form) builds a
``TrainConfig`` through ``TrainConfig.from_dict`` so a bad value is refused once, with a
message that names the field and what is allowed.
"""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

MODELS = ("mlp", "dcgan", "stylegan2", "srgan", "inpaint-gan", "dvdgan")
IMAGE_GAN_MODELS = ("mlp", "dcgan", "stylegan2")
LOSSES = ("minimax", "nonsaturating", "lsgan", "hinge", "wgan-gp")
NORMS = ("batch", "none")
# conditional: per-class batch norm (dcgan, dvdgan); plain batch norm in an unconditional run
G_NORMS = ("batch", "conditional", "none")
DEVICES = ("auto", "cpu", "cuda", "mps")
# DiffAugment policies, or "ada" alone: adaptive discriminator augmentation (gan_core.ada)
AUGMENTS = ("color", "translation", "cutout", "ada")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ConfigError(ValueError):
    """A config value that is not allowed. ``field`` names the offending field."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass
class TrainConfig:
    # data
    data: str = "fashion-mnist"
    resolution: int = 32
    channels: int = 1
    conditional: bool = False
    # model
    model: str = "dcgan"
    z_dim: int = 100
    width: int = 64
    g_norm: str = "batch"
    d_norm: str = "batch"
    spectral_norm: bool = False
    minibatch_std: bool = False  # dcgan D: the batch's feature spread as an extra channel
    scale: int = 4  # srgan only
    frames: int = 8  # dvdgan only
    mapping_layers: int = 2  # stylegan2 only: FC layers z -> w
    style_mixing: float = 0.9  # stylegan2 only: share of training batches that mix two latents
    # loss
    loss: str = "nonsaturating"
    r1_gamma: float = 0.0
    r1_every: int = 1  # lazy R1 (StyleGAN2): the penalty every N steps, weighted xN
    gp_weight: float = 10.0
    d_steps: int = 1
    # optimiser
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    ema: bool = False
    ema_decay: float = 0.999
    augment: list[str] = field(default_factory=list)
    ada_target: float = 0.6  # augment ada: the r_t = E[sign D(real)] that p steers toward
    ada_kimg: float = 100.0  # augment ada: thousands of images for p to travel 0 -> 1
    # schedule
    steps: int = 1000
    minutes: float = 0.0  # > 0: wall-clock budget, overrides steps
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 1000
    eval_every: int = 0  # 0: no metrics inside the run
    eval_samples: int = 2000
    # hardware and reproducibility
    device: str = "auto"
    seed: int = 0
    bf16: bool = True  # autocast where the device computes bf16 natively (CUDA, AVX512-BF16/AMX CPUs)
    compile: bool = False
    cuda_graph: bool = True  # on CUDA, replay the whole step as one CUDA graph (image and video GANs)
    on_diverge: str = "stop"  # or "rollback": reload the last checkpoint, halve the lrs
    threads: int = 0  # 0: all cores
    # provenance
    init_from: str = ""
    preset: str = ""

    # ---- validation -------------------------------------------------------------
    def validate(self) -> "TrainConfig":
        _choice("model", self.model, MODELS)
        _choice("loss", self.loss, LOSSES)
        _choice("g_norm", self.g_norm, G_NORMS)
        _choice("d_norm", self.d_norm, NORMS)
        _choice("device", self.device, DEVICES)
        _choice("on_diverge", self.on_diverge, ("stop", "rollback"))
        if not self.data or not isinstance(self.data, str):
            raise ConfigError("data", "give a built-in data set name or a path")
        _int_range("channels", self.channels, 1, 3)
        if self.channels == 2:
            raise ConfigError("channels", "must be 1 (greyscale) or 3 (RGB), got 2")
        if self.model == "stylegan2":
            if self.resolution not in (16, 32, 64, 128, 256):
                raise ConfigError("resolution", f"must be a power of two from 16 to 256 for stylegan2, got {self.resolution}")
        elif self.model in ("dcgan", "srgan", "inpaint-gan", "dvdgan"):
            if self.resolution not in (16, 32, 64, 128):
                raise ConfigError(
                    "resolution", f"must be a power of two from 16 to 128 for {self.model}, got {self.resolution}"
                )
        else:
            _int_range("resolution", self.resolution, 8, 128)
        _int_range("z_dim", self.z_dim, 2, 1024)
        _int_range("width", self.width, 4, 1024)
        _int_range("d_steps", self.d_steps, 1, 20)
        _int_range("batch_size", self.batch_size, 2, 4096)
        _int_range("steps", self.steps, 1, 100_000_000)
        _int_range("log_every", self.log_every, 1, 1_000_000)
        _int_range("sample_every", self.sample_every, 1, 100_000_000)
        _int_range("checkpoint_every", self.checkpoint_every, 1, 100_000_000)
        _int_range("eval_every", self.eval_every, 0, 100_000_000)
        _int_range("eval_samples", self.eval_samples, 10, 100_000)
        _int_range("seed", self.seed, 0, 2**63 - 1)
        _int_range("threads", self.threads, 0, 1024)
        _int_range("frames", self.frames, 4, 32)
        _int_range("r1_every", self.r1_every, 1, 1000)
        _int_range("mapping_layers", self.mapping_layers, 1, 8)
        _float_range("style_mixing", self.style_mixing, 0.0, 1.0)
        _float_range("ada_target", self.ada_target, 0.0, 1.0, low_open=True, high_open=True)
        _float_range("ada_kimg", self.ada_kimg, 0.0, 1e6, low_open=True)
        if self.scale not in (2, 4):
            raise ConfigError("scale", f"must be 2 or 4, got {self.scale}")
        for name in ("lr_g", "lr_d"):
            _float_range(name, getattr(self, name), 0.0, 1.0, low_open=True)
        _float_range("beta1", self.beta1, 0.0, 1.0, high_open=True)
        _float_range("beta2", self.beta2, 0.0, 1.0, high_open=True)
        _float_range("ema_decay", self.ema_decay, 0.0, 1.0, high_open=True)
        _float_range("r1_gamma", self.r1_gamma, 0.0, 1e4)
        _float_range("gp_weight", self.gp_weight, 0.0, 1e4)
        _float_range("minutes", self.minutes, 0.0, 60 * 24 * 30)
        bad = [a for a in self.augment if a not in AUGMENTS]
        if bad:
            raise ConfigError("augment", f"unknown policy {bad[0]!r}; allowed: {', '.join(AUGMENTS)}")
        if "ada" in self.augment and len(self.augment) > 1:
            raise ConfigError("augment", "'ada' is its own pipeline: use it alone, or DiffAugment's color,translation,cutout")
        if "ada" in self.augment and self.model not in IMAGE_GAN_MODELS:
            raise ConfigError("augment", f"'ada' is for image GANs ({', '.join(IMAGE_GAN_MODELS)}), not {self.model}")
        if self.model == "dcgan" and self.resolution > 128:
            raise ConfigError("resolution", "DCGAN goes up to 128")
        if self.model == "srgan" and self.resolution // self.scale < 4:
            raise ConfigError("scale", f"x{self.scale} from {self.resolution} px leaves under 4 px of input")
        if self.g_norm == "conditional" and self.model not in ("dcgan", "dvdgan"):
            raise ConfigError("g_norm", f"'conditional' batch norm is for dcgan and dvdgan, not {self.model}; use 'batch'")
        if self.minibatch_std and self.model != "dcgan":
            raise ConfigError("minibatch_std", "is a dcgan discriminator option")
        if self.loss == "wgan-gp" and self.d_norm == "batch":
            raise ConfigError("d_norm", "wgan-gp's gradient penalty is per sample: use d_norm 'none' with it")
        if self.init_from and not NAME_PATTERN.match(self.init_from):
            raise ConfigError("init_from", "must be the name of an existing run")
        return self

    # ---- (de)serialisation ------------------------------------------------------
    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Build and validate from loose values (strings from a form or file are coerced)."""
        if not isinstance(values, dict):
            raise ConfigError("config", "must be a mapping of field names to values")
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, raw in values.items():
            name = str(key).replace("-", "_")
            if name not in known:
                raise ConfigError(str(key) or "(empty field name)", f"unknown field; known fields: {', '.join(sorted(known))}")
            kwargs[name] = _coerce(name, known[name], raw)
        return cls(**kwargs).validate()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> "TrainConfig":
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def save(self, path: Path) -> None:
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=2) if path.suffix == ".json" else yaml.safe_dump(self.to_dict(), sort_keys=False)
        path.write_text(text)

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        return cls.from_dict(read_config_values(path))

    @property
    def is_image_gan(self) -> bool:
        return self.model in IMAGE_GAN_MODELS


def read_config_values(path: Path) -> dict[str, Any]:
    """The values a YAML/JSON config file sets (possibly a few), not yet validated."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError("config", f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError("config", f"{path.name} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    values = values or {}
    if not isinstance(values, dict):
        raise ConfigError("config", f"{path.name} must hold a mapping of field names to values")
    return values


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(name, f"must be one of {', '.join(allowed)}; got {value!r}")


def _int_range(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(name, f"must be a whole number from {low} to {high}; got {value!r}")


def _float_range(name: str, value: Any, low: float, high: float, low_open=False, high_open=False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
        raise ConfigError(name, f"must be a number in {lo}{low}, {high}{hi}; got {value!r}")


def _coerce(name: str, f: dataclasses.Field, raw: Any) -> Any:
    """Turn strings and near-misses into the field's type; refuse what does not fit."""
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on"):
                return True
            if isinstance(raw, str) and raw.strip().lower() in ("0", "false", "no", "off", ""):
                return False
            if isinstance(raw, int) and raw in (0, 1):
                return bool(raw)
            raise ValueError
        if kind == "int":
            if isinstance(raw, bool):
                raise ValueError
            if isinstance(raw, float):
                if not raw.is_integer():
                    raise ValueError
                return int(raw)
            return int(str(raw).strip()) if isinstance(raw, str) else int(raw)
        if kind == "float":
            if isinstance(raw, bool):
                raise ValueError
            return float(raw)
        if kind == "str":
            if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
                raise ValueError
            return str(raw)
        if kind.startswith("list"):
            if raw is None:
                return []
            items = raw.split(",") if isinstance(raw, str) else raw
            if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
                raise ValueError
            return [i.strip() for i in items if i.strip()]
    except (ValueError, TypeError, OverflowError):
        pass
    raise ConfigError(name, f"expected {kind.replace('list[str]', 'a comma-separated list')}; got {raw!r}")


# ---- presets -----------------------------------------------------------------------
# The classic recipe (pytorch/examples dcgan: BCE, G trained against 'real' labels, i.e. the
# non-saturating loss), kept as the yardstick for benchmarks.
CLASSIC = dict(
    model="dcgan", width=64, z_dim=100, g_norm="batch", d_norm="batch", loss="nonsaturating",
    lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999, batch_size=64, ema=False, augment=[],
    spectral_norm=False, conditional=False,
)

# The studio's recipe: hinge loss with spectral norm in D (no BN there), a narrower net so a
# 2-core CPU makes many more steps, and TTUR-style learning rates. No weight EMA: with batch
# norm in G the averaged weights and the live BN statistics disagree, and measured on
# Fashion-MNIST the raw G scored clearly better (FID 1.7 vs 3.3, bench/results).
# Class-conditional (projection D) for most sets, so a user can ask for a class. Fashion-MNIST
# and MNIST train unconditionally by default: on Fashion-MNIST the projection D left G with
# little variety inside each class (recall 0.21 vs the unconditional recipe's 0.70, FID 1.38
# vs 0.95, bench/results/variants_w64_uncond.md); `--conditional` brings class control back.
STUDIO = dict(
    model="dcgan", width=32, z_dim=64, g_norm="batch", d_norm="none", loss="hinge",
    spectral_norm=True, conditional=True, lr_g=2e-4, lr_d=4e-4, beta1=0.0, beta2=0.9,
    batch_size=64, ema=False, ema_decay=0.999, augment=[],
    eval_every=2000, eval_samples=2000,  # FID & co. in the run (about 15-30 s each on 2 CPU cores)
)

# Colour images at 64 px, small sets, folders: StyleGAN2 with ADA (issue 18). Values follow
# stylegan2-ada's 'auto' config for 64 px (batch 32, lr 0.0025, Adam betas (0, 0.99),
# 2 mapping layers, R1 gamma 0.0002 * 64^2 / 32 ~ 0.025 every 16 steps, EMA half-life ~10k
# images) except the widths: width 64 (64 channels up to 16 px, 32 at 32 px, 16 at 64 px;
# G 0.34M, D 0.30M parameters) because on this 2-core CPU, one thread, width 64 trained
# 69 images/s against 21 at width 128 (scratch measurement, channels_last, idle core), and
# a 10-minute run must see tens of thousands of images. ADA's p may travel 0 -> 1 in 100k
# images (the paper's 500k is more than a 10-minute CPU run sees).
STYLEGAN2 = dict(
    model="stylegan2", width=64, z_dim=128, g_norm="none", d_norm="none", loss="nonsaturating",
    spectral_norm=False, conditional=True, lr_g=0.0025, lr_d=0.0025, beta1=0.0, beta2=0.99,
    batch_size=32, ema=True, ema_decay=0.998, r1_gamma=0.025, r1_every=16, augment=["ada"],
    ada_target=0.6, ada_kimg=100.0, mapping_layers=2, style_mixing=0.9, resolution=64, channels=3,
    eval_every=2000, eval_samples=2000,
)

# Data sets smaller than this get ADA (and the StyleGAN2 recipe) by default.
SMALL_SET = 10_000

PRESETS: dict[str, dict[str, Any]] = {
    "fashion-mnist": dict(STUDIO, data="fashion-mnist", resolution=32, channels=1, conditional=False),
    "mnist": dict(STUDIO, data="mnist", resolution=32, channels=1, conditional=False),
    "digits": dict(STUDIO, data="digits", resolution=16, channels=1, augment=["translation", "cutout"]),
    "shapes": dict(STUDIO, data="shapes", resolution=32, channels=3),
    "cifar10": dict(STUDIO, data="cifar10", resolution=32, channels=3, width=64),
    "classic": dict(CLASSIC, data="fashion-mnist", resolution=32, channels=1),
    "emoji": dict(STYLEGAN2, data="emoji"),
    # The folder recipe before issue 18 (DCGAN + DiffAugment), kept as the benchmark's yardstick.
    "dcgan-folder": dict(STUDIO, data="emoji", resolution=64, channels=3, augment=["color", "translation", "cutout"]),
    # Video: per-class batch norm in G held class and identity far better (bench/results/video.md).
    "moving-fashion": dict(STUDIO, data="moving-fashion", model="dvdgan", resolution=32, channels=1, frames=8,
                           batch_size=16, eval_every=0, g_norm="conditional"),
    "moving-shapes": dict(STUDIO, data="moving-shapes", model="dvdgan", resolution=32, channels=3, frames=8,
                          batch_size=16, eval_every=0, g_norm="conditional"),
}


def preset_for(data: str) -> dict[str, Any]:
    """The default values for a data set: its preset, or for folders and imported sets the
    StyleGAN2 + ADA recipe at 64 px (the sets people bring are colour and small)."""
    base = PRESETS.get(data, dict(STYLEGAN2, data=data))
    return dict(base, preset=data if data in PRESETS else "custom")
