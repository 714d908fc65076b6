"""The augmentation lab's answer: a table (JSON + markdown) and a bar chart (PNG).

Per K and arm: mean test accuracy over the classifier seeds, the sample standard
deviation (``ddof=1``; 0 with one seed), min and max, and the difference to "real only"
at the same K. An arm whose GAN saw more real images than K per class (a reused run with
``--force-reuse``) is marked unfair in both.
"""
from __future__ import annotations

import io
import statistics
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from gan_core.runs.rundir import atomic_write_bytes, atomic_write_json

ARM_TITLES = {"real": "real only", "real+syn": "real + {m} synthetic", "syn": "{m} synthetic only"}
COLOURS = {"real": (90, 90, 90), "real+syn": (31, 119, 180), "syn": (255, 127, 14)}


def arm_title(arm: str, m: int) -> str:
    return ARM_TITLES[arm].format(m=m) + ("" if arm == "real" else " /class")


def summarise(name: str, spec, clf_results: list[dict], gans: dict[int, dict | None]) -> dict[str, Any]:
    """Aggregate finished classifier results (a partial lab gives a partial table).
    ``spec`` is the lab's ``LabSpec``; ``gans`` its GAN step results by K."""
    groups: dict[tuple[int, str, int], list[dict]] = {}
    for r in clf_results:
        groups.setdefault((r["k"], r["arm"], r["m"]), []).append(r)
    order = {arm: i for i, arm in enumerate(["real", "real+syn", "syn"])}
    rows = []
    for (k, arm, m), results in sorted(groups.items(), key=lambda kv: (kv[0][0], order[kv[0][1]], kv[0][2])):
        accs = [r["accuracy"] for r in results]
        rows.append({"k": k, "arm": arm, "m": m, "title": arm_title(arm, m), "n_seeds": len(accs),
                     "mean": statistics.fmean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                     "min": min(accs), "max": max(accs), "accuracies": accs, "n_train": results[0]["n_train"],
                     "fair": all(r.get("fair", True) for r in results)})
    base = {row["k"]: row["mean"] for row in rows if row["arm"] == "real"}
    for row in rows:
        row["vs_real"] = row["mean"] - base[row["k"]] if row["k"] in base else None
    return {"lab": name, "data": spec.data, "per_class": spec.per_class, "seeds": spec.seeds,
            "synthetic_per_class": spec.synthetic_per_class, "classifier": spec.classifier,
            "gan": {str(k): ({kk: g.get(kk) for kk in ("run", "reused", "checkpoint_step", "seen_total",
                                                          "seen_max_per_class", "seen_sha256", "fair", "problems")}
                             if g else None) for k, g in gans.items()},
            "gan_budget": {"steps": spec.gan_steps, "minutes": spec.gan_minutes, "augment": spec.gan_augment},
            "rows": rows}


def markdown_table(summary: dict[str, Any]) -> str:
    """One line per K: mean ± std over seeds for each arm, and the change against real only."""
    ks = sorted({r["k"] for r in summary["rows"]})
    arms = []
    for r in summary["rows"]:
        if (r["arm"], r["m"]) not in arms:
            arms.append((r["arm"], r["m"]))
    head = ["K per class"] + [_title(a, m) for a, m in arms]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k in ks:
        cells = [str(k)]
        for a, m in arms:
            row = next((r for r in summary["rows"] if r["k"] == k and r["arm"] == a and r["m"] == m), None)
            if row is None:
                cells.append("-")
                continue
            cell = f"{row['mean']:.3f} ± {row['std']:.3f}"
            if a != "real" and row["vs_real"] is not None:
                cell += f" ({row['vs_real']:+.3f})"
            cells.append(cell + ("" if row["fair"] else " (unfair)"))
        lines.append("| " + " | ".join(cells) + " |")
    seeds = max((r["n_seeds"] for r in summary["rows"]), default=0)
    c = summary["classifier"]
    lines.append("")
    lines.append(f"Test accuracy on {summary['data']}'s whole test split, mean ± standard deviation over {seeds} "
                 f"classifier seeds (in brackets: change against real only). Classifier: the studio's SmallCNN, "
                 f"{c['steps']} steps of batch {c['batch_size']}, random shifts"
                 f"{' and flips' if c.get('flip') else ''}. One K-draw and one GAN per K.")
    return "\n".join(lines) + "\n"


def _title(arm: str, m: int) -> str:
    return {"real": "real only", "real+syn": f"real + syn (M={m})", "syn": f"syn only (M={m})"}[arm]


def chart_png(summary: dict[str, Any], width: int = 760, height: int = 380) -> bytes:
    """Grouped bars per K (one per arm), whiskers at mean ± std, drawn with Pillow."""
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    left, right, top, bottom = 56, 16, 34, 56
    d.text((left, 8), f"{summary['data']}: test accuracy by K real images per class", fill="black", font=font)
    rows = summary["rows"]
    ks = sorted({r["k"] for r in rows})
    arms = []
    for r in rows:
        if (r["arm"], r["m"]) not in arms:
            arms.append((r["arm"], r["m"]))
    lo = 0.0
    hi = 1.0
    plot_h = height - top - bottom
    y_of = lambda v: top + plot_h * (1 - (v - lo) / (hi - lo))  # noqa: E731
    for t in range(0, 11, 2):
        v = t / 10
        d.line([(left, y_of(v)), (width - right, y_of(v))], fill=(225, 225, 225))
        d.text((8, y_of(v) - 6), f"{v:.1f}", fill="black", font=font)
    if not ks:
        d.text((left + 10, top + 10), "no finished classifier yet", fill="black", font=font)
    group_w = (width - left - right) / max(len(ks), 1)
    bar_w = group_w * 0.8 / max(len(arms), 1)
    for gi, k in enumerate(ks):
        x0 = left + gi * group_w + group_w * 0.1
        d.text((x0 + group_w * 0.3, height - bottom + 6), f"K = {k}", fill="black", font=font)
        for ai, (arm, m) in enumerate(arms):
            row = next((r for r in rows if r["k"] == k and r["arm"] == arm and r["m"] == m), None)
            if row is None:
                continue
            bx = x0 + ai * bar_w
            shade = COLOURS[arm] if len({mm for a, mm in arms if a == arm}) < 2 else _lighter(COLOURS[arm], ai)
            d.rectangle([bx + 2, y_of(row["mean"]), bx + bar_w - 2, y_of(lo)], fill=shade)
            cx = bx + bar_w / 2
            d.line([(cx, y_of(min(hi, row["mean"] + row["std"]))), (cx, y_of(max(lo, row["mean"] - row["std"])))], fill="black", width=2)
    lx = left
    for ai, (arm, m) in enumerate(arms):
        shade = COLOURS[arm] if len({mm for a, mm in arms if a == arm}) < 2 else _lighter(COLOURS[arm], ai)
        d.rectangle([lx, height - 20, lx + 10, height - 10], fill=shade)
        label = _title(arm, m)
        d.text((lx + 14, height - 22), label, fill="black", font=font)
        lx += 24 + int(d.textlength(label, font=font))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _lighter(colour: tuple[int, int, int], i: int) -> tuple[int, int, int]:
    f = min(0.6, 0.15 * (i % 4))
    return tuple(int(c + (255 - c) * f) for c in colour)


def write_report(folder: Path, summary: dict[str, Any]) -> None:
    """results.json, table.md and chart.png in ``folder`` (each replaced atomically)."""
    atomic_write_json(folder / "results.json", summary)
    atomic_write_bytes(folder / "table.md", markdown_table(summary).encode())
    atomic_write_bytes(folder / "chart.png", chart_png(summary))
