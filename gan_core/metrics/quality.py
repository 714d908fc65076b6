"""Quality metrics of a generator against a held-out real split: FID, KID, precision/recall,
and (conditional runs) class accuracy.

- A run is scored against its set's held-out split, or, when that has under
  ``MIN_HELD_OUT`` images, against every image of the set (train and held-out), as
  stylegan2-ada scores small sets against all of theirs; the feature space's name then
  ends in ``ALL_IMAGES``, so those numbers are never compared with held-out ones.

- Features come from ``metrics.features`` (Inception-v3 when its weights are here, else
  the offline classifier). Every result carries ``feature_space``; never compare numbers
  whose spaces differ.
- FID and KID are torchmetrics' ``FrechetInceptionDistance`` / ``KernelInceptionDistance``.
  Features are computed once per image by our extractor and handed to those metrics
  through a pass-through module (torchmetrics accepts any ``nn.Module`` as its
  extractor), so the same features feed FID, KID and precision/recall, and the real
  split's features are computed once per process. KID is torchmetrics' unbiased MMD²
  estimator (cubic polynomial kernel), averaged over 50 random subsets of up to 1000 (20 inside a run); ``kid_std`` is
  its spread over those subsets. It can be negative for close distributions.
- Precision/recall: k-NN manifolds (Kynkäänniemi et al. 2019, k=3) on the same
  features, on equal numbers of real and generated images. Precision = share of
  generated images inside some real image's k-NN ball; recall = the converse.
- Density/coverage (Naeem et al. 2020, k=5): the same comparison using only the reals'
  k-NN balls, so off-manifold fakes cannot inflate the diversity figure the way they can
  inflate recall. Coverage = share of real images with a generated image inside their ball.
- Class accuracy (conditional runs): share of samples the offline classifier assigns to
  the class that was asked for. On real labelled images it is the classifier's accuracy.

In a run (``eval_every`` > 0) ``training.evaluation`` scores G with ``evaluate_generator`` and appends ``{"kind": "eval", ...}``
records to ``metrics.jsonl`` and keeps the best checkpoint by FID, marked ``best`` in its
JSON sidecar and in ``status.json``. ``python -m gan_core eval`` scores any checkpoint and
appends its result to the run's ``evals.jsonl``; ``checkpoint_scores`` reads either.
"""
from __future__ import annotations

import json
import time
import weakref
from typing import Any

import torch
from torch import nn

from gan_core.data.images import ImageSet, load_dataset
from gan_core.inference.generators import LoadedGenerator, generate, load_generator
from gan_core.inference.generators import class_labels as labels_for
from gan_core.metrics.features import (
    ClassifierFeatures,
    FeatureExtractor,
    accuracy_of,
    get_extractor,
    load_classifier,
)
from gan_core.runs.rundir import RunDir, iter_metrics
from gan_core.runtypes import registry
from gan_core.torch_utils import vision as _torchvision  # noqa: F401  (torchmetrics imports torchvision: guard first)

RESULT_KEYS = ("feature_space", "n", "n_real", "fid", "kid_mean", "kid_std", "precision", "recall", "density", "coverage",
               "class_accuracy")
K_NEIGHBOURS = 3
DC_NEIGHBOURS = 5  # density/coverage: the paper's k
KID_SUBSETS = 50
IN_RUN_KID_SUBSETS = 20  # KID's subsets dominate an evaluation's CPU time; fewer inside the run
KID_SUBSET_SIZE = 1000
MAX_REAL = 10_000
# One emoji generator's FID against three draws of 187 of its training images (the size of
# emoji's held-out split) ranged 2.67-4.42, of 500: 3.22-3.77, against all 1,683: 3.51
# (BENCHMARKS.md): under this many held-out images the draw of reals moves FID like a seed.
MIN_HELD_OUT = 1000
ALL_IMAGES = " vs all images"
EVAL_SEED = 2024  # latents of in-run and CLI evaluations (the same every time: smoother curves)
BATCH = 500


class _Passthrough(nn.Module):
    """Hands precomputed features to torchmetrics as if it had extracted them."""

    def __init__(self, dim: int):
        super().__init__()
        self.num_features = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


# ---------------------------------------------------------------------------- the numbers


def fid_from_features(real: torch.Tensor, fake: torch.Tensor) -> float:
    from torchmetrics.image.fid import FrechetInceptionDistance

    # sync_on_compute=False: under DDP only rank 0 evaluates, and torchmetrics' default gather
    # across ranks waited for the others forever (the run hung at its first in-run eval)
    metric = FrechetInceptionDistance(feature=_Passthrough(real.shape[1]), reset_real_features=False,
                                      sync_on_compute=False)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return max(float(metric.compute()), 0.0)


def kid_from_features(real: torch.Tensor, fake: torch.Tensor, subset_size: int | None = None,
                      subsets: int = KID_SUBSETS, seed: int = 0) -> tuple[float, float, int]:
    """(mean, std over subsets, subset size) of torchmetrics' unbiased KID."""
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(subset_size or KID_SUBSET_SIZE, len(real), len(fake))
    metric = KernelInceptionDistance(feature=_Passthrough(real.shape[1]), subsets=subsets, subset_size=size,
                                     sync_on_compute=False)  # (as FID's)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std), size


def _kth_neighbour_radii(x: torch.Tensor, ks: tuple[int, ...]) -> list[torch.Tensor]:
    """For each k in ``ks``: every point's distance to its k-th nearest neighbour in ``x``,
    itself excluded. One pass over the pairwise distances serves every k."""
    chunks = []
    for s in range(0, len(x), 1000):
        nearest = torch.cdist(x[s:s + 1000], x).topk(max(ks) + 1, dim=1, largest=False).values
        chunks.append(nearest)
    nearest = torch.cat(chunks)
    return [nearest[:, k] for k in ks]


def manifold_scores(real: torch.Tensor, fake: torch.Tensor, k: int = K_NEIGHBOURS,
                    k_dc: int = DC_NEIGHBOURS) -> dict[str, float]:
    """k-NN manifold scores of ``fake`` against ``real``, from one pass over their distances.

    - precision / recall (Kynkäänniemi et al. 2019, k-NN balls with ``k``): share of fakes
      inside some real ball; share of reals inside some fake ball.
    - density / coverage (Naeem et al. 2020, ``k_dc``): both use only the *real* balls. Recall
      draws balls around the generated images, so a few off-manifold fakes with wide balls
      inflate it; coverage (share of real images whose ball holds at least one fake) does not
      reward such outliers. Density counts how many real balls each fake lies in, divided by
      k (1.0 when fakes are distributed like the reals; above 1 when they crowd the dense
      regions).
    """
    real, fake = real.float(), fake.float()
    r_real, r_real_dc = _kth_neighbour_radii(real, (k, k_dc))
    (r_fake,) = _kth_neighbour_radii(fake, (k,))
    fake_in_real_ball = torch.zeros(len(fake), dtype=torch.bool)
    real_balls_per_fake = torch.zeros(len(fake))
    real_in_fake_ball, covered = [], []
    for s in range(0, len(real), 1000):
        d = torch.cdist(real[s:s + 1000], fake)  # [chunk of reals, fakes]
        fake_in_real_ball |= (d <= r_real[s:s + 1000, None]).any(0)
        real_balls_per_fake += (d <= r_real_dc[s:s + 1000, None]).sum(0)
        real_in_fake_ball.append((d <= r_fake[None, :]).any(1))
        covered.append(d.min(1).values <= r_real_dc[s:s + 1000])
    return {"precision": float(fake_in_real_ball.float().mean()),
            "recall": float(torch.cat(real_in_fake_ball).float().mean()),
            "density": float(real_balls_per_fake.sum() / (k_dc * len(fake))),
            "coverage": float(torch.cat(covered).float().mean())}


# ---------------------------------------------------------------------------- real features

_REAL_CACHE: dict[tuple, tuple[torch.Tensor, weakref.ref]] = {}


def real_features(real, extractor: FeatureExtractor, max_real: int = MAX_REAL) -> torch.Tensor:
    """Features of the held-out reals (cached per set, extractor and count while that image
    tensor lives: CPython hands a freed tensor's id to the next one at once, and a subset
    drawn again got the features of the one before it)."""
    images = real.images if hasattr(real, "images") else real
    key = (getattr(real, "name", None), tuple(images.shape), extractor.name, max_real, id(images)) if hasattr(real, "name") else None
    hit = _REAL_CACHE.get(key) if key is not None else None
    if hit is not None and hit[1]() is images:
        return hit[0]
    feats = extractor.features(images[:max_real], BATCH).double()
    if key is not None:
        if len(_REAL_CACHE) > 8:
            _REAL_CACHE.clear()
        _REAL_CACHE[key] = (feats, weakref.ref(images))
    return feats


# ---------------------------------------------------------------------------- evaluate


def _batches(generator, n: int, class_labels, seed: int):
    """Yield (images in [-1, 1] CPU, asked labels or None) in chunks of BATCH."""
    if isinstance(generator, ImageSet):
        labels = class_labels if class_labels is not None else None
        generator = generator.images
    else:
        labels = class_labels
    if isinstance(generator, torch.Tensor):
        if len(generator) < n:
            raise ValueError(f"asked for {n} images but only {len(generator)} were given")
        for s in range(0, n, BATCH):
            e = min(n, s + BATCH)
            yield generator[s:e], (labels[s:e] if labels is not None else None)
        return
    if isinstance(generator, LoadedGenerator):
        labels = labels if labels is not None else labels_for(generator, n, None)
        for s in range(0, n, BATCH):
            e = min(n, s + BATCH)
            chunk = labels[s:e] if labels is not None else None
            yield generate(generator, list(range(seed + s, seed + e)), labels=chunk), chunk
        return
    if callable(generator):
        done = 0
        while done < n:
            k = min(BATCH, n - done)
            out = generator(k)
            images, asked = out if isinstance(out, tuple) else (out, None)
            if asked is None and labels is not None:
                asked = labels[done:done + k]
            yield images.detach().float().cpu().clamp(-1, 1), asked
            done += k
        return
    raise TypeError(f"cannot draw images from {type(generator).__name__}")


def evaluate(generator, real, extractor: FeatureExtractor | None = None, n: int = 2000,
             class_labels: torch.Tensor | None = None, *, judge: ClassifierFeatures | None = None,
             seed: int = EVAL_SEED, feature: str = "auto", device: str | torch.device = "cpu",
             max_real: int = MAX_REAL, kid_subsets: int = KID_SUBSETS, log=None) -> dict[str, Any]:
    """Score ``n`` generated images against the real split ``real`` (an ``ImageSet``, or a
    list of them scored as one set).

    ``generator``: a ``LoadedGenerator`` (seeds seed..seed+n-1; conditional ones cycle
    through the classes), a callable ``fn(k) -> images`` or ``(images, asked_labels)``, or
    an image tensor / ``ImageSet`` (the first ``n``). ``class_labels``: the class asked for
    each image, when the generator does not say; given (or conditional), the result has
    ``class_accuracy`` from ``judge`` (default: the real set's offline classifier).
    Returns a dict with ``RESULT_KEYS`` and a few more (see the module docstring).
    """
    start = time.perf_counter()
    sets = list(real) if isinstance(real, (list, tuple)) else [real]
    real = sets[0]
    res, ch = int(real.images.shape[-1]), int(real.images.shape[1])
    if extractor is None:
        extractor = get_extractor(real.name, res, ch, feature, device=device, log=log)
    fake_feats, preds, asked = [], [], []
    conditional = False
    for images, labels in _batches(generator, n, class_labels, seed):
        if labels is not None:
            conditional = True
            if judge is None:
                judge = extractor if isinstance(extractor, ClassifierFeatures) and extractor.can_classify() else \
                    load_classifier(real.name, res, ch, device=device, log=log)
            asked.append(labels.cpu())
            if judge is extractor:
                f, p = extractor.features_and_predictions(images, BATCH)
                fake_feats.append(f)
                preds.append(p)
                continue
            preds.append(judge.predict(images, BATCH))
        fake_feats.append(extractor.features(images, BATCH))
    fake = torch.cat(fake_feats).double()
    reals = torch.cat([real_features(r, extractor, max_real) for r in sets])[:max_real]
    fid = fid_from_features(reals, fake)
    kid_mean, kid_std, kid_size = kid_from_features(reals, fake, subsets=kid_subsets, seed=seed)
    pr_n = min(len(reals), len(fake))
    perm = torch.randperm(len(reals), generator=torch.Generator().manual_seed(seed))[:pr_n]
    manifold = manifold_scores(reals[perm], fake[:pr_n])
    result: dict[str, Any] = {
        "feature_space": extractor.name, "n": len(fake), "n_real": len(reals), "fid": round(fid, 6),
        "kid_mean": kid_mean, "kid_std": kid_std, "kid_subset_size": kid_size,
        **manifold, "class_accuracy": None,
        "feature_accuracy": extractor.accuracy, "notice": extractor.notice or None,
    }
    if conditional and judge is not None:
        result["class_accuracy"] = accuracy_of(torch.cat(preds), torch.cat(asked))
        result["class_accuracy_by"] = judge.name
    result["seconds"] = round(time.perf_counter() - start, 2)
    return result


# ---------------------------------------------------------------------------- in the run


def _load_real(cfg) -> tuple[list[ImageSet], str]:
    """The reals a run is scored against and what its feature space's name gets appended:
    the held-out split, or under ``MIN_HELD_OUT`` held-out images every image of the set."""
    test = load_dataset(cfg.data, cfg.resolution, cfg.channels, split="test", seed=cfg.seed)
    if len(test) >= MIN_HELD_OUT:
        return [test], ""
    train = load_dataset(cfg.data, cfg.resolution, cfg.channels, split="train", seed=cfg.seed)
    if len(train) == len(test):  # a set under 10 images: both splits are all of it
        return [test], ""
    return [train, test], ALL_IMAGES


def _against_run_reals(generator, cfg, extractor, *, n: int, device, **kwargs) -> dict[str, Any]:
    """``evaluate`` against the run's reals (``_load_real``), the feature space named to match."""
    sets, suffix = _load_real(cfg)
    result = evaluate(generator, sets, extractor, n=n, device=device, **kwargs)
    result["feature_space"] += suffix
    return result


def evaluate_generator(G: nn.Module, cfg, classes: list[str], device: torch.device, *, log=print) -> dict[str, Any]:
    """Score generator ``G`` of a run with config ``cfg`` against its reals (``_load_real``): FID & co.
    over ``cfg.eval_samples`` samples from fixed latents (the same every time: smoother curves).
    A pure function of the weights: the caller's random streams and G's mode are left as found."""
    was_training = G.training
    devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            G.eval()
            extractor = get_extractor(cfg.data, cfg.resolution, cfg.channels, "auto", device=device, log=log)
            gen = torch.Generator().manual_seed(EVAL_SEED)
            drawn = [0]

            @torch.no_grad()
            def sample(k: int):
                z = torch.randn(k, cfg.z_dim, generator=gen).to(device)
                y = (torch.arange(drawn[0], drawn[0] + k) % len(classes)) if classes else None
                drawn[0] += k
                images = G(z, y.to(device) if y is not None else None).float()
                return images, y

            return _against_run_reals(sample, cfg, extractor, n=cfg.eval_samples, device=device,
                                      kid_subsets=IN_RUN_KID_SUBSETS)
    finally:
        G.train(was_training)


# ---------------------------------------------------------------------------- reading


def eval_records(run) -> list[dict[str, Any]]:
    """Every evaluation of a run: in-run ones (metrics.jsonl), then CLI ones (evals.jsonl)."""
    records = [r for r in iter_metrics(run.metrics_path) if r.get("kind") == "eval"]
    return records + [r for r in iter_metrics(run.path / "evals.jsonl") if r.get("kind") == "eval"]


def checkpoint_scores(run, step: int) -> dict[str, Any] | None:
    """The newest evaluation of the checkpoint at ``step`` (in-run or CLI), or None."""
    found = [r for r in eval_records(run) if r.get("step") == int(step)]
    return max(found, key=lambda r: r.get("time", 0)) if found else None


# ---------------------------------------------------------------------------- a checkpoint


def evaluate_checkpoint(run_name: str, checkpoint: str | None = None, *, n: int = 2000, feature: str = "auto",
                        ema: bool = True, device: str = "cpu", log=print) -> dict[str, Any]:
    """Score one checkpoint of an image-GAN run against its reals (``_load_real``) and append the
    result to the run's ``evals.jsonl``. Raises RunError/DatasetError/ValueError on bad input."""
    if not 10 <= n <= 100_000:
        raise ValueError("--n must be from 10 to 100000")
    run = RunDir.open(run_name)
    loaded = load_generator(run_name, checkpoint, ema=ema, device=device)
    cfg = loaded.config
    if not cfg.run_type.evaluable:
        raise ValueError(f"eval scores image GANs ({', '.join(m for m in registry.names() if registry.get(m).evaluable)}); "
                         f"this run is {cfg.model}")
    extractor = get_extractor(cfg.data, cfg.resolution, cfg.channels, feature, device=device, log=log)
    result = _against_run_reals(loaded, cfg, extractor, n=n, device=device, log=log)
    result = {"run": run.name, "step": loaded.step, "weights": loaded.weights, **result}
    with open(run.path / "evals.jsonl", "a", encoding="utf-8") as f:  # whole lines, as metrics.jsonl
        f.write(json.dumps({"kind": "eval", "source": "cli", **result, "time": time.time()}, separators=(",", ":")) + "\n")
    return result
