"""Does style mixing do what it promises? Layout from seed A, colours from seed B, measured.

For seed pairs (A, B) mixed after ``cutoff`` style layers (3: the 4x4 and 8x8 styles from A,
as the Generate page's default does):

- layout: the low-pass luminance (8x8-px blocks, centred per image) of the mixed image
  correlates more with A's than with B's;
- colour: the mean colour (per-channel mean minus the grey level) is nearer B's than A's.

An untrained generator keeps A's layout by construction (its coarse activations are A's), but
which layers carry colour is learned in training (style-mixing regularisation), so the colour
half only means something on a trained model. Used by ``bench/emoji_quality.py`` and the tests.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

LUMA = (0.299, 0.587, 0.114)


def luma_layout(x: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] -> [N, H/8 * W/8]: where things are, not their colour."""
    luma = (x * torch.tensor(LUMA if x.shape[1] == 3 else (1.0,)).view(1, -1, 1, 1)).sum(1, keepdim=True)
    low = F.avg_pool2d(luma, 8).flatten(1)
    return low - low.mean(1, keepdim=True)


def chroma(x: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] -> [N, C]: the mean colour, less its grey level."""
    m = x.mean((2, 3))
    return m - m.mean(1, keepdim=True)


@torch.no_grad()
def style_mixing_check(loaded, pairs: int = 64, cutoff: int = 3, class_index: int | None = 0) -> dict:
    """Shares of ``pairs`` seed pairs (A = 0.., B = 10000..) whose mixed image follows A's
    layout and B's colour, with the mean correlations and distances behind them."""
    from gan_core.inference.generators import generate, style_mix

    if not loaded.conditional:
        class_index = None
    seeds_a, seeds_b = list(range(pairs)), list(range(10_000, 10_000 + pairs))
    a, b = generate(loaded, seeds_a, class_index=class_index), generate(loaded, seeds_b, class_index=class_index)
    mixed = torch.stack([style_mix(loaded, sa, sb, cutoff, class_index) for sa, sb in zip(seeds_a, seeds_b)])
    la, lb, lm = luma_layout(a), luma_layout(b), luma_layout(mixed)
    corr_a, corr_b = F.cosine_similarity(lm, la, dim=1), F.cosine_similarity(lm, lb, dim=1)
    dist_a, dist_b = (chroma(mixed) - chroma(a)).norm(dim=1), (chroma(mixed) - chroma(b)).norm(dim=1)
    return {"cutoff": cutoff, "num_ws": loaded.G.num_ws, "pairs": pairs,
            "layout_follows_a": float((corr_a > corr_b).float().mean()),
            "layout_corr_a": float(corr_a.mean()), "layout_corr_b": float(corr_b.mean()),
            "colour_follows_b": float((dist_b < dist_a).float().mean()),
            "colour_dist_a": float(dist_a.mean()), "colour_dist_b": float(dist_b.mean())}
