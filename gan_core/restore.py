"""Repair images with what was trained: fill masked holes and raise the resolution.

Two families, both selectable by ``method``:

- ``"prior"``: any trained image generator (mlp/dcgan, conditional included) as a prior.
  Inpainting by latent optimisation (Yeh et al. 2017): many z in parallel minimise a
  contextual L1 on the known pixels, weighted towards the hole's border, plus
  ``lambda * -log D(G(z))`` (a realism prior from the run's discriminator); the best
  restart is kept and its hole Poisson-blended into the known pixels. Super-resolution by
  latent search (PULSE, Menon et al. 2020): z minimises ``100 * MSE(down(G(z)), LR)`` and is
  put back on the sphere of radius sqrt(dim) (the Gaussian's typical set) after each step.
- ``"model"``: a dedicated ``inpaint-gan`` or ``srgan`` run (``gan_core.restore_models``).
- Baselines: ``"biharmonic"`` (scikit-image) for holes, ``"bicubic"`` / ``"lanczos"`` (Pillow)
  for resolution.

Sizes: learned methods work at the run's resolution. The image (and the LR image times the
scale) is stretched to that square and the result stretched back, so any size works; known
pixels are then pasted back at the original size. Masks are resized so that any missing
pixel stays missing. Channels are converted to the run's (grey <-> RGB), and the result is
returned in the input's mode (grey in, grey out). White (bright) mask pixels = missing.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .masks import mask_from_pil, mask_to_pil
from .restore_models import downscale

INPAINT_METHODS = ("prior", "model", "biharmonic")
SUPERRES_METHODS = ("prior", "model", "bicubic", "lanczos")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif")
Progress = Callable[[float], None] | None


class RestoreError(ValueError):
    """A request that cannot be served (wrong run type, no known pixels ...); says why."""


@dataclass
class RestoreResult:
    image: Image.Image
    method: str
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)


# ---- conversions ---------------------------------------------------------------------------
def is_grey(image: Image.Image) -> bool:
    return image.mode in ("1", "L", "LA", "I", "I;16", "F", "P") and (image.mode != "P" or _palette_is_grey(image))


def _palette_is_grey(image: Image.Image) -> bool:
    rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    return bool((np.abs(rgb[..., 0] - rgb[..., 1]).max() == 0) and (np.abs(rgb[..., 1] - rgb[..., 2]).max() == 0))


def to_mode(image: Image.Image, grey: bool) -> Image.Image:
    """Grey ("L") or "RGB"; 16-bit and float greys are scaled to 8 bits, alpha is dropped."""
    if image.mode in ("I", "I;16", "F"):
        a = np.asarray(image, dtype=np.float64)
        hi = 65535.0 if a.max() > 255 else 255.0
        image = Image.fromarray(np.clip(a / hi * 255, 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA").convert("RGB")
    return image.convert("L" if grey else "RGB")


def to_array(image: Image.Image) -> np.ndarray:
    """[H, W, C] float32 in [0, 1]."""
    a = np.asarray(image, dtype=np.float32) / 255.0
    return a[..., None] if a.ndim == 2 else a


def from_array(a: np.ndarray) -> Image.Image:
    a = (np.clip(a, 0, 1) * 255).round().astype(np.uint8)
    return Image.fromarray(a[..., 0], "L") if a.shape[2] == 1 else Image.fromarray(a, "RGB")


def to_tensor(image: Image.Image, channels: int, size: tuple[int, int] | None = None) -> torch.Tensor:
    """[1, C, H, W] in [-1, 1] for a model with ``channels``; stretched to ``size`` (w, h)."""
    image = to_mode(image, grey=channels == 1)
    if size is not None and image.size != tuple(size):
        image = image.resize(tuple(size), Image.Resampling.BICUBIC)
    return torch.from_numpy(to_array(image)).permute(2, 0, 1).unsqueeze(0) * 2 - 1


def from_tensor(x: torch.Tensor) -> Image.Image:
    """[C, H, W] or [1, C, H, W] in [-1, 1] -> "L" or "RGB"."""
    x = x.detach().float().cpu().reshape(-1, *x.shape[-2:])
    return from_array(((x.clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy())


def _model_res(loaded) -> int:
    return int(loaded.config.resolution)


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a {0,1} mask so any pixel touched by the hole stays missing (box filter > 0)."""
    h, w = mask.shape
    if (w, h) == tuple(size):
        return mask
    im = Image.fromarray((mask * 255).astype(np.uint8), "L")
    resample = Image.Resampling.BOX if size[0] <= w and size[1] <= h else Image.Resampling.NEAREST
    small = np.asarray(im.resize(tuple(size), resample), dtype=np.float32)
    return (small > 0).astype(np.float32)


def _report(progress: Progress, value: float) -> None:
    if progress is not None:
        progress(float(min(max(value, 0.0), 1.0)))


# ---- metrics ---------------------------------------------------------------------------------
def _pair(a: Image.Image, b: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    grey = is_grey(a) and is_grey(b)
    a, b = to_mode(a, grey), to_mode(b, grey)
    if b.size != a.size:
        b = b.resize(a.size, Image.Resampling.BICUBIC)
    return np.asarray(a), np.asarray(b)


def psnr(a: Image.Image, b: Image.Image) -> float:
    """PSNR in dB of ``b`` against reference ``a`` (8-bit range); inf when identical."""
    from skimage.metrics import peak_signal_noise_ratio

    x, y = _pair(a, b)
    if np.array_equal(x, y):
        return float("inf")
    return float(peak_signal_noise_ratio(x, y, data_range=255))


def ssim(a: Image.Image, b: Image.Image) -> float:
    """SSIM of ``b`` against ``a`` (scikit-image, 7x7 windows or smaller for tiny images)."""
    from skimage.metrics import structural_similarity

    x, y = _pair(a, b)
    side = min(x.shape[0], x.shape[1])
    win = min(7, side if side % 2 else side - 1)
    if win < 3:
        return float(np.array_equal(x, y))
    return float(structural_similarity(x, y, data_range=255, win_size=win, channel_axis=2 if x.ndim == 3 else None))


# ---- demo degradation --------------------------------------------------------------------------
def degrade_for_demo(image: Image.Image, kind: str, *, mask: Image.Image | None = None, scale: int = 4,
                     fill: int = 128) -> tuple[Image.Image, Image.Image | None]:
    """What the demo restores: ("inpaint") the image with the hole painted ``fill`` grey (so
    no method can peek) and the mask; ("superres") the antialiased bicubic downscale by
    ``scale`` (the same degradation the srgan runs train on) and None."""
    if kind == "inpaint":
        if mask is None:
            raise ValueError("degrade_for_demo('inpaint') needs a mask")
        m = mask_from_pil(mask, image.size)
        grey = is_grey(image)
        a = to_array(to_mode(image, grey))
        a = a * (1 - m[..., None]) + (fill / 255.0) * m[..., None]
        return from_array(a), mask_to_pil(m)
    if kind == "superres":
        w, h = image.size
        lw, lh = max(1, w // scale), max(1, h // scale)
        grey = is_grey(image)
        x = to_tensor(image, 1 if grey else 3)
        return from_tensor(downscale(x, (lh, lw))[0]), None
    raise ValueError(f"kind must be 'inpaint' or 'superres', got {kind!r}")


# ---- blending ------------------------------------------------------------------------------------
def poisson_blend(target: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Seamless cloning: inside ``mask`` solve lap(f) = lap(source) with f = target on the
    hole's border (Neumann at the image edge); outside, ``target``. Arrays [H, W, C]."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    hole = mask > 0.5
    if not hole.any():
        return target.copy()
    if hole.all():
        return source.copy()
    h, w = hole.shape
    ys, xs = np.nonzero(hole)
    index = -np.ones((h, w), dtype=np.int64)
    index[ys, xs] = np.arange(len(ys))
    rows, cols, vals = [], [], []
    degree = np.zeros(len(ys))
    rhs = np.zeros((len(ys), target.shape[2]))
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        i = np.nonzero(inside)[0]
        degree[i] += 1
        rhs[i] += source[ys[i], xs[i]] - source[ny[i], nx[i]]
        neighbour = index[ny[i], nx[i]]
        unknown = neighbour >= 0
        rows.append(i[unknown])
        cols.append(neighbour[unknown])
        vals.append(-np.ones(unknown.sum()))
        known = i[~unknown]
        rhs[known] += target[ny[known], nx[known]]
    n = len(ys)
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    vals.append(degree)
    A = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsc()
    solution = spsolve(A, rhs)
    out = target.copy()
    out[ys, xs] = np.asarray(solution).reshape(n, -1)
    return np.clip(out, 0, 1)


def _blend(known: np.ndarray, filled: np.ndarray, m: np.ndarray, how: str) -> np.ndarray:
    if how == "poisson":
        return poisson_blend(known, filled, m)
    if how == "feather":
        from scipy.ndimage import gaussian_filter

        soft = np.maximum(m, gaussian_filter(m, 1.0))  # hole stays fully filled; a soft rim outside
        return known * (1 - soft[..., None]) + filled * soft[..., None]
    return known * (1 - m[..., None]) + filled * m[..., None]


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
        from skimage.restoration import inpaint_biharmonic

        out = _blend(known, np.clip(inpaint_biharmonic(known, m.astype(bool), channel_axis=-1), 0, 1), m, "paste")
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
    grey = is_grey(image)
    image = to_mode(image, grey)
    w, h = image.size
    out_size = (w * scale, h * scale)
    info: dict[str, Any] = {"scale": scale, "input_size": f"{w}x{h}", "output_size": f"{out_size[0]}x{out_size[1]}"}
    if method in ("bicubic", "lanczos"):
        filt = Image.Resampling.BICUBIC if method == "bicubic" else Image.Resampling.LANCZOS
        _report(progress, 1.0)
        return RestoreResult(image.resize(out_size, filt), method, time.perf_counter() - start, info)

    _check_run(loaded, method, "superres")
    cfg = loaded.config
    res = _model_res(loaded)
    if method == "model":
        low = res // cfg.scale
        lr_t = to_tensor(image, cfg.channels, (low, low)).to(loaded.device)
        with torch.no_grad():
            out = loaded.G(lr_t)
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


def _pulse(loaded, lr_t, *, steps, restarts, seed, class_index, lr, lam, progress):
    """PULSE: min_z 100 * MSE(down(G(z)), LR), z renormalised to radius sqrt(dim) each step.
    ``lr_t`` [N, C, r, r] -> best HR per image [N, C, R, R]."""
    size = tuple(lr_t.shape[-2:])
    target = lr_t.repeat_interleave(restarts, 0)

    def fit(g):
        return 100 * (downscale(g, size) - target).pow(2).flatten(1).mean(1)

    return _search(loaded, lr_t.shape[0], restarts, seed, class_index, fit, lam, lr, steps, progress, sphere=True)


# ---- which runs fit --------------------------------------------------------------------------------------
def run_fits(model: str, task: str, method: str) -> bool:
    """Whether a run of type ``model`` serves ``method`` for ``task`` ("inpaint" / "superres")."""
    from .config import IMAGE_GAN_MODELS

    if method == "prior":
        return model in IMAGE_GAN_MODELS
    if method == "model":
        return model == ("inpaint-gan" if task == "inpaint" else "srgan")
    return False


def _check_run(loaded, method: str, task: str) -> None:
    if loaded is None:
        raise RestoreError(f"method {method!r} needs a trained run (--run NAME)")
    model = loaded.config.model
    if not run_fits(model, task, method):
        want = "an image GAN run (mlp or dcgan)" if method == "prior" else f"a {'inpaint-gan' if task == 'inpaint' else 'srgan'} run"
        raise RestoreError(f"method {method!r} needs {want}; run {loaded.source} is {model}")


def load_for(run: str | None, method: str, checkpoint: str | None = None, device: str = "cpu"):
    """The run's generator (and D for the prior methods), or None for baselines."""
    if method not in ("prior", "model"):
        return None
    if not run and not checkpoint:
        raise RestoreError(f"method {method!r} needs a trained run: give --run NAME")
    from .sample import load_generator

    return load_generator(run, checkpoint, device=device, with_discriminator=method == "prior")


# ---- CLI ---------------------------------------------------------------------------------------------------
def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def _jobs(image: Path, out: Path) -> list[tuple[Path, Path]]:
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
    if out.is_dir():
        return [(image, out / image.name)]
    out.parent.mkdir(parents=True, exist_ok=True)
    return [(image, out)]


def _mask_for(mask: Path, image: Path) -> Path:
    if not mask.is_dir():
        return mask
    for candidate in [mask / image.name] + [mask / (image.stem + s) for s in IMAGE_SUFFIXES]:
        if candidate.is_file():
            return candidate
    raise RestoreError(f"no mask for {image.name} in {mask} (expected a file with the same name)")


def open_image(path: Path) -> Image.Image:
    try:
        with Image.open(path) as im:
            im.load()
            return im.copy()
    except (OSError, ValueError) as exc:
        raise RestoreError(f"cannot read image {path}: {exc}") from None


def _save(image: Image.Image, path: Path, info: dict[str, Any]) -> None:
    if path.suffix.lower() == ".png":
        from .sample import png_bytes

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
    parser.add_argument("--out", type=Path, required=True, help="output file, or a folder (batch: same file names)")
    parser.add_argument("--steps", type=int, default=None, help="optimisation steps (prior)")
    parser.add_argument("--restarts", type=int, default=16, help="random restarts optimised in parallel (prior)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--class", dest="class_", help="class index or name for a conditional prior (default: try all)")
    parser.add_argument("--device", default="cpu")


def _run_cli(args, task: str, restore_one: Callable[[Path, Any], RestoreResult]) -> int:
    from .rundir import RunError

    if args.steps is not None and not 1 <= args.steps <= 100_000:
        print("error: --steps must be from 1 to 100000", file=sys.stderr)
        return 2
    if not 1 <= args.restarts <= 4096:
        print("error: --restarts must be from 1 to 4096", file=sys.stderr)
        return 2
    try:
        jobs = _jobs(args.image, args.out)
        loaded = load_for(args.run, args.method, args.checkpoint, args.device)
        if loaded is not None:
            _check_run(loaded, args.method, task)
        if args.class_ is not None:
            from .sample import resolve_class

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
        scale = args.scale or (loaded.config.scale if loaded is not None and loaded.config.model == "srgan" else 4)
        return superres(open_image(src), scale, args.method, loaded, steps=args.steps or 150, restarts=args.restarts,
                        seed=args.seed, class_index=args.class_index)

    return _run_cli(args, "superres", one)


# ---- helpers for the app's pages (no Streamlit here) --------------------------------------------------------
def fitting_runs(task: str, method: str) -> list[str]:
    """Names of runs with at least one checkpoint that serve ``method`` for ``task``, newest first."""
    from .rundir import RunError, list_runs

    names = []
    for run in list_runs():
        try:
            model = run.config().model
        except RunError:
            continue
        if run_fits(model, task, method) and run.latest_checkpoint() is not None:
            names.append(run.name)
    return names


DEMO_IMAGES = 256  # how many held-out images of a set the pages offer


def dataset_image(name: str, index: int, resolution: int = 32, split: str = "test") -> Image.Image:
    """Image ``index`` (of the first ``DEMO_IMAGES``) of a data set's held-out split, grey
    ("L") when the set is grey."""
    from .data import load_dataset

    data = load_dataset(name, resolution, 3, split=split, limit=DEMO_IMAGES)
    x = data.images[int(index) % len(data)]
    grey = bool((x[0] == x[1]).all() and (x[1] == x[2]).all())
    return from_tensor(x[:1] if grey else x)


def enlarge(image: Image.Image, width: int = 192) -> Image.Image:
    """Nearest-neighbour enlargement for showing small images crisp on a page."""
    w, h = image.size
    if w >= width:
        return image
    return image.resize((width, max(1, round(h * width / w))), Image.Resampling.NEAREST)


def wipe(before: Image.Image, after: Image.Image, position: float) -> Image.Image:
    """A before/after comparison: ``after`` left of ``position`` (0..1), ``before`` right of it."""
    after = after.convert("RGB")
    before = before.convert("RGB").resize(after.size, Image.Resampling.NEAREST)
    a, b = np.asarray(after).copy(), np.asarray(before)
    cut = int(round(position * a.shape[1]))
    a[:, cut:] = b[:, cut:]
    if 0 < cut < a.shape[1]:
        a[:, cut - 1] = (255, 64, 64)
    return Image.fromarray(a, "RGB")
