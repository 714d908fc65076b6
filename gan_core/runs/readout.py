"""How to read a run's training records: the chart groups of its metrics, what D's output means
for each loss, durations in words. Monitor and the HTML report both draw from here."""
from __future__ import annotations

import math

# Chart groups for Monitor: (title, [(key, label)], y-axis title)
CHARTS: list[tuple[str, list[tuple[str, str]], str]] = [
    ("Losses", [("loss_d", "loss D"), ("loss_g", "loss G")], "loss"),
    ("D(x) and D(G(z))", [("d_real", "D(x) real"), ("d_fake", "D(G(z)) fake")], "D's output as a probability"),
    ("D's accuracy", [("acc_real", "on real"), ("acc_fake", "on fake")], "share judged right"),
    ("Gradient norms", [("grad_norm_d", "‖∇D‖"), ("grad_norm_g", "‖∇G‖")], "L2 norm"),
    ("Speed", [("images_per_s", "images/s")], "images per second"),
]


def d_output_axis(loss: str) -> tuple[str, float | None, str]:
    """How to read the D(x)/D(G(z)) chart for a loss: (y title, reference line, its label)."""
    if loss in ("minimax", "nonsaturating"):
        return "D's output as a probability", 0.5, "0.5: G fools D"
    if loss == "lsgan":
        return "D's mean score (target: real 1, fake 0)", 0.5, "0.5: undecided"
    if loss == "rpgan":
        return "D's mean raw score (only real minus fake counts)", None, ""
    return "D's mean raw score (real > 0 > fake)", 0.0, "0: undecided"


def duration_text(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {(seconds % 3600) // 60:02d}m"
