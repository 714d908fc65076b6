"""One typed training config, validated at the edge.

Every entry point (CLI flags, a ``--config`` file, the app's form) builds a ``TrainConfig``
through ``TrainConfig.from_dict`` so a bad value is refused once, with a message that names
the field and what is allowed. Each field carries a ``FieldSpec`` (``config.fields``): its
label, help, group, allowed values and range; the rules live in ``config.checks``.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gan_core.config.checks import (
    AUGMENTS,
    DEVICES,
    G_NORMS,
    LOSSES,
    NAME_PATTERN,
    NORMS,
    ConfigError,
    coerce_all,
    problems_of,
)
from gan_core.config.fields import spec
from gan_core.config.presets import PRESETS
from gan_core.runtypes import registry

__all__ = ["AUGMENTS", "DEVICES", "G_NORMS", "LOSSES", "NAME_PATTERN", "NORMS", "ConfigError", "TrainConfig",
           "read_config_values"]


@dataclass
class TrainConfig:
    # data
    data: str = spec("fashion-mnist", "Data set", "The images to learn from: fashion-mnist (default), mnist, cifar10, "
                     "digits, shapes, emoji, an imported set's name, or a folder/.zip (data).", "Data", basic=True, form="data")
    resolution: int = spec(32, "Image size (px)", "Image size in pixels the GAN learns; a power of two from 16 to 128 "
                           "for the convolutional models, to 256 for stylegan2 (resolution).", "Data", form="select",
                           options=(16, 32, 64, 128, 256))
    channels: int = spec(1, "Colour channels", "1 = greyscale, 3 = RGB; colour sets can be learned in grey and vice "
                         "versa (channels).", "Data", low=1, high=3, form="select",
                         options=(1, 3))
    conditional: bool = spec(False, "One generator for all classes", "Class-conditional GAN (class embedding in G, "
                             "projection D): choose the class when generating (conditional).", "Data")
    # model
    model: str = spec("dcgan", "Model", "The run type (model).", "Model", basic=True, choices=registry.names)
    z_dim: int = spec(100, "Latent size", "Length of the noise vector G starts from (z_dim).", "Model", low=2, high=1024)
    width: int = spec(64, "Network width", "Base channel count: bigger = more capacity, slower; 64 is the classic "
                      "DCGAN (width).", "Model", low=4, high=1024)
    g_norm: str = spec("batch", "Generator normalisation", "batch | conditional (per-class gain and bias in a "
                       "conditional dcgan/dvdgan) | none (g_norm).", "Model", choices=G_NORMS)
    d_norm: str = spec("batch", "Discriminator normalisation", "batch | none (d_norm).", "Model", choices=NORMS)
    spectral_norm: bool = spec(False, "Spectral norm in the discriminator", "Spectral normalisation of D's layers "
                               "(spectral_norm).", "Model")
    minibatch_std: bool = spec(False, "Show D the batch's variety", "The dcgan D sees the batch's feature spread, "
                               "which discourages near-identical samples (minibatch_std).", "Model", specific=True)
    scale: int = spec(4, "Upscaling factor", "Super-resolution factor of an srgan run: 2 or 4 (scale).", "Model",
                      choices=(2, 4), specific=True)
    frames: int = spec(8, "Frames per clip", "Frames per clip of a video run (frames).", "Model", low=4, high=32,
                       specific=True)
    mapping_layers: int = spec(2, "Mapping layers", "Fully connected layers from z to the style vector w of a "
                               "stylegan2 run (mapping_layers).", "Model", low=1, high=8, specific=True)
    max_channels: int = spec(0, "Most channels", "Channel cap of a stylegan2 run at its coarse resolutions, where "
                             "a channel is cheap (channels = min(16 x width / size, cap)); 0 = the width "
                             "(max_channels).", "Model", low=0, high=1024, specific=True)
    style_mixing: float = spec(0.9, "Style mixing share", "Share of a stylegan2 run's training batches that mix two "
                               "latents, 0 = off (style_mixing).", "Model", low=0.0, high=1.0, specific=True)
    paired_transform: str = spec("edges", "Input made from each image", "How pix2pix makes its input from each "
                                 "image of the set: edges (an outline drawing, so you can draw one), grey "
                                 "(colourisation, RGB sets), lowres (4x blurred) or masked (a grey square hole); "
                                 "folder: --data holds real pairs, A/ and B/ or side by side (paired_transform).",
                                 "Data", choices=("edges", "grey", "lowres", "masked", "folder"), specific=True)
    domain_a: str = spec("", "Domain A", "CycleGAN's first domain: a class name of the data set (e.g. sneaker) or a "
                         "folder / imported set (domain_a).", "Data", specific=True)
    domain_b: str = spec("", "Domain B", "CycleGAN's second domain: another class name (e.g. ankle boot) or a folder "
                         "/ imported set (domain_b).", "Data", specific=True)
    # loss
    loss: str = spec("nonsaturating", "Loss", "minimax is the original; hinge + spectral norm is the most forgiving: "
                     "minimax | nonsaturating | lsgan | hinge | wgan-gp | rpgan (relativistic pairing, R3GAN: "
                     "pair it with R1 and R2) (loss).", "Loss", choices=LOSSES)
    r1_gamma: float = spec(0.0, "R1 penalty weight", "Gradient penalty on reals, 0 = off (r1_gamma).", "Loss",
                           low=0.0, high=1e4)
    r2_gamma: float = spec(0.0, "R2 penalty weight", "Gradient penalty on fakes, 0 = off; R3GAN pairs it with R1 "
                           "at the same weight (r2_gamma).", "Loss", low=0.0, high=1e4)
    r1_every: int = spec(1, "R1 penalty every (steps)", "Lazy R1 (and R2): apply the penalty every N steps as its own "
                         "update, weighted xN; StyleGAN2 uses 16 (r1_every).", "Loss", low=1, high=1000)
    gp_weight: float = spec(10.0, "WGAN-GP penalty weight", "Weight of the WGAN-GP gradient penalty (gp_weight).",
                            "Loss", low=0.0, high=1e4)
    d_steps: int = spec(1, "Discriminator steps per generator step", "Discriminator updates per generator update, "
                        "the original algorithm's k (d_steps).", "Loss", low=1, high=20)
    lambda_l1: float = spec(100.0, "Weight of the L1 term", "pix2pix: weight of the L1 distance to the target beside "
                            "the adversarial loss; 100 in the paper (lambda_l1).", "Loss", low=0.0, high=1e4,
                            specific=True)
    lambda_cycle: float = spec(10.0, "Weight of the cycle term", "CycleGAN: weight of the L1 distance between an image "
                               "and its translation back; 10 in the paper (lambda_cycle).", "Loss", low=0.0, high=1e4,
                               specific=True)
    lambda_identity: float = spec(0.5, "Weight of the identity term", "CycleGAN: weight of G keeping an image of its "
                                  "own target domain unchanged, relative to the cycle weight (0.5 means 5, the "
                                  "official code's convention) (lambda_identity).", "Loss", low=0.0, high=100.0,
                                  specific=True)
    # optimiser
    batch_size: int = spec(64, "Batch size", "Images per step (batch_size).", "Optimiser", low=2, high=4096)
    lr_g: float = spec(2e-4, "Generator learning rate", "Adam learning rate of the generator (lr_g).", "Optimiser",
                       low=0.0, high=1.0, low_open=True)
    lr_d: float = spec(2e-4, "Discriminator learning rate", "Adam learning rate of the discriminator (lr_d).",
                       "Optimiser", low=0.0, high=1.0, low_open=True)
    beta1: float = spec(0.5, "Adam beta1", "Adam's first-moment decay (beta1).", "Optimiser", low=0.0, high=1.0,
                        high_open=True)
    beta2: float = spec(0.999, "Adam beta2", "Adam's second-moment decay (beta2).", "Optimiser", low=0.0, high=1.0,
                        high_open=True)
    lr_decay: float = spec(0.0, "Learning-rate decay share", "Share of the run, at its end, over which both "
                           "learning rates fall linearly toward 0; 0 = constant. pix2pix and CycleGAN train with "
                           "0.5 (lr_decay).", "Optimiser", low=0.0, high=1.0)
    ema: bool = spec(False, "Average the generator's weights", "Keep an EMA of G's weights; sampling uses it (ema).",
                     "Optimiser")
    ema_decay: float = spec(0.999, "Weight average decay", "EMA decay per step (ema_decay).", "Optimiser", low=0.0,
                            high=1.0, high_open=True)
    augment: list[str] = spec([], "Augmentation", "DiffAugment policies, comma-separated: color,translation,cutout; "
                              "or ada (adaptive, alone; image GANs) (augment).", "Optimiser", choices=AUGMENTS,
                              form="multiselect")
    ada_target: float = spec(0.6, "ADA target", "With augment ada: the target of r_t = E[sign D(real)]; above it "
                             "the augmentation probability p rises (ada_target).", "Optimiser", low=0.0, high=1.0,
                             low_open=True, high_open=True)
    ada_kimg: float = spec(100.0, "ADA speed (thousand images)", "With augment ada: thousands of images for p to go "
                           "from 0 to 1 (ada_kimg).", "Optimiser", low=0.0, high=1e6, low_open=True)
    # schedule
    steps: int = spec(1000, "Training steps", "Generator steps to train; ignored when a minutes budget is set (steps).",
                      "Schedule", basic=True, low=1, high=100_000_000)
    minutes: float = spec(0.0, "Time budget (minutes)", "Wall-clock budget in minutes; 0 = train for the number of "
                          "steps (minutes).", "Schedule", basic=True, low=0.0, high=60 * 24 * 30)
    log_every: int = spec(50, "Log every (steps)", "Log metrics every N steps (log_every).", "Schedule", low=1,
                          high=1_000_000)
    sample_every: int = spec(500, "Sample grid every (steps)", "Write a fixed-noise grid every N steps "
                             "(sample_every).", "Schedule", low=1, high=100_000_000)
    checkpoint_every: int = spec(1000, "Checkpoint every (steps)", "Write a checkpoint every N steps "
                                 "(checkpoint_every).", "Schedule", low=1, high=100_000_000)
    eval_every: int = spec(0, "Evaluate every (steps)", "Compute FID etc. every N steps, 0 = off (eval_every).",
                           "Schedule", low=0, high=100_000_000)
    eval_samples: int = spec(2000, "Samples per evaluation", "Samples per in-run evaluation (eval_samples).",
                             "Schedule", low=10, high=100_000)
    # hardware and reproducibility
    device: str = spec("auto", "Device", "auto | cpu | cuda | mps (device).", "Hardware", choices=DEVICES)
    seed: int = spec(0, "Random seed", "Seed of every random stream of the run (seed).", "Hardware", low=0,
                     high=2**63 - 1)
    bf16: bool = spec(True, "bf16 arithmetic", "bf16 autocast where the device computes bf16 natively (CUDA, "
                      "AVX512-BF16 CPUs) (bf16).", "Hardware")
    compile: bool = spec(False, "Compile the networks", "torch.compile G and D; falls back to eager (compile).",
                         "Hardware")
    cuda_graph: bool = spec(True, "Replay steps as a CUDA graph", "On CUDA, capture the whole training step once "
                            "and replay it as a CUDA graph; falls back to eager (cuda_graph).", "Hardware")
    on_diverge: str = spec("stop", "When losses blow up", "stop, or rollback: reload the last checkpoint and halve "
                           "the learning rates (on_diverge).", "Hardware", choices=("stop", "rollback"))
    threads: int = spec(0, "CPU threads", "CPU threads, 0 = all cores (threads).", "Hardware", low=0, high=1024)
    # provenance
    init_from: str = spec("", "Fine-tune from", "Start G and D from this run's weights (init_from).", "Provenance")
    preset: str = spec("", "Preset", f"Start from a named preset: {', '.join(PRESETS)} (preset).", "Provenance")
    tags: list[str] = spec([], "Tags", "Labels for this run, comma-separated; Compare filters by them and a sweep "
                           "adds its name (tags).", "Provenance")

    # ---- validation -------------------------------------------------------------
    def validate(self) -> "TrainConfig":
        """Raise the first problem (a ``ConfigError`` naming its field), else return self."""
        found = problems_of(type(self), self.to_dict())
        if found:
            raise found[0]
        return self

    @classmethod
    def problems(cls, values: dict[str, Any]) -> list[ConfigError]:
        """Every problem of loose ``values`` at once (unknown fields, bad types, ranges, rules),
        each naming its field; empty when ``from_dict(values)`` would succeed."""
        return problems_of(cls, values)

    # ---- (de)serialisation ------------------------------------------------------
    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Build and validate from loose values (strings from a form or file are coerced)."""
        found = problems_of(cls, values)
        if found:
            raise found[0]
        return cls(**coerce_all(cls, values))

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
    def run_type(self) -> registry.RunType:
        return registry.get(self.model)

    @property
    def is_image_gan(self) -> bool:
        return self.run_type.kind == "image"


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
