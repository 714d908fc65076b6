"""Repair images with what was trained: fill masked holes and raise the resolution.

Two families, both selectable by ``method``:

- ``"prior"``: any trained image generator (mlp/dcgan, conditional included) as a prior.
  Inpainting by latent optimisation (Yeh et al. 2017): many z in parallel minimise a
  contextual L1 on the known pixels, weighted towards the hole's border, plus
  ``lambda * -log D(G(z))`` (a realism prior from the run's discriminator); the best
  restart is kept and its hole Poisson-blended into the known pixels. Super-resolution by
  latent search (PULSE, Menon et al. 2020): z minimises ``100 * MSE(down(G(z)), LR)`` and is
  put back on the sphere of radius sqrt(dim) (the Gaussian's typical set) after each step.
- ``"model"``: a dedicated ``inpaint-gan`` or ``srgan`` run (``runtypes.restoration``, networks in ``models.restoration``).
- Baselines: ``"biharmonic"`` (scikit-image) for holes, ``"bicubic"`` / ``"lanczos"`` (Pillow)
  for resolution.

Sizes: the prior methods and the inpainting model work at the run's resolution. The image
(and the LR image times the scale) is stretched to that square and the result stretched back,
so any size works; the srgan model, fully convolutional, runs on the input as it is. Known
pixels are then pasted back at the original size. Masks are resized so that any missing
pixel stays missing. Channels are converted to the run's (grey <-> RGB), and the result is
returned in the input's mode (grey in, grey out). White (bright) mask pixels = missing.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gan_core.data.masks import mask_from_pil
from gan_core.inference.generators import load_generator
from gan_core.models.restoration import downscale
from gan_core.restore.images import (
    MAX_OUTPUT_PIXELS,
    Progress,
    RestoreError,
    _blend,
    _model_res,
    _report,
    biharmonic_fill,
    check_input_size,
    fit_pixels,
    from_array,
    from_tensor,
    is_grey,
    resize_mask,
    to_array,
    to_mode,
    to_tensor,
)
from gan_core.runs.rundir import RunError, list_runs
from gan_core.runtypes import registry

INPAINT_METHODS = ("prior", "model", "biharmonic")
SUPERRES_METHODS = ("prior", "model", "bicubic", "lanczos")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif")


@dataclass
class RestoreResult:
    image: Image.Image
    method: str
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)


# ---- inpainting -------------------------------------------------------------------------------------
def inpaint(image: Image.Image, mask: Image.Image, method: str = "prior", loaded=None, *, steps: int = 300,
            restarts: int = 16, seed: int = 0, class_index: int | None = None, blend: str | None = None,
            lam: float = 0.003, lr: float = 0.03, progress: Progress = None) -> RestoreResult:
    """Fill the white part of ``mask`` in ``image``. ``loaded`` (a ``LoadedGenerator``) is
    an image GAN for "prior" (with its D for the realism term) or an inpaint-gan run for
    "model"; ``blend``: "poisson" (default for prior), "feather" or "paste" (default for model)."""
    start = time.perf_counter()
    if method not in INPAINT_METHODS:
        raise RestoreError(f"method must be one of {', '.join(INPAINT_METHODS)}; got {method!r}")
    check_input_size(image, "inpaint")
    grey = is_grey(image)
    image = to_mode(image, grey)
    m = mask_from_pil(mask, image.size)
    known = to_array(image)
    info: dict[str, Any] = {"missing_fraction": round(float(m.mean()), 4)}
    if not m.any():
        _report(progress, 1.0)
        return RestoreResult(image.copy(), method, time.perf_counter() - start, {**info, "note": "the mask covers nothing: image unchanged"})
    if method == "biharmonic":
        if m.all():
            raise RestoreError("biharmonic inpainting needs known pixels around the hole, but the mask covers the whole image")
        out = _blend(known, biharmonic_fill(known, m), m, "paste")
        _report(progress, 1.0)
        return RestoreResult(from_array(out), method, time.perf_counter() - start, info)

    _check_run(loaded, method, "inpaint")
    res = _model_res(loaded)
    cfg = loaded.config
    x = to_tensor(image, cfg.channels, (res, res)).to(loaded.device)
    m_small = torch.from_numpy(resize_mask(m, (res, res))).to(loaded.device).view(1, 1, res, res)
    if method == "model":
        with torch.no_grad():
            filled = loaded.G(x * (1 - m_small), m_small)
        _report(progress, 1.0)
        how = blend or "paste"
    else:
        filled, extra = _prior_inpaint(loaded, x, m_small, steps=steps, restarts=restarts, seed=seed,
                                       class_index=class_index, lam=lam, lr=lr, progress=progress)
        info.update(extra)
        how = blend or "poisson"
    info.update(model_resolution=res, run=str(loaded.source), checkpoint_step=loaded.step, blend=how)
    return RestoreResult(compose_fill(image, m, filled[0], how), method, time.perf_counter() - start, info)


def compose_fill(image: Image.Image, m: np.ndarray, filled: torch.Tensor, how: str) -> Image.Image:
    """A model-resolution fill [C, R, R] stretched to ``image``'s size and blended into its
    hole ``m`` [H, W] ("poisson", "feather" or "paste"); the result has ``image``'s mode."""
    known = to_array(image)
    filled_img = from_tensor(filled).resize(image.size, Image.Resampling.BICUBIC)
    filled_arr = to_array(to_mode(filled_img, known.shape[2] == 1))
    return from_array(_blend(known, filled_arr, m, how))


def _labels(loaded, restarts: int, class_index: int | None) -> torch.Tensor | None:
    if not loaded.conditional:
        return None
    k = len(loaded.classes)
    if class_index is not None:
        if not 0 <= int(class_index) < k:
            raise RestoreError(f"class index {class_index} is out of range 0..{k - 1}")
        return torch.full((restarts,), int(class_index), dtype=torch.long)
    return torch.arange(restarts) % k  # every class gets its share of restarts


def _frozen(module: torch.nn.Module | None) -> None:
    if module is not None:
        module.eval()
        for p in module.parameters():
            p.requires_grad_(False)


def _prior_inpaint(loaded, x, m, *, steps, restarts, seed, class_index, lam, lr, progress):
    """Yeh et al.: min_z ||W * (G(z) - x)||_1 - lam * log D(G(z)) for ``restarts`` z per image,
    all in parallel. ``x`` [N, C, R, R], ``m`` [N, 1, R, R] -> best fill per image [N, C, R, R]."""
    n = x.shape[0]
    known = 1 - m
    # weight of a known pixel = share of missing pixels in its 7x7 window (Yeh et al.),
    # plus a small floor so the whole context steers z, not only the border band
    window = F.avg_pool2d(m, 7, 1, 3, count_include_pad=False)
    W = (known * (window + 0.1)).repeat_interleave(restarts, 0)
    target = x.repeat_interleave(restarts, 0)

    def fit(g):
        return (W * (g - target)).abs().flatten(1).sum(1)

    return _search(loaded, n, restarts, seed, class_index, fit, lam, lr, steps, progress, sphere=False)


def _search(loaded, n, restarts, seed, class_index, fit, lam, lr, steps, progress, sphere):
    """Adam on ``n * restarts`` latents against ``fit(G(z))`` (+ D's realism prior); the
    lowest-loss restart of each image wins. ``sphere``: keep |z| = sqrt(dim) (PULSE)."""
    G, D = loaded.G, loaded.D
    _frozen(G)
    _frozen(D)
    dev = loaded.device
    y = _labels(loaded, restarts, class_index)
    y = y.repeat(n).to(dev) if y is not None else None
    radius = loaded.config.z_dim ** 0.5
    z = torch.randn(n * restarts, loaded.config.z_dim, generator=torch.Generator().manual_seed(seed)).to(dev)
    if sphere:
        z = z * radius / z.norm(dim=1, keepdim=True)
    z.requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    use_d = D is not None and lam > 0

    def losses(g):
        data = fit(g)
        return data, data + (lam * F.softplus(-D(g, y)) if use_d else 0)

    for i in range(steps):
        _, loss = losses(G(z, y))
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        with torch.no_grad():
            if sphere:
                z.mul_(radius / z.norm(dim=1, keepdim=True))
            else:
                z.clamp_(-4, 4)
        _report(progress, (i + 1) / max(steps, 1))
    with torch.no_grad():
        g = G(z, y)
        data, total = losses(g)
        best = total.view(n, restarts).argmin(1) + torch.arange(n, device=total.device) * restarts
    info = {"restarts": restarts, "steps": steps, "best_restart": int(best[0]) % restarts,
            "fit_loss": round(float(data[best[0]]), 5), "realism_prior": use_d}
    if y is not None:
        info["class"] = loaded.classes[int(y[best[0]])]
        info["classes"] = [loaded.classes[int(c)] for c in y[best]]
    _report(progress, 1.0)
    return g[best].detach(), info


# ---- super-resolution ----------------------------------------------------------------------------------
def superres(image: Image.Image, scale: int = 4, method: str = "prior", loaded=None, *, steps: int = 150,
             restarts: int = 16, seed: int = 0, class_index: int | None = None, lr: float = 0.1,
             lam: float = 0.0, progress: Progress = None) -> RestoreResult:
    """Upscale ``image`` by ``scale`` (output size = input size x scale)."""
    start = time.perf_counter()
    if method not in SUPERRES_METHODS:
        raise RestoreError(f"method must be one of {', '.join(SUPERRES_METHODS)}; got {method!r}")
    if not isinstance(scale, int) or not 1 <= scale <= 16:
        raise RestoreError(f"scale must be a whole number from 1 to 16; got {scale!r}")
    check_input_size(image, "super-resolve")
    w, h = image.size
    out_size = (w * scale, h * scale)
    if out_size[0] * out_size[1] > MAX_OUTPUT_PIXELS:
        side = int((MAX_OUTPUT_PIXELS / scale**2) ** 0.5)
        raise RestoreError(f"x{scale} of {w}x{h} would be {out_size[0]}x{out_size[1]}, over the {MAX_OUTPUT_PIXELS:,}-pixel "
                           f"limit for a result; give an image of at most about {side}x{side}")
    grey = is_grey(image)
    image = to_mode(image, grey)
    info: dict[str, Any] = {"scale": scale, "input_size": f"{w}x{h}", "output_size": f"{out_size[0]}x{out_size[1]}"}
    if method in ("bicubic", "lanczos"):
        filt = Image.Resampling.BICUBIC if method == "bicubic" else Image.Resampling.LANCZOS
        _report(progress, 1.0)
        return RestoreResult(image.resize(out_size, filt), method, time.perf_counter() - start, info)

    _check_run(loaded, method, "superres")
    cfg = loaded.config
    res = _model_res(loaded)
    if method == "model":
        out = _sr_model(loaded, image)
        info["model_scale"] = cfg.scale
        _report(progress, 1.0)
    else:
        low = max(1, round(res / scale))
        lr_t = to_tensor(image, cfg.channels, (low, low)).to(loaded.device)
        out, extra = _pulse(loaded, lr_t, steps=steps, restarts=restarts, seed=seed, class_index=class_index,
                            lr=lr, lam=lam, progress=progress)
        info.update(extra)
    info.update(model_resolution=res, run=str(loaded.source), checkpoint_step=loaded.step)
    result = to_mode(from_tensor(out[0]).resize(out_size, Image.Resampling.BICUBIC), grey)
    return RestoreResult(result, method, time.perf_counter() - start, info)


# LR pixels per tile side, and the context around each: the srgan G sees 14 LR pixels each way
# (head + 6 residual blocks of two 3x3 convs + one), its upsampling convs about one more.
SR_TILE, SR_MARGIN = 96, 16


def _sr_model(loaded, image: Image.Image) -> torch.Tensor:
    """The srgan G on the input at its own size, x its scale: [1, C, H*s, W*s]. It is fully
    convolutional and learned local detail from LR patches, so it needs no stretching: the
    input used to be squashed to the run's LR square (a 32x32 emoji to 8x8 for a 32-px x4
    run), 7.6 dB below bicubic. Tiled with context, so memory stays bounded at any size; an
    input whose x-model-scale result would pass the output cap is reduced first."""
    cfg = loaded.config
    image, _ = fit_pixels(image, MAX_OUTPUT_PIXELS // cfg.scale**2)
    x = to_tensor(image, cfg.channels).to(loaded.device)
    with torch.no_grad():
        return sr_tiled(loaded.G, x, cfg.scale)


def sr_tiled(G, x: torch.Tensor, scale: int, tile: int = SR_TILE, margin: int = SR_MARGIN) -> torch.Tensor:
    """``G(x)`` for a fully convolutional x``scale`` G, computed tile by tile: each ``tile``-px
    square is run with ``margin`` px of context and only its centre kept."""
    n, c, h, w = x.shape
    if h <= tile and w <= tile:
        return G(x)
    out = x.new_empty(n, c, h * scale, w * scale)
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            t0, l0 = max(0, top - margin), max(0, left - margin)
            t1, l1 = min(h, top + tile + margin), min(w, left + tile + margin)
            part = G(x[:, :, t0:t1, l0:l1])
            bottom, right = min(h, top + tile), min(w, left + tile)
            out[:, :, top * scale:bottom * scale, left * scale:right * scale] = part[
                :, :, (top - t0) * scale:(bottom - t0) * scale, (left - l0) * scale:(right - l0) * scale]
    return out


def _pulse(loaded, lr_t, *, steps, restarts, seed, class_index, lr, lam, progress):
    """PULSE: min_z 100 * MSE(down(G(z)), LR), z renormalised to radius sqrt(dim) each step.
    ``lr_t`` [N, C, r, r] -> best HR per image [N, C, R, R]."""
    size = tuple(lr_t.shape[-2:])
    target = lr_t.repeat_interleave(restarts, 0)

    def fit(g):
        return 100 * (downscale(g, size) - target).pow(2).flatten(1).mean(1)

    return _search(loaded, lr_t.shape[0], restarts, seed, class_index, fit, lam, lr, steps, progress, sphere=True)


# ---- which runs fit --------------------------------------------------------------------------------------
def fitting_run_types(task: str, method: str) -> tuple[str, ...]:
    """The run types that serve ``method`` for ``task`` ("inpaint" / "superres"): any image GAN
    as a prior, or the dedicated model that restores ``task``."""
    if method == "prior":
        return registry.of_kind("image")
    if method == "model":
        return tuple(m for m in registry.names() if registry.get(m).restores == task)
    return ()


def needed_run_text(task: str, method: str) -> str:
    """What to train for ``method``, in words: "an image GAN run (mlp or dcgan)", "a srgan run"."""
    names = " or ".join(fitting_run_types(task, method))
    return f"an image GAN run ({names})" if method == "prior" else f"a {names} run"


def run_fits(model: str, task: str, method: str) -> bool:
    """Whether a run of type ``model`` serves ``method`` for ``task``."""
    return model in fitting_run_types(task, method)


def _check_run(loaded, method: str, task: str) -> None:
    if loaded is None:
        raise RestoreError(f"method {method!r} needs a trained run (--run NAME)")
    model = loaded.config.model
    if not run_fits(model, task, method):
        raise RestoreError(f"method {method!r} needs {needed_run_text(task, method)}; run {loaded.source} is {model}")


def load_for(run: str | None, method: str, checkpoint: str | None = None, device: str = "cpu"):
    """The run's generator (and D for the prior methods), or None for baselines."""
    if method not in ("prior", "model"):
        return None
    if not run and not checkpoint:
        raise RestoreError(f"method {method!r} needs a trained run: give --run NAME")
    return load_generator(run, checkpoint, device=device, with_discriminator=method == "prior")


# ---- helpers for the app's pages (no Streamlit here) --------------------------------------------------------
# Below this many steps a generator prior rarely beats its baseline: an 800-step conditional
# Fashion-MNIST run gave 15.8 dB against biharmonic's 17.1 and x4 SR 14.4 dB against bicubic's
# 19.5 (issue #16). A rule of thumb for a warning, not a guarantee either way: demo mode's
# PSNR beside the baseline is the real check.
YOUNG_STEPS = 5_000


def fitting_runs(task: str, method: str, data: str | None = None, resolution: int | None = None) -> list[str]:
    """Names of runs with at least one checkpoint that serve ``method`` for ``task``, the
    sensible default first: trained on ``data`` at ``resolution`` (when given) before the
    rest, then the most trained (newest checkpoint's step), then the newest run."""
    found = []
    for order, run in enumerate(list_runs()):
        try:
            cfg = run.config()
        except RunError:
            continue
        ckpt = run.latest_checkpoint()
        if run_fits(cfg.model, task, method) and ckpt is not None:
            mismatch = (data is not None and cfg.data != data, resolution is not None and cfg.resolution != resolution)
            found.append((*mismatch, -ckpt.step, order, run.name))
    return [row[-1] for row in sorted(found)]


def young_run_note(step: int, method: str) -> str | None:
    """A plain warning when a run has trained too little to be expected to beat the baseline."""
    if step >= YOUNG_STEPS:
        return None
    what = "generator" if method == "prior" else "model"
    return (f"This {what} has trained {step:,} steps: that is young, and a young {what} usually loses to the "
            f"baseline (rule of thumb: under {YOUNG_STEPS:,} steps). Demo mode shows both scores side by side.")
