"""How many real images does a score need? One fixed generator (the emoji StyleGAN2 fixture of
the tests, a 10-minute run) scored against the emoji held-out split (187 images), the whole
train split (1,683), and three random draws of 50, 187 and 500 train images: the spread over
draws is what the choice of reals alone moves FID by. Behind ``metrics.quality.MIN_HELD_OUT``.

    python bench/real_set_size.py   # writes bench/results/real_set_size.json / .md
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from gan_core.data.images import ImageSet, load_dataset  # noqa: E402
from gan_core.inference.generators import load_generator  # noqa: E402
from gan_core.metrics.quality import evaluate, get_extractor  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "emoji_stylegan2_g.safetensors"
KEYS = ("fid", "kid_mean", "precision", "recall", "coverage")


def main() -> None:
    torch.set_num_threads(1)
    G = load_generator(checkpoint=FIXTURE)
    train, test = load_dataset("emoji", 64, 3), load_dataset("emoji", 64, 3, split="test")
    extractor = get_extractor("emoji", 64, 3, "auto")
    sets = {"held-out split": test, "train split": train}
    for n in (50, 187, 500):
        for draw in range(3):
            pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(draw))[:n]
            sets[f"{n} train images, draw {draw}"] = ImageSet(train.images[pick], train.labels[pick], train.classes, "emoji")
    rows = []
    for name, real in sets.items():
        scores = evaluate(G, real, extractor, n=2000)
        rows.append({"reals": name, "n_real": len(real), **{k: round(scores[k], 4) for k in KEYS}})
        print(rows[-1], flush=True)
    out = ROOT / "bench" / "results" / "real_set_size"
    out.with_suffix(".json").write_text(json.dumps({"feature_space": extractor.name, "samples": 2000, "rows": rows}, indent=2))
    lines = [f"One emoji StyleGAN2 (the test fixture), 2,000 samples, {extractor.name}.", "",
             "| reals | n | FID | KID | precision | recall | coverage |", "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['reals']} | {r['n_real']} | " + " | ".join(f"{r[k]:.4f}" for k in KEYS) + " |" for r in rows]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
