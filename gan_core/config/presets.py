"""Named starting points for a run: the classic DCGAN yardstick and the studio's recipe per data set."""
from __future__ import annotations

from typing import Any

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

PRESETS: dict[str, dict[str, Any]] = {
    "fashion-mnist": dict(STUDIO, data="fashion-mnist", resolution=32, channels=1, conditional=False),
    "mnist": dict(STUDIO, data="mnist", resolution=32, channels=1, conditional=False),
    "digits": dict(STUDIO, data="digits", resolution=16, channels=1, augment=["translation", "cutout"]),
    "shapes": dict(STUDIO, data="shapes", resolution=32, channels=3),
    "cifar10": dict(STUDIO, data="cifar10", resolution=32, channels=3, width=64),
    "classic": dict(CLASSIC, data="fashion-mnist", resolution=32, channels=1),
    # Video: per-class batch norm in G held class and identity far better (bench/results/video.md).
    "moving-fashion": dict(STUDIO, data="moving-fashion", model="dvdgan", resolution=32, channels=1, frames=8,
                           batch_size=16, eval_every=0, g_norm="conditional"),
    "moving-shapes": dict(STUDIO, data="moving-shapes", model="dvdgan", resolution=32, channels=3, frames=8,
                          batch_size=16, eval_every=0, g_norm="conditional"),
}


def preset_for(data: str) -> dict[str, Any]:
    """The default values for a data set: its preset, or the studio recipe for folders."""
    base = PRESETS.get(data, dict(STUDIO, data=data, resolution=32, channels=3, augment=["color", "translation", "cutout"]))
    return dict(base, preset=data if data in PRESETS else "custom")
