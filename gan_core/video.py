"""Video GAN in the spirit of DVD-GAN (Clark et al. 2019): one generator, two critics.

* ``VideoGenerator``: z (+ a class embedding) sets the first hidden state and the input
  of a ConvGRU at 4 x 4 (half the decoder's first width), unrolled over T frames (the
  motion), and one content map per clip (the item: MoCoGAN's content/motion split, Tulyakov
  et al. 2018) that every frame gets beside its hidden state; a shared DCGAN-style decoder
  (1x1 conv, then ConvT, BN, ReLU; ``cfg.width`` channels; per-class BN with
  ``g_norm=conditional``) turns each into a frame. Output
  ``[B, T, C, R, R]`` in [-1, 1]. Deterministic for a given z: a seed is a whole clip.
* ``DualDiscriminator`` (one module, so the engine's single D optimiser, checkpoints
  and EMA-free D need nothing new):
  ``spatial`` - a 2-D SN conv net (``models.DCGANDiscriminator``) on k = min(4, T)
  frames drawn at random per clip, at full resolution; its k scores are summed.
  ``temporal`` - 3-D SN convolutions over the whole clip after 2 x 2 average pooling.
  ``forward(x, y)`` returns the sum of both scores ([B]) and keeps the parts in
  ``last_parts``. Both use projection conditioning when the run is conditional.
* ``VideoTask`` (``TASKS["dvdgan"]``): what the training loop needs. Besides the usual
  stats it logs each branch's mean score on reals (``d_spatial``, ``d_temporal``) and
  each branch's own D loss (``loss_d_spatial``, ``loss_d_temporal``, the run's loss on
  that branch's scores alone; they are logs, D is trained on the sum).

Files: ``write_clip_samples`` writes one looping animated GIF per clip (T frames,
provenance in the GIF comment); ``clip_to_gif_bytes`` / ``clips_grid_gif`` /
``generate_clips`` serve the app's Generate page.

3-D convolution weights are stored flattened (``Conv3dFlat``): the trainer converts
D to channels_last on CUDA, which torch refuses for 5-D tensors.
"""
from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

from .augment import diff_augment
from .clips import ClipSet, clip_frames_uint8, load_clips
from .config import TrainConfig
from .models import DCGANDiscriminator, Generator, _stages, dcgan_init, norm_layer, run_layers
from .tasks import TASKS, Batch, ImageTask, InMemorySource
from . import losses

SPATIAL_FRAMES = 4  # k: frames the spatial critic looks at per clip (fewer when T < 4)
DEFAULT_FPS = 8


# ---------------------------------------------------------------------------- generator


class ConvGRUCell(nn.Module):
    def __init__(self, in_ch: int, hid_ch: int):
        super().__init__()
        self.gates = nn.Conv2d(in_ch + hid_ch, 2 * hid_ch, 3, padding=1)
        self.candidate = nn.Conv2d(in_ch + hid_ch, hid_ch, 3, padding=1)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        r, u = torch.sigmoid(self.gates(torch.cat([x, h], 1))).chunk(2, 1)
        c = torch.tanh(self.candidate(torch.cat([x, r * h], 1)))
        return torch.lerp(h, c, u)


class VideoGenerator(Generator):
    def __init__(self, z_dim: int, channels: int, resolution: int, frames: int, width: int,
                 num_classes: int, norm: str):
        super().__init__()
        self.z_dim, self.num_classes, self.frames = z_dim, num_classes, frames
        self.out_shape = (frames, channels, resolution, resolution)
        n = _stages(resolution)
        chans = [width * 2 ** (n - 1 - i) for i in range(n)]  # 32 px, width 32: 128, 64, 32
        c0 = chans[0]
        self.embed = nn.Embedding(num_classes, z_dim) if num_classes else None
        in_dim = z_dim * (2 if num_classes else 1)
        ch = max(8, c0 // 2)  # the recurrence runs narrower than the decoder (it is the costly part)
        self.to_hidden = nn.Linear(in_dim, ch * 16)
        self.to_input = nn.Linear(in_dim, ch * 16)
        self.to_content = nn.Linear(in_dim, ch * 16)
        self.gru = ConvGRUCell(ch, ch)
        bn = norm_layer(norm, num_classes)
        layers: list[nn.Module] = [nn.Conv2d(2 * ch, c0, 1), bn(c0), nn.ReLU(True)]
        for a, b in zip(chans, chans[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), bn(b), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(chans[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.decoder = nn.Sequential(*layers)
        self.ch = ch

    def hidden_states(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Per-frame latents [B, T, 2 ch, 4, 4]: the ConvGRU's state (motion) beside one
        content map per clip (what the item is), the same for every frame."""
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)
        h = torch.tanh(self.to_hidden(z)).view(-1, self.ch, 4, 4)
        x = self.to_input(z).view(-1, self.ch, 4, 4)
        content = self.to_content(z).view(-1, self.ch, 4, 4)
        states = []
        for _ in range(self.frames):
            h = self.gru(x, h)
            states.append(torch.cat([h, content], 1))
        return torch.stack(states, 1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        hs = self.hidden_states(z, y)
        b, t = hs.shape[:2]
        ys = y.repeat_interleave(t) if y is not None and self.num_classes else None
        return run_layers(self.decoder, hs.flatten(0, 1), ys).view(b, t, *self.out_shape[1:])


# ---------------------------------------------------------------------------- discriminators


class Conv3dFlat(nn.Module):
    """A 3-D convolution whose weight is kept as a 2-D [out, in*kt*kh*kw] matrix
    (spectral norm sees the same matrix; channels_last conversion leaves it alone)."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int, int], stride: tuple[int, int, int],
                 padding: tuple[int, int, int], bias: bool = True):
        super().__init__()
        self.shape = (cout, cin, *kernel)
        self.stride, self.padding = stride, padding
        self.weight = nn.Parameter(torch.randn(cout, cin * math.prod(kernel)) * 0.02)
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv3d(x, self.weight.reshape(self.shape), self.bias, self.stride, self.padding)


class TemporalDiscriminator(nn.Module):
    """[B, C, T, r, r] -> [B]: 3-D convs (stride 2 in space, and in time while T >= 4)."""

    def __init__(self, channels: int, resolution: int, frames: int, width: int, num_classes: int, sn: bool):
        super().__init__()
        wrap = _sn if sn else (lambda m: m)
        n = max(1, _stages(resolution))
        chans = [width * 2**i for i in range(n)]
        layers: list[nn.Module] = []
        t, cin = frames, channels
        for i, c in enumerate(chans):
            st = 2 if i > 0 and t >= 4 else 1
            layers += [wrap(Conv3dFlat(cin, c, (3, 4, 4), (st, 2, 2), (1, 1, 1))), nn.LeakyReLU(0.2, True)]
            t, cin = (t + 2 - 3) // st + 1, c
        self.features = nn.Sequential(*layers)
        self.head = wrap(nn.Linear(chans[-1] * 16, 1))
        self.embed = wrap(nn.Embedding(num_classes, chans[-1])) if num_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)  # [B, c, T', 4, 4]
        b, c, t = h.shape[:3]
        out = self.head(h.transpose(1, 2).reshape(b, t, c * 16)).squeeze(2).sum(1)
        if self.embed is not None:
            out = out + (self.embed(y) * h.sum((2, 3, 4))).sum(1)
        return out


class DualDiscriminator(nn.Module):
    """Spatial critic on k random full-size frames + temporal critic on the pooled clip."""

    def __init__(self, channels: int, resolution: int, frames: int, width: int, num_classes: int,
                 norm: str, sn: bool, k: int = SPATIAL_FRAMES):
        super().__init__()
        self.k = min(k, frames)
        self.spatial = DCGANDiscriminator(channels, resolution, width, num_classes, norm, sn)
        self.spatial.apply(dcgan_init)
        self.temporal = TemporalDiscriminator(channels, resolution // 2, frames, width, num_classes, sn)
        self.last_parts: tuple[torch.Tensor, torch.Tensor] | None = None

    def pick_frames(self, x: torch.Tensor) -> torch.Tensor:
        """k distinct random frames of every clip: [B, k, C, R, R]."""
        b, t = x.shape[:2]
        idx = torch.rand(b, t, device=x.device).argsort(1)[:, : self.k]
        return x[torch.arange(b, device=x.device)[:, None], idx]

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        b, t, c, r, _ = x.shape
        frames = self.pick_frames(x).flatten(0, 1)
        ys = y.repeat_interleave(self.k) if y is not None else None
        s = self.spatial(frames, ys).view(b, self.k).sum(1)
        pooled = F.avg_pool2d(x.reshape(b * t, c, r, r), 2).view(b, t, c, r // 2, r // 2).transpose(1, 2)
        tm = self.temporal(pooled, y)
        self.last_parts = (s, tm)
        return s + tm


def build_generator(cfg: TrainConfig, num_classes: int) -> VideoGenerator:
    k = num_classes if cfg.conditional else 0
    g = VideoGenerator(cfg.z_dim, cfg.channels, cfg.resolution, cfg.frames, cfg.width, k, cfg.g_norm)
    g.decoder.apply(dcgan_init)
    return g


def build_discriminator(cfg: TrainConfig, num_classes: int) -> DualDiscriminator:
    k = num_classes if cfg.conditional else 0
    return DualDiscriminator(cfg.channels, cfg.resolution, cfg.frames, cfg.width, k, cfg.d_norm, cfg.spectral_norm)


# ---------------------------------------------------------------------------- task


class VideoTask(ImageTask):
    """``dvdgan`` runs: clips from an in-memory clip set, a video G and the dual D."""

    def __init__(self, cfg: TrainConfig, device: torch.device, rank: int = 0):
        self.cfg, self.device = cfg, device
        if cfg.resolution < 16:
            raise ValueError("resolution: dvdgan needs at least 16 px")
        data: ClipSet = load_clips(cfg.data, cfg.resolution, cfg.channels, cfg.frames, split="train", seed=cfg.seed)
        self.classes = list(data.classes) if cfg.conditional else []
        if cfg.conditional and (not data.classes or data.labels is None):
            raise ValueError(f"clip set {cfg.data!r} has no class labels: train it unconditionally (drop --conditional)")
        self.source = InMemorySource(data.clips, data.labels if cfg.conditional else None, device, cfg.seed * 1000 + rank)
        self.G = build_generator(cfg, len(self.classes))
        self.D = build_discriminator(cfg, len(self.classes))
        self._parts: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._expect_fake = False

    def judge(self, x: torch.Tensor, batch: Batch, D: nn.Module | None = None):
        """D's summed score; the branch scores are noted so the step can log both D losses.
        In a D step the loop judges the real batch, then the fakes: those two are kept."""
        D = self.D if D is None else D
        logits = D(diff_augment(x, self.cfg.augment), batch.y)
        s, t = (D if isinstance(D, DualDiscriminator) else self.D).last_parts
        if x is batch.x:
            self._parts["real"] = (s.detach(), t.detach())
            self._expect_fake = True
            return logits, {"d_spatial": s.detach().float().mean(), "d_temporal": t.detach().float().mean()}
        if self._expect_fake:
            self._parts["fake"] = (s.detach(), t.detach())
            self._expect_fake = False
        return logits, {}

    def g_extra(self, fake: torch.Tensor, batch: Batch, step: int):
        if "real" not in self._parts or "fake" not in self._parts:
            return None, {}
        (rs, rt), (fs, ft) = self._parts["real"], self._parts["fake"]
        kind = self.cfg.loss
        return None, {"loss_d_spatial": losses.d_loss(kind, rs.float(), fs.float()),
                      "loss_d_temporal": losses.d_loss(kind, rt.float(), ft.float())}

    def fixed_inputs(self, seed: int) -> dict[str, torch.Tensor]:
        """One clip per row: one row per class (up to 16) when conditional, else 8 rows."""
        gen = torch.Generator().manual_seed(seed + 12345)
        if self.num_classes:
            y = torch.arange(min(self.num_classes, 16))
            return {"z": torch.randn(len(y), self.cfg.z_dim, generator=gen), "y": y}
        return {"z": torch.randn(8, self.cfg.z_dim, generator=gen)}

    @torch.no_grad()
    def snapshot(self, G: nn.Module, fixed: dict[str, torch.Tensor]) -> torch.Tensor:
        """Still grid [C, H, W] in [0, 1]: a clip per row, its frames along the columns."""
        from ._torchvision import torchvision

        was_training = G.training
        G.eval()
        y = fixed.get("y")
        clips = G(fixed["z"].to(self.device), y.to(self.device) if y is not None else None).float().cpu()
        G.train(was_training)
        return torchvision.utils.make_grid(clips.flatten(0, 1), nrow=clips.shape[1], normalize=True,
                                           value_range=(-1, 1), pad_value=1.0)


TASKS["dvdgan"] = VideoTask


# ---------------------------------------------------------------------------- files


def _frames_to_gif(frames: np.ndarray, fps: float, comment: str | None) -> bytes:
    """uint8 frames [T, H, W] or [T, H, W, 3] -> looping GIF bytes with exactly T frames.

    RGB frames share one adaptive palette (no per-frame flicker). GIF writers fold a frame
    identical to the one before into it; to keep T frames (one per clip step) such a frame
    gets one corner pixel nudged to the nearest other palette entry.
    """
    t = frames.shape[0]
    grey = frames.ndim == 3
    if grey:
        images = [Image.fromarray(f, "L") for f in frames]
        nearest = lambda v: v + 1 if v < 255 else v - 1  # noqa: E731
    else:
        montage = Image.fromarray(np.ascontiguousarray(frames.reshape(-1, *frames.shape[2:])), "RGB")
        palette_im = montage.quantize(colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        entries = palette_im.getpalette()[: 3 * 255]
        entries += [min(255, v + 1) if v < 255 else 254 for v in entries[:3]]  # a near twin of colour 0
        palette_im.putpalette(entries)
        images = [Image.fromarray(f, "RGB").quantize(palette=palette_im, dither=Image.Dither.NONE) for f in frames]
        pal = np.array(entries, dtype=np.int32).reshape(-1, 3)

        def nearest(v: int) -> int:
            d = ((pal - pal[v]) ** 2).sum(1)
            d[v] = 1 << 30
            return int(d.argmin())

    previous = None
    for i, im in enumerate(images):
        a = np.asarray(im)
        if previous is not None and np.array_equal(a, previous):
            a = a.copy()
            a[0, 0] = nearest(int(a[0, 0]))
            new = Image.fromarray(a, im.mode)
            if im.mode == "P":
                new.putpalette(im.getpalette())
            images[i] = new
        previous = np.asarray(images[i])
    buf = io.BytesIO()
    extra = {"comment": comment.encode("utf-8")} if comment else {}
    duration = max(20, int(round(1000 / max(fps, 0.1))))
    if t == 1:
        images[0].save(buf, format="GIF", **extra)
    else:
        images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0,
                       optimize=False, disposal=1, **extra)
    return buf.getvalue()


def clip_to_gif_bytes(clip: torch.Tensor, fps: float = DEFAULT_FPS, comment: dict | str | None = None,
                      scale: int = 1) -> bytes:
    """One clip [T, C, H, W] in [-1, 1] as an animated, looping GIF (``scale``: nearest
    upscaling for display)."""
    if clip.dim() != 4:
        raise ValueError(f"a clip is [T, C, H, W]; got shape {tuple(clip.shape)}")
    frames = clip_frames_uint8(clip)
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    text = json.dumps(comment, sort_keys=True) if isinstance(comment, dict) else comment
    return _frames_to_gif(frames, fps, text)


def clips_grid_gif(clips: torch.Tensor, nrow: int = 4, fps: float = DEFAULT_FPS, scale: int = 1,
                   comment: dict | str | None = None) -> bytes:
    """Many clips [N, T, C, H, W] playing side by side in one GIF (a grid per frame)."""
    from ._torchvision import torchvision

    grids = torch.stack([torchvision.utils.make_grid(clips[:, t].float().clamp(-1, 1), nrow=nrow, padding=2,
                                                     pad_value=1.0) for t in range(clips.shape[1])])
    if clips.shape[2] == 1:
        grids = grids[:, :1]
    return clip_to_gif_bytes(grids, fps, comment, scale)


@torch.no_grad()
def generate_clips(loaded, seeds: list[int], class_index: int | None = None, truncation: float | None = None,
                   labels: torch.Tensor | None = None, batch: int = 64) -> torch.Tensor:
    """Clips [N, T, C, H, W] in [-1, 1] (CPU), one per seed, from a loaded dvdgan run."""
    from .sample import class_labels, generate

    if labels is None:
        labels = class_labels(loaded, len(seeds), class_index)
    if class_index is not None and loaded.conditional and not 0 <= class_index < len(loaded.classes):
        raise ValueError(f"class index {class_index} is out of range 0..{len(loaded.classes) - 1}")
    parts = []
    for s in range(0, len(seeds), batch):
        chunk = labels[s:s + batch] if labels is not None else None
        parts.append(generate(loaded, seeds[s:s + batch], truncation=truncation, labels=chunk))
    return torch.cat(parts)


def clip_file_name(seed: int, class_index: int | None) -> str:
    return f"{class_index}_{seed:05d}.gif" if class_index is not None else f"{seed:05d}.gif"


def write_clip_samples(loaded, out: Path, n: int, seed: int = 0, class_index: int | None = None,
                       truncation: float | None = None, fps: float = DEFAULT_FPS, batch: int = 64) -> list[Path]:
    """N animated GIFs (seeds seed..seed+n-1) in ``out``, each with T frames, looping;
    provenance (run, step, seed, class ...) as JSON in the GIF comment."""
    from .sample import class_labels, provenance

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    labels = class_labels(loaded, n, class_index)
    written = []
    for start in range(0, n, batch):
        seeds = list(range(seed + start, seed + min(n, start + batch)))
        chunk = labels[start:start + len(seeds)] if labels is not None else None
        clips = generate_clips(loaded, seeds, truncation=truncation, labels=chunk, batch=batch)
        for i, s in enumerate(seeds):
            c = int(chunk[i]) if chunk is not None else None
            info = provenance(loaded, s, c, truncation=truncation or "none", frames=clips.shape[1], fps=fps)
            path = out / clip_file_name(s, c)
            path.write_bytes(clip_to_gif_bytes(clips[i], fps, info))
            written.append(path)
    return written


def read_gif_frames(data: bytes) -> list[Image.Image]:
    """Every frame of a GIF (for tests and the app)."""
    frames = []
    with Image.open(io.BytesIO(data)) as im:
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            frames.append(im.convert("RGB"))
    return frames
