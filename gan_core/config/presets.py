"""Named starting points for a run: the classic DCGAN yardstick, the studio's recipe per data set
and StyleGAN2 + ADA for colour sets and folders."""
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

# Translation: both papers' optimiser (Adam 2e-4, betas 0.5/0.999) and loss (pix2pix cross-entropy,
# CycleGAN least squares: ``loss`` names the maths the run type uses, for Monitor's D(x) axis; it
# is not a knob there), no EMA, no in-run FID.
# Widths and batch from steps measured on the 2-core CPU (docs/translation-notes.md, bench/translate_step.py,
# one thread, 32 px grey): pix2pix G32/D32 78 ms per step of 16 (G64: 330 ms); CycleGAN
# G16/D32 with 4 residual blocks 282 ms per 16 (G32: 691 ms), six generator passes a step,
# so batch 8 (the paper uses 1; instance norm makes it batch-independent). Default lengths:
# about 7 minutes each on that CPU.
TRANSLATION = {
    "pix2pix": dict(model="pix2pix", loss="nonsaturating", width=32, batch_size=16, lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999,
                    ema=False, augment=[], conditional=False, eval_every=0, steps=5000, log_every=50,
                    sample_every=250, checkpoint_every=1000, paired_transform="edges"),
    "cyclegan": dict(model="cyclegan", loss="lsgan", width=16, batch_size=8, lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999,
                     ema=False, augment=[], conditional=False, eval_every=0, steps=3000, log_every=25,
                     sample_every=100, checkpoint_every=500),
}

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
    "pix2pix-fashion": dict(TRANSLATION["pix2pix"], data="fashion-mnist", resolution=32, channels=1),
    "cyclegan-fashion": dict(TRANSLATION["cyclegan"], data="fashion-mnist", resolution=32, channels=1,
                             domain_a="sneaker", domain_b="ankle boot"),
}


def real_pairs(data: str) -> bool:
    """Whether ``data`` holds real pairs in A/ and B/: pix2pix then learns them by default. With
    the "edges" default it outlined the A and B images alike and learned outline -> either."""
    from gan_core.data.catalogue import holds_pair_folders  # (a scan of names, nothing decoded)

    return holds_pair_folders(data)


def preset_for(data: str, model: str | None = None, labelled: bool | None = None) -> dict[str, Any]:
    """The default values for a data set: its preset, or for folders and imported sets the
    StyleGAN2 + ADA recipe at 64 px (the sets people bring are colour and small), conditional
    when the set has class folders. For a translation ``model``: that model's recipe at the
    set's size (its own preset when it has one). ``labelled``: whether the set has class
    folders, when the caller knows (None: scan the folder's names)."""
    if model in TRANSLATION:
        own = f"{model}-{data.split('-')[0]}"
        if own in PRESETS and PRESETS[own]["data"] == data:
            return dict(PRESETS[own], preset=own)
        size = PRESETS.get(data, dict(resolution=32, channels=3))
        values = dict(TRANSLATION[model], data=data, resolution=size["resolution"], channels=size["channels"],
                      preset="custom")
        if model == "pix2pix" and data not in PRESETS and real_pairs(data):
            values["paired_transform"] = "folder"
        return values
    if data in PRESETS:
        base = dict(PRESETS[data], preset=data)
    else:
        if labelled is None:
            from gan_core.data.catalogue import has_class_labels  # (0.3 s for 20k files here)

            labelled = has_class_labels(data) is not False
        # A flat folder has no classes to condition on: it trains unconditionally, as the Data page says.
        base = dict(STYLEGAN2, data=data, preset="custom", conditional=labelled)
    return _for_model(base, model) if model else base


def _stylegan2_at(base: dict[str, Any]) -> dict[str, Any]:
    """The StyleGAN2 recipe at another set's size: R1's gamma by stylegan2-ada's 'auto' rule
    (0.0002 x res^2 / batch), and ADA only for sets under 10k images (the issue's "small";
    Fashion-MNIST's 60k trained without it in BENCHMARKS.md)."""
    from gan_core.data.catalogue import builtin_count

    count = builtin_count(base["data"])
    res, batch = base["resolution"], STYLEGAN2["batch_size"]
    return dict(STYLEGAN2, data=base["data"], resolution=res, channels=base["channels"],
                conditional=base["conditional"], preset="custom", r1_gamma=round(0.0002 * res * res / batch, 4),
                augment=[] if count and count >= 10_000 else ["ada"])


def _for_model(base: dict[str, Any], model: str) -> dict[str, Any]:
    """A ``model`` on a set whose recipe is another model's gets a recipe of its own at the set's
    size and colour: StyleGAN2's for stylegan2, the DCGAN folder recipe for another image GAN on a
    StyleGAN2 set, the studio recipe (the moving-* presets' for video) for video and restoration. The folder and
    emoji recipe is StyleGAN2 + ADA: `--model srgan|inpaint-gan|dvdgan` on a folder, an
    imported set or emoji was refused ("'ada' is for image GANs") although the user set no
    augment, and StyleGAN2's lr 0.0025 and R1 are not these models' recipe either."""
    from gan_core.runtypes.registry import kind_of

    kind = kind_of(model)
    if model == base["model"]:
        return base
    if kind == "image" and kind_of(base["model"]) == "image":  # one image GAN's recipe for another's
        # `--data fashion-mnist --model stylegan2` trained StyleGAN2 with the DCGAN's hinge loss, lr 2e-4
        # and no R1; `--data FOLDER --model dcgan` a DCGAN with StyleGAN2's lr 0.0025, R1 and ADA.
        if model == STYLEGAN2["model"]:
            return _stylegan2_at(base)
        if base["model"] != STYLEGAN2["model"]:
            return base
        return dict(PRESETS["dcgan-folder"], model=model, data=base["data"], resolution=base["resolution"],
                    channels=base["channels"], conditional=base["conditional"], preset="custom")
    if kind not in ("video", "restoration") or kind == kind_of(base["model"]):
        return base
    recipe = PRESETS["moving-shapes"] if kind == "video" else STUDIO
    size = dict(resolution=recipe.get("resolution", base["resolution"]), channels=base["channels"])
    return dict(recipe, **size, model=model, data=base["data"], conditional=base["conditional"], preset="custom")
