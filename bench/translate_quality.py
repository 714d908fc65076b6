"""Quality of the translation run types on Fashion-MNIST (issue #19's measures), after a short
training through the real Trainer.

- pix2pix, edges -> Fashion-MNIST: on held-out test images, the outline (the run's own
  ``edges`` transform) is translated back into a picture; reported: the offline classifier's
  agreement with the source image's class (beside the same classifier on the real images),
  PSNR / SSIM against the real image, and FID against the real test images in the offline
  classifier's feature space (the studio's FID space on this CPU, ``metrics.features``).
- CycleGAN, one class to another (default sneaker -> ankle boot): share of translations the
  classifier assigns to the target class, share of round trips that come back as the source
  class, and cycle PSNR (source vs. its translation back); both directions.

    python bench/translate_quality.py --model pix2pix --minutes 4 --threads 1 --out bench/results/translate_pix2pix.json

One seed per call; the runs and the classifier cache live under --work (default a temp folder).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from skimage.metrics import peak_signal_noise_ratio, structural_similarity  # noqa: E402


def psnr_ssim(x: torch.Tensor, y: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per image, on [0, 1] grey images ([N, 1, R, R] in [-1, 1])."""
    a = ((x[:, 0].float() + 1) / 2).clamp(0, 1).numpy()
    b = ((y[:, 0].float() + 1) / 2).clamp(0, 1).numpy()
    p = [peak_signal_noise_ratio(bi, ai, data_range=1.0) for ai, bi in zip(a, b)]
    s = [structural_similarity(bi, ai, data_range=1.0) for ai, bi in zip(a, b)]
    return p, s


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("pix2pix", "cyclegan"), required=True)
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=1000, help="held-out images to score")
    ap.add_argument("--domain-a", default="sneaker")
    ap.add_argument("--domain-b", default="ankle boot")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--grid", type=Path, default=None, help="also save the run's last fixed grid here")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="translate-bench-"))
    os.environ.setdefault("GAN_CHECKPOINTS", str(work / "checkpoints"))
    os.environ.setdefault("GAN_FEATURE_CACHE", str(work / "feature-cache"))
    torch.set_num_threads(args.threads)

    from gan_core.config import TrainConfig, preset_for
    from gan_core.data.images import load_dataset
    from gan_core.data.paired import domains_from_classes, edges, resolve_domain
    from gan_core.inference.translate import load_translator
    from gan_core.metrics.features import load_classifier
    from gan_core.metrics.quality import fid_from_features
    from gan_core.runs.rundir import RunDir
    from gan_core.training.loop import train

    values = {**preset_for("fashion-mnist", args.model), "minutes": args.minutes, "seed": args.seed,
              "threads": args.threads, "checkpoint_every": 10**8, "sample_every": 500, "log_every": 100}
    if args.model == "cyclegan":
        values.update(domain_a=args.domain_a, domain_b=args.domain_b)
    cfg = TrainConfig.from_dict(values)
    name = f"bench-{args.model}-s{args.seed}-{time.strftime('%H%M%S')}"
    run = RunDir.create(name, cfg)
    started = time.time()
    state = train(run)
    steps = run.read_status().get("step")
    print(f"{name}: {state} after {steps} steps ({time.time() - started:.0f}s)", flush=True)

    t = load_translator(name)
    clf = load_classifier("fashion-mnist", 32, 1, log=print)
    test = load_dataset("fashion-mnist", 32, 1, split="test")
    result: dict = {"model": args.model, "seed": args.seed, "minutes": args.minutes, "steps": steps,
                    "threads": args.threads, "classifier": clf.name, "classifier_test_accuracy": clf.accuracy,
                    "config": cfg.to_dict()}
    if args.model == "pix2pix":
        b, labels = test.images[: args.n], test.labels[: args.n]
        out = torch.cat([t.translate(edges(b[i:i + 250])) for i in range(0, len(b), 250)])
        feats_fake, pred_fake = clf.features_and_predictions(out)
        feats_real, pred_real = clf.features_and_predictions(test.images)
        p, s = psnr_ssim(out, b)
        result.update(n=len(b), class_agreement=float((pred_fake == labels).float().mean()),
                      class_agreement_real=float((pred_real[: len(b)] == labels).float().mean()),
                      psnr_db=float(np.mean(p)), psnr_sd=float(np.std(p)), ssim=float(np.mean(s)),
                      ssim_sd=float(np.std(s)), fid_classifier_space=fid_from_features(feats_real, feats_fake),
                      fid_space_note="offline classifier's 128-d features, vs all 10,000 real test images")
    else:
        a, b = domains_from_classes(test.images, test.labels, test.classes, args.domain_a, args.domain_b)
        ia, ib = resolve_domain(args.domain_a, test.classes), resolve_domain(args.domain_b, test.classes)
        for tag, src, reverse, source_class, target_class in (("a_to_b", a, False, ia, ib), ("b_to_a", b, True, ib, ia)):
            src = src[: args.n]
            there = t.translate(src, reverse)
            back = t.translate(there, not reverse)
            p, _ = psnr_ssim(back, src)
            result[tag] = {
                "n": len(src),
                "target_class_share": float((clf.predict(there) == target_class).float().mean()),
                "source_class_share_of_translations": float((clf.predict(there) == source_class).float().mean()),
                "cycle_returns_to_source_class": float((clf.predict(back) == source_class).float().mean()),
                "cycle_psnr_db": float(np.mean(p)), "cycle_psnr_sd": float(np.std(p)),
                "real_source_classified_as_source": float((clf.predict(src) == source_class).float().mean()),
            }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    if args.grid is not None:
        grids = run.sample_grids()
        if grids:
            args.grid.parent.mkdir(parents=True, exist_ok=True)
            args.grid.write_bytes(grids[-1][1].read_bytes())
    print(json.dumps({k: v for k, v in result.items() if k != "config"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
