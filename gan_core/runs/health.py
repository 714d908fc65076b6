"""Plain-language training health: warnings from the curves, what healthy curves look like,
and the sample grids' variety (a mode-collapse alarm). Monitor's Health panel and
``python -m gan_core status`` both read it."""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gan_core.runs.metrics_log import split_records


@dataclass
class Health:
    level: str  # "error" | "warning" | "info"
    title: str
    text: str


HEALTHY_NOTES: dict[str, str] = {
    "minimax": (
        "**Healthy curves with the minimax (BCE) loss:** loss D hovers around 2·ln 2 ≈ 1.39 "
        "(D can't tell real from fake), loss G around ln 2 ≈ 0.69 or a bit above; D(x) and "
        "D(G(z)) drift toward 0.5 from opposite sides; accuracies wobble between 0.5 and 0.8. "
        "Noisy curves are normal — GAN losses don't fall steadily like a classifier's. "
        "Judge progress by the sample grids."
    ),
    "nonsaturating": (
        "**Healthy curves with the non-saturating loss:** loss D near 2·ln 2 ≈ 1.39, loss G "
        "around 0.7–2 and noisy; D(x) a bit above 0.5, D(G(z)) a bit below; accuracies "
        "between 0.5 and 0.8. Loss G climbing steadily while loss D falls toward 0 means D is winning."
    ),
    "hinge": (
        "**Healthy curves with the hinge loss:** loss D typically 1–2 (2 means D is at chance) "
        "and slowly falling; loss G noisy around 0–1. D(x) and D(G(z)) are raw scores: real "
        "above 0, fake below, the gap staying moderate. Loss D near 0 for long means D has won."
    ),
    "lsgan": (
        "**Healthy curves with the least-squares loss:** loss D around 0.2–0.5 (0.5 is chance "
        "with targets 0/1), loss G around 0.2–0.5; D(x) and D(G(z)) approach each other. "
        "Loss D near 0 means D separates real and fake perfectly."
    ),
    "rpgan": (
        "**Healthy curves with the relativistic pairing loss (R3GAN):** each real is scored against a "
        "fake, so loss D and loss G sit near ln 2 ≈ 0.69 when D cannot rank the pair and loss D falls "
        "toward 0 when it always can. D(x) and D(G(z)) are raw scores whose common level drifts "
        "freely: only their gap means anything. D's accuracy is the share of pairs where the real "
        "scored above its fake."
    ),
    "wgan-gp": (
        "**Healthy curves with WGAN-GP:** the critic's loss is negative (it estimates minus "
        "the Wasserstein distance) and its magnitude slowly shrinks as G improves; loss G "
        "wanders freely and its level means little. Accuracy and D(x) are less meaningful "
        "for a critic; watch the distance and the samples."
    ),
}


# Translation runs add their own terms to loss G and shape loss D their own way, so the notes
# by loss alone gave them wrong levels (pix2pix's loss G of 20-80 against "0.7-2"). Numbers from
# 32 px Fashion-MNIST runs on the 2-core CPU, narrower than the presets (pix2pix width 16 for
# 1,500 steps, CycleGAN width 8 for 150): levels, not targets.
MODEL_NOTES: dict[str, str] = {
    "pix2pix": (
        "**Healthy curves for pix2pix:** loss G is the adversarial term plus 100 × the L1 distance to "
        "the target, so it is mostly L1: high at first (about 80 on Fashion-MNIST outlines) and falling "
        "steadily (about 23 after 1,500 steps). Loss D is halved, as in the paper: ln 2 ≈ 0.69 at chance; "
        "the PatchGAN D often gets ahead (0.2–0.4, accuracies near 0.9) while L1 keeps G improving. "
        "**Translation terms** shows L1 and the adversarial term apart; judge by the grid's output row "
        "against its target row."
    ),
    "cyclegan": (
        "**Healthy curves for CycleGAN:** loss G adds the two least-squares adversarial terms (0.25 each "
        "at balance) to 10 × the two cycle errors and 5 × the two identity errors, so it is mostly the "
        "cycle term: it falls fast at first (about 24 to 6 in the first 150 steps on Fashion-MNIST) and "
        "then slowly. Loss D is the two discriminators' sum: 0.5 when both are at chance, lower when they "
        "win. In **Translation terms** the cycle errors should keep falling; in the grid the A→B row "
        "should look like B, and the rows back like the originals."
    ),
}


def healthy_note(loss: str, model: str | None = None) -> str:
    return MODEL_NOTES.get(model or "", HEALTHY_NOTES.get(loss, HEALTHY_NOTES["minimax"]))


def health_warnings(records: list[dict[str, Any]], loss: str = "minimax", *, window: int = 10,
                    diversity: "DiversityTrend | None" = None, state: str | None = None,
                    error: str | None = None) -> list[Health]:
    """Plain-language warnings from the training records (and the sample grids' diversity)."""
    out: list[Health] = []
    train, evals = split_records(records)
    if state == "diverged":
        out.append(Health("error", "Training diverged",
                          (error or "losses became NaN or infinite") +
                          " Resume won't help by itself: start a new run with a lower learning rate, "
                          "spectral norm in D or the hinge loss, or set on_diverge = rollback."))
    bad = [(r.get("step"), k) for r in train for k, v in r.items()
           if isinstance(v, float) and not math.isfinite(v)]
    if bad and state != "diverged":
        step, key = bad[0]
        out.append(Health("error", "Numbers went bad (NaN or infinity)",
                          f"{key} stopped being a finite number at step {step}. Training has diverged; "
                          "lower the learning rates or switch on spectral norm."))
    recent = [r for r in train if "acc_real" in r and "acc_fake" in r][-window:]
    if len(recent) >= window and loss != "wgan-gp":
        if all(r["acc_real"] >= 0.95 and r["acc_fake"] >= 0.95 for r in recent):
            out.append(Health("warning", "D is winning outright",
                              f"For the last {window} logs the discriminator told real from fake "
                              "more than 95% of the time, so the generator gets almost no useful signal. "
                              "Try DiffAugment, a lower lr_d, spectral norm, R1, or a smaller D (width)."))
        elif all(r["acc_real"] <= 0.2 and r["acc_fake"] <= 0.2 for r in recent):
            out.append(Health("warning", "D has stopped learning",
                              "The discriminator gets real and fake images wrong most of the time. "
                              "Raise lr_d or d_steps."))
    scored = [r for r in evals if isinstance(r.get("precision"), (int, float)) and isinstance(r.get("recall"), (int, float))]
    if scored and scored[-1]["precision"] == 0 and scored[-1]["recall"] == 0:
        out.append(Health("warning", "No sample resembles the real images yet (precision and recall are 0)",
                          f"At step {scored[-1].get('step', 0):,} none of the generated images fell among the real "
                          "images' nearest neighbours, and no real image among the generated ones. Early in a "
                          "run this is expected; if it stays at 0, look at the sample grid: the generator may "
                          "be stuck (try the studio preset's hinge loss and spectral norm, or train longer)."))
    if diversity is not None and diversity.collapsed:
        out.append(Health("warning", "Samples are losing variety (mode collapse?)",
                          f"The latest sample grid (step {diversity.latest_step}) is only "
                          f"{diversity.ratio:.0%} as varied as the most varied grid so far: the generator "
                          "may be producing near-identical images. Try the hinge loss, spectral norm, "
                          "a conditional model, or resume from an earlier checkpoint."))
    return out


def grid_tiles(image: np.ndarray, tile: int, padding: int = 2) -> np.ndarray:
    """Cut a torchvision ``make_grid`` image (padding ``padding``) into its tiles [N, t, t, C]."""
    if image.ndim == 2:
        image = image[:, :, None]
    h, w = image.shape[:2]
    step = tile + padding
    rows, cols = (h - padding) // step, (w - padding) // step
    tiles = []
    for r in range(rows):
        for c in range(cols):
            y, x = padding + r * step, padding + c * step
            t = image[y:y + tile, x:x + tile]
            if t.shape[:2] == (tile, tile):
                tiles.append(t)
    return np.stack(tiles) if tiles else np.zeros((0, tile, tile, image.shape[2]), image.dtype)


def tile_diversity(tiles: np.ndarray) -> float:
    """Mean pairwise L1 distance between tiles, in [0, 1] for 8-bit pixels."""
    n = len(tiles)
    if n < 2:
        return 0.0
    flat = tiles.reshape(n, -1).astype(np.float32) / 255.0
    total, pairs = 0.0, 0
    for i in range(n - 1):  # n <= a few hundred: O(n^2) on small vectors is fine
        total += float(np.abs(flat[i + 1:] - flat[i]).mean(axis=1).sum())
        pairs += n - 1 - i
    return total / pairs


@functools.lru_cache(maxsize=512)
def _grid_diversity_cached(path: str, mtime_ns: int, size: int, tile: int) -> float:
    with Image.open(path) as im:
        array = np.asarray(im.convert("RGB"))
    return tile_diversity(grid_tiles(array, tile))


def grid_diversity(path: Path, tile: int) -> float | None:
    """Diversity of one sample grid PNG (cached by path, mtime and size)."""
    try:
        st = os.stat(path)
        return _grid_diversity_cached(str(path), st.st_mtime_ns, st.st_size, int(tile))
    except (OSError, ValueError):
        return None


@dataclass
class DiversityTrend:
    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    threshold: float = 0.35

    @property
    def latest_step(self) -> int | None:
        return self.steps[-1] if self.steps else None

    @property
    def ratio(self) -> float:
        """Latest diversity over the peak of the grids before it (step 0 excluded: an
        untrained G's outputs are not a fair yardstick)."""
        earlier = [v for s, v in zip(self.steps[:-1], self.values[:-1]) if s > 0]
        if not earlier or not self.values:
            return 1.0
        peak = max(earlier)
        return self.values[-1] / peak if peak > 0 else 1.0

    @property
    def collapsed(self) -> bool:
        return len([s for s in self.steps if s > 0]) >= 3 and self.ratio < self.threshold


def diversity_trend(grids: list[tuple[int, Path]], tile: int, max_grids: int = 60) -> DiversityTrend:
    """Diversity of a run's sample grids through training (evenly thinned to ``max_grids``)."""
    if len(grids) > max_grids:
        keep = sorted({round(i * (len(grids) - 1) / (max_grids - 1)) for i in range(max_grids)})
        grids = [grids[i] for i in keep]
    trend = DiversityTrend()
    for step, path in grids:
        value = grid_diversity(path, tile)
        if value is not None:
            trend.steps.append(step)
            trend.values.append(value)
    return trend


def run_health(run, state: str | None = None) -> list[Health]:
    """The warnings Monitor shows for one run, from its files alone (for ``status``)."""
    from gan_core.runs.rundir import RunError

    try:
        cfg = run.config()
        records = run.read_metrics() if run.metrics_path.exists() else []
    except (RunError, OSError):
        return []
    status = run.read_status()
    trend = diversity_trend(run.sample_grids(), cfg.resolution) if cfg.is_image_gan else None
    return health_warnings(records, cfg.loss, diversity=trend, state=state or status.get("state"),
                           error=status.get("error"))
