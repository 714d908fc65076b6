"""Feature spaces for the quality metrics (FID, KID, precision/recall).

Every extractor is a ``FeatureExtractor``: an ``nn.Module`` taking images in [-1, 1]
(``[N, C, H, W]``, C = 1 or 3) and returning ``[N, dim]`` features, with a stable
``name`` that every reported number carries. Numbers from different feature spaces
are not comparable, and the metrics code never mixes them.

Which space ``get_extractor(..., feature="auto")`` picks:

1. **Inception-v3 pool3 (2048-d)**, the standard FID space, when its weights are on this
   machine: a local file named by ``$GAN_INCEPTION_WEIGHTS``. A file with the TF-ported
   "FID Inception" weights (``pt_inception-2015-12-05`` / torch-fidelity's
   ``weights-inception-2015-12-05``, a 1008-way ``fc``) is run through torch-fidelity's
   extractor, as the published FIDs are: space ``inception-v3-fid/pool3``. A file of
   torchvision's ImageNet weights (1000-way ``fc``) gives ``inception-v3-torchvision/pool3``,
   close to but not the same as the published numbers, hence the different name.
   With ``feature="inception"`` and no file, torchvision's weights are downloaded when the
   machine is online; offline that fails with a notice (``inception_available()``), never
   an exception, and the classifier below is used instead.
2. **The offline classifier** (``classifier/<set>/<R>px-<C>ch/v1``): a small CNN (~240k
   parameters, 128-d penultimate features) trained once per data set, resolution and
   channel count on the set's *train* split, its held-out accuracy measured on the whole
   *test* split and recorded. Cached under ``$GAN_FEATURE_CACHE`` (default
   ``$GAN_DATA/.feature-cache/``) as safetensors + JSON, behind a file lock so two
   processes never train it twice. Fashion-MNIST at 32 px: see ``bench/results/metrics.md``.
3. **Unlabelled sets** (flat folders): the same CNN trained on **rotation prediction**
   (each image shown at 0/90/180/270 degrees, predict which; space
   ``rotnet/<set>/<R>px-<C>ch/v1``). Why this and not random fixed-seed features: it
   needs no labels yet learns the set's own shapes, edges and orientation cues, so its
   features respond to what goes wrong in GAN samples (blurred or broken objects), while a
   random network mostly measures colour and low-frequency statistics; and it reuses the
   classifier's code, cache and accuracy report (here: held-out rotation accuracy). Sets
   whose images look the same rotated (textures) learn weaker features there, and say so
   through a low recorded accuracy.

About 430 lines in one module: both feature spaces share the extractor interface, the
on-disk cache and its lock, and the choice between them (``get_extractor``).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gan_core.data.images import load_dataset, match_channels
from gan_core.data.importer import BUILTIN_DATASETS, NAME_PATTERN, data_root
from gan_core.runs.rundir import atomic_write_json, read_json
from gan_core.torch_utils.vision import torchvision

CLASSIFIER_VERSION = 1
CLASSIFIER_RES = 32  # the classifier sees every set at 32x32 (cheap on a CPU)
FEATURES = ("auto", "classifier", "inception")


@dataclass
class ClassifierRecipe:
    """The classifier's fixed training budget (part of its cache identity)."""

    max_train: int = 20_000
    epochs: int = 2
    batch_size: int = 128
    lr: float = 3e-3
    seed: int = 0

    def tag(self) -> str:
        default = ClassifierRecipe()
        return "" if self == default else "-" + hashlib.sha1(json.dumps(self.__dict__, sort_keys=True).encode()).hexdigest()[:8]


class FeatureExtractor(nn.Module):
    """Images in [-1, 1] ``[N, C, H, W]`` -> features ``[N, dim]``; ``name`` is the space."""

    name: str = "?"
    dim: int = 0
    accuracy: float | None = None  # held-out accuracy (classifier spaces)
    classes: list[str] = []  # label names the classifier predicts ([] when it has none)
    notice: str = ""  # why this space was chosen over the asked one, if it was

    @property
    def num_features(self) -> int:  # the attribute torchmetrics reads
        return self.dim

    def train(self, mode: bool = True):  # feature extractors never leave eval mode
        return super().train(False)

    def can_classify(self) -> bool:
        return False

    @torch.no_grad()
    def features(self, images: torch.Tensor, batch: int = 500) -> torch.Tensor:
        device = next(self.parameters()).device
        return torch.cat([self(images[s:s + batch].to(device)).float().cpu() for s in range(0, len(images), batch)])

    def describe(self) -> dict[str, Any]:
        return {"feature_space": self.name, "dim": self.dim, "accuracy": self.accuracy, "notice": self.notice}


# ---------------------------------------------------------------------------- classifier


class SmallCNN(nn.Module):
    def __init__(self, channels: int, num_outputs: int):
        super().__init__()

        def block(cin, cout, stride):
            return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.body = nn.Sequential(*block(channels, 32, 1), *block(32, 64, 2), *block(64, 128, 2), *block(128, 128, 2),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(128, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _to_classifier_input(x: torch.Tensor) -> torch.Tensor:
    x = x.float()
    if x.shape[-1] != CLASSIFIER_RES or x.shape[-2] != CLASSIFIER_RES:
        x = F.interpolate(x, size=(CLASSIFIER_RES, CLASSIFIER_RES), mode="bilinear", antialias=True, align_corners=False)
    return x


class ClassifierFeatures(FeatureExtractor):
    """The offline space: the small CNN's 128-d penultimate features (see the module docstring)."""

    def __init__(self, net: SmallCNN, name: str, info: dict[str, Any]):
        super().__init__()
        self.net = net.eval()
        self.name, self.dim = name, 128
        self.info = info
        self.accuracy = info.get("accuracy")
        self.classes = list(info.get("classes") or [])
        self.channels = int(info["channels"])
        self.requires_grad_(False)

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.channels:
            x = match_channels(x, self.channels)
        return _to_classifier_input(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.body(self._input(x))

    def can_classify(self) -> bool:
        return self.info.get("task") == "classes"

    @torch.no_grad()
    def features_and_predictions(self, images: torch.Tensor, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        """Features ``[N, 128]`` and predicted labels ``[N]`` (chunks of ``batch`` from index 0)."""
        device = next(self.parameters()).device
        feats, preds = [], []
        for s in range(0, len(images), batch):
            h = self.net.body(self._input(images[s:s + batch].to(device)))
            feats.append(h.float().cpu())
            preds.append(self.net.head(h).argmax(1).cpu())
        return torch.cat(feats), torch.cat(preds)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch: int = 500) -> torch.Tensor:
        return self.features_and_predictions(images, batch)[1]


def accuracy_of(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of ``predictions`` equal to ``labels`` (one formula for recorded and measured)."""
    return int((predictions.cpu() == labels.cpu()).sum()) / max(len(labels), 1)


def cache_dir() -> Path:
    env = os.environ.get("GAN_FEATURE_CACHE")
    if env:
        return Path(env)
    return data_root() / ".feature-cache"


def dataset_slug(dataset: str) -> str:
    """A file-name-safe id for a data set: its name, or ``folder-<hash>`` for a path."""
    if dataset in BUILTIN_DATASETS or (NAME_PATTERN.match(dataset) and (data_root() / dataset).is_dir()):
        return dataset
    resolved = str(Path(dataset).expanduser().resolve())
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in Path(resolved).stem)[:24] or "set"
    return f"{stem}-{hashlib.sha1(resolved.encode()).hexdigest()[:8]}"


@contextlib.contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            import fcntl

            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        except ImportError:  # not POSIX: no lock (worst case, trained twice)
            pass
        try:
            yield
        finally:
            try:
                import fcntl

                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            except ImportError:
                pass


def _rotations(x: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image turned by k*90 degrees, k cycling from ``start``: (images, k)."""
    k = (torch.arange(len(x)) + start) % 4
    out = x.clone()
    for r in range(1, 4):
        idx = (k == r).nonzero().flatten()
        if len(idx):
            out[idx] = torch.rot90(x[idx], r, dims=(2, 3))
    return out, k


def load_classifier(dataset: str, resolution: int, channels: int, *, device: str | torch.device = "cpu",
                    recipe: ClassifierRecipe | None = None, task: str | None = None, log=None) -> ClassifierFeatures:
    """The data set's offline classifier: from the cache, or trained now (once, locked).
    ``task="rotation"`` asks for the self-supervised rotation features even for a labelled set:
    a second feature space to confirm a result measured in the classifier's (bench/)."""
    from safetensors.torch import load_file, save_file

    recipe = recipe or ClassifierRecipe()
    train_set = load_dataset(dataset, resolution, channels, split="train")
    labelled = train_set.labels is not None and len(train_set.classes) >= 2
    if task not in (None, "classes", "rotation") or (task == "classes" and not labelled):
        raise ValueError(f"task must be 'rotation' or, for a labelled set, 'classes'; got {task!r}")
    task = task or ("classes" if labelled else "rotation")
    kind = "classifier" if task == "classes" else "rotnet"
    slug = dataset_slug(dataset)
    stem = f"{slug}-{resolution}px-{channels}ch-{kind}-v{CLASSIFIER_VERSION}{recipe.tag()}"
    name = f"{kind}/{slug}/{resolution}px-{channels}ch/v{CLASSIFIER_VERSION}{recipe.tag()}"
    folder = cache_dir()
    weights, sidecar = folder / f"{stem}.safetensors", folder / f"{stem}.json"
    with _file_lock(folder / f"{stem}.lock"):
        info = read_json(sidecar)
        if info is None or not weights.is_file():
            if log:
                log(f"training the offline feature {kind} for {dataset} at {resolution}px/{channels}ch "
                    f"(once; cached in {folder})")
            net, info = _train_classifier(train_set, load_dataset(dataset, resolution, channels, split="test"),
                                          task, channels, recipe)
            info.update(name=name, dataset=dataset, resolution=resolution, channels=channels)
            tmp = weights.with_name(f".{weights.name}.tmp")
            save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp))
            os.replace(tmp, weights)
            atomic_write_json(sidecar, info)  # written last: commits the weights
            if log:
                log(f"feature {kind} ready: held-out {'accuracy' if task == 'classes' else 'rotation accuracy'} "
                    f"{info['accuracy']:.4f} ({info['train_seconds']:.0f}s)")
    net = SmallCNN(channels, 4 if info["task"] == "rotation" else len(info["classes"]))
    net.load_state_dict(load_file(str(weights)))
    return ClassifierFeatures(net, name, info).to(device)


def _train_classifier(train_set, test_set, task: str, channels: int, recipe: ClassifierRecipe):
    gen = torch.Generator().manual_seed(recipe.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        start = time.perf_counter()
        n = min(len(train_set), recipe.max_train)
        order = torch.randperm(len(train_set), generator=gen)[:n]
        x = _to_classifier_input(train_set.images[order])
        y = train_set.labels[order] if task == "classes" else None
        num_outputs = len(train_set.classes) if task == "classes" else 4
        net = SmallCNN(channels, num_outputs)
        opt = torch.optim.Adam(net.parameters(), lr=recipe.lr)
        steps_per_epoch = math.ceil(n / recipe.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, recipe.lr, total_steps=steps_per_epoch * recipe.epochs)
        net.train()
        for epoch in range(recipe.epochs):
            perm = torch.randperm(n, generator=gen)
            for s in range(0, n, recipe.batch_size):
                idx = perm[s:s + recipe.batch_size]
                xb = x[idx]
                if task == "classes":
                    yb = y[idx]
                else:
                    xb, yb = _rotations(xb, int(torch.randint(4, (1,), generator=gen)))
                loss = F.cross_entropy(net(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
        net.eval()
        train_s = time.perf_counter() - start
    test_x = test_set.images
    test_y = test_set.labels if task == "classes" else None
    if task == "rotation":
        test_x, test_y = _rotations(test_x, 0)
    extractor = ClassifierFeatures(net, "tmp", {"channels": channels, "task": task})
    preds = extractor.predict(test_x)
    info = {
        "task": task, "accuracy": accuracy_of(preds, test_y), "n_test": len(test_y),
        "classes": list(train_set.classes) if task == "classes" else [], "n_train": n,
        "train_seconds": round(train_s, 1), "recipe": dict(recipe.__dict__), "threads": torch.get_num_threads(),
        "version": CLASSIFIER_VERSION, "created": time.time(),
    }
    return net, info


# ---------------------------------------------------------------------------- inception


class InceptionFeatures(FeatureExtractor):
    """Inception-v3 pool3 (2048-d) features; ``net`` takes what ``_prepare`` makes."""

    def __init__(self, net: nn.Module, name: str, fid_weights: bool):
        super().__init__()
        self.net, self.name, self.dim, self.fid_weights = net.eval(), name, 2048, fid_weights
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        if self.fid_weights:  # torch-fidelity: uint8 in, resizes to 299 itself
            return self.net(((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8))
        x = F.interpolate(x, size=(299, 299), mode="bilinear", antialias=True, align_corners=False)
        return self.net(x)  # Google's Inception expects [-1, 1]: transform_input stays off


def inception_weights_path() -> Path | None:
    env = os.environ.get("GAN_INCEPTION_WEIGHTS")
    return Path(env).expanduser() if env else None


def inception_available(allow_download: bool = False) -> tuple[bool, str]:
    """(available, notice). Available: a readable local weights file, or (only when
    ``allow_download``) torchvision's weights already cached or downloadable."""
    path = inception_weights_path()
    if path is not None:
        if path.is_file():
            return True, ""
        return False, f"GAN_INCEPTION_WEIGHTS points to {path}, which does not exist"
    if allow_download:
        return True, ""
    return False, ("Inception-v3 weights are not on this machine: set GAN_INCEPTION_WEIGHTS to a local weights "
                   "file (pt_inception-2015-12-05 for the standard FID, or torchvision's inception_v3 weights), "
                   "or ask for --feature inception when online")


def load_inception(device: str | torch.device = "cpu", allow_download: bool = False) -> InceptionFeatures:
    """Inception from the local file, or downloaded (``allow_download``). Raises
    ``RuntimeError`` with a readable message when neither works."""
    path = inception_weights_path()
    if path is not None:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)  # never unpickles code
        except Exception as exc:  # noqa: BLE001
            raise RuntimeError(f"cannot read Inception weights {path}: {str(exc).splitlines()[0][:200]}") from None
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        fc = state.get("fc.weight") if isinstance(state, dict) else None
        if fc is not None and fc.shape[0] == 1008:  # the TF-ported FID Inception
            try:
                from torchmetrics.image.fid import NoTrainInceptionV3
            except ImportError as exc:
                raise RuntimeError(f"FID-Inception weights need torch-fidelity (pip install torch-fidelity): {exc}") from None
            try:
                net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                         feature_extractor_weights_path=str(path))
            except ModuleNotFoundError as exc:
                raise RuntimeError(f"FID-Inception weights need torch-fidelity: {exc}") from None
            return InceptionFeatures(net, "inception-v3-fid/pool3", True).to(device)
        net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
        try:
            net.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as exc:
            raise RuntimeError(f"{path} holds no Inception-v3 weights torchvision can load: {str(exc)[:200]}") from None
    elif allow_download:
        net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
        try:
            state = torchvision.models.Inception_V3_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
        except Exception as exc:  # noqa: BLE001 - offline, proxy, SSL, ...
            raise RuntimeError(f"could not download Inception-v3 weights ({type(exc).__name__}: {str(exc)[:160]}); "
                               "offline? set GAN_INCEPTION_WEIGHTS to a local file") from None
        net.load_state_dict(state)
    else:
        raise RuntimeError(inception_available()[1])
    net.fc = nn.Identity()
    net.aux_logits, net.AuxLogits = False, None
    net.transform_input = False
    return InceptionFeatures(net, "inception-v3-torchvision/pool3", False).to(device)


# ---------------------------------------------------------------------------- choosing


_LOADED: dict[tuple, FeatureExtractor] = {}


def get_extractor(dataset: str, resolution: int, channels: int, feature: str = "auto", *,
                  device: str | torch.device = "cpu", recipe: ClassifierRecipe | None = None,
                  log=None) -> FeatureExtractor:
    """The feature space for a data set (see the module docstring). Never raises for a
    missing Inception: falls back to the classifier and puts the reason in ``.notice``."""
    if feature not in FEATURES:
        raise ValueError(f"feature must be one of {', '.join(FEATURES)}, got {feature!r}")
    key = (dataset, resolution, channels, feature, str(device), repr(recipe), os.environ.get("GAN_INCEPTION_WEIGHTS"),
           str(cache_dir()))
    if key in _LOADED:
        return _LOADED[key]
    notice = ""
    extractor: FeatureExtractor | None = None
    if feature in ("auto", "inception"):
        ok, why = inception_available(allow_download=feature == "inception")
        if ok:
            try:
                extractor = load_inception(device, allow_download=feature == "inception")
            except RuntimeError as exc:
                why = str(exc)
        if extractor is None and (feature == "inception" or inception_weights_path() is not None):
            notice = f"Inception unavailable ({why}); using the offline classifier feature space instead"
        elif extractor is None:
            notice = "no Inception weights on this machine (set GAN_INCEPTION_WEIGHTS); using the offline classifier feature space"
    if extractor is None:
        extractor = load_classifier(dataset, resolution, channels, device=device, recipe=recipe, log=log)
        if extractor.info.get("task") == "rotation":
            notice += ("; " if notice else "") + ("the set has no class labels: features come from a CNN trained "
                                                  "to predict image rotation (self-supervised)")
    extractor.notice = notice
    _LOADED[key] = extractor
    return extractor


def clear_loaded() -> None:
    _LOADED.clear()
