"""Does the per-pixel noise explain the StyleGAN2's scores? Rescore trained emoji generators with
each layer's fixed noise image (what sampling and every bench here use, as StyleGAN's tools do),
with fresh noise per image (what stylegan2-ada's metrics draw) and with none.

    python bench/emoji_noise_modes.py ROOT [ROOT ...]   # folders of emoji_quality.py runs

Each ROOT holds a ``stylegan2_ada`` run (``emoji_quality.py --root ROOT``). Scores as the bench's:
2,000 samples against the emoji train split, classifier space and rotation space. Writes
``bench/results/emoji_noise_modes.json`` / ``.md``.
"""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import torch  # noqa: E402

from fashion_quality import second_space  # noqa: E402
from gan_core.data import load_dataset  # noqa: E402
from gan_core.inference.generators import load_generator  # noqa: E402
from gan_core.metrics.quality import evaluate  # noqa: E402

MODES = ("const", "random", "none")


def main() -> None:
    torch.set_num_threads(1)
    train = load_dataset("emoji", 64, 3, split="train")
    rows = []
    for root in map(Path, sys.argv[1:]):
        loaded = load_generator("stylegan2_ada", root=root)
        forward = loaded.G.forward
        for mode in MODES:
            loaded.G.forward = functools.partial(forward, noise_mode=mode)
            torch.manual_seed(0)  # fresh noise comes from the global stream: the same draw every run
            s1, s2 = evaluate(loaded, train, n=2000), second_space(loaded, train, 2000)
            rows.append({"run": root.name, "step": loaded.step, "noise": mode, "fid": s1["fid"],
                         "kid_x1e3": s1["kid_mean"] * 1e3, "precision": s1["precision"], "recall": s1["recall"],
                         "fid_rot": s2["fid"], "kid_rot_x1e3": s2["kid_mean"] * 1e3, "recall_rot": s2["recall"]})
            print(json.dumps(rows[-1]), flush=True)
    out = ROOT / "bench" / "results" / "emoji_noise_modes"
    out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["# StyleGAN2 emoji generators scored with fixed, fresh and no per-pixel noise", "",
             "| run | step | noise | FID | KID (x1e3) | precision | recall | 2nd FID | 2nd KID (x1e3) | 2nd recall |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['run']} | {r['step']} | {r['noise']} | {r['fid']:.2f} | {r['kid_x1e3']:.1f} | "
                     f"{r['precision']:.2f} | {r['recall']:.2f} | {r['fid_rot']:.2f} | {r['kid_rot_x1e3']:.1f} | "
                     f"{r['recall_rot']:.2f} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
