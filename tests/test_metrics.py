"""Quality metrics: FID/KID/precision-recall sanity, class accuracy, feature-space fallback,
in-run evaluation with the best checkpoint, and the eval CLI.

Fashion-MNIST tests use the system files (skipped when absent) and train the offline
classifier with a reduced budget (a few seconds) into a per-module cache.
"""
from __future__ import annotations

import json
import subprocess
import time

import pytest
import torch

from gan_core.metrics import features
from gan_core.metrics import quality as metrics
from gan_core.data.images import ImageSet, find_fashion, load_dataset
from gan_core.metrics.features import ClassifierRecipe, get_extractor, inception_available, load_classifier

from conftest import ROOT, run_env

SMALL = ClassifierRecipe(max_train=2000, epochs=1, batch_size=64)


@pytest.fixture(scope="module")
def feature_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("feature-cache")


@pytest.fixture(autouse=True)
def _cache_env(feature_cache, monkeypatch):
    monkeypatch.setenv("GAN_FEATURE_CACHE", str(feature_cache))
    monkeypatch.delenv("GAN_INCEPTION_WEIGHTS", raising=False)
    features.clear_loaded()


@pytest.fixture(scope="module")
def fashion(feature_cache):
    if find_fashion("train") is None or find_fashion("test") is None:
        pytest.skip("Fashion-MNIST files not installed (apt-get install dataset-fashion-mnist)")
    mp = pytest.MonkeyPatch()
    mp.setenv("GAN_FEATURE_CACHE", str(feature_cache))
    try:
        clf = load_classifier("fashion-mnist", 32, 1, recipe=SMALL)
    finally:
        mp.undo()
    test = load_dataset("fashion-mnist", 32, 1, split="test")
    return clf, test


def _noise(n, c=1, r=32, seed=0):
    return torch.rand(n, c, r, r, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _subset(ims: ImageSet, start: int, stop: int) -> ImageSet:
    return ImageSet(ims.images[start:stop], ims.labels[start:stop], ims.classes, ims.name)


def test_fid_self_zero_disjoint_small_noise_large(fashion):
    clf, test = fashion
    a, b = _subset(test, 0, 2000), _subset(test, 2000, 4000)
    split = metrics.evaluate(b, a, clf, n=2000)
    noise = metrics.evaluate(lambda k: _noise(k), a, clf, n=2000)
    for r in (split, noise):
        assert r["feature_space"] == clf.name == "classifier/fashion-mnist/32px-1ch/v1-" + SMALL.tag()[1:]
        assert set(metrics.RESULT_KEYS) <= set(r)
    assert noise["fid"] > 10
    assert split["fid"] < 0.02 * noise["fid"]
    assert split["kid_mean"] < 0.01 * noise["kid_mean"]
    # precision/recall: a real split lies on the other's manifold, noise on none
    # (identical sets: see the class-accuracy test, which scores the test split against itself)
    assert split["precision"] > 0.7 and split["recall"] > 0.7
    # (the test's 1-epoch classifier leaves a few wide real balls that catch some noise;
    # the full classifier gives 0.0 and 0.0)
    assert noise["precision"] < 0.15 and noise["recall"] < 0.01
    # coverage likewise (Naeem et al.: about 1 - 2^-k for matching distributions)
    assert split["coverage"] > 0.8 and noise["coverage"] < 0.05
    assert 0.7 < split["density"] < 1.5 and noise["density"] < 0.3


def test_coverage_sees_a_dropped_mode_that_precision_cannot(fashion):
    """Real images of one class only: every fake is realistic (high precision, density),
    but nine classes of the reals have no fake near them (coverage a tenth, plus the sandals
    and boots that lie next to sneakers; a full real split covers over 0.8)."""
    clf, test = fashion
    reals, pool = _subset(test, 0, 2000), _subset(test, 2000, len(test))
    one_class = pool.images[pool.labels == 7][:1000]
    r = metrics.evaluate(one_class, reals, clf, n=len(one_class))
    assert r["precision"] > 0.7
    assert r["coverage"] < 0.3


def test_kid_is_unbiased_on_small_sets(fashion):
    """Many 20-vs-20 draws from one distribution: torchmetrics' estimator averages to 0
    (and goes negative), while the biased V-statistic stays clearly positive."""
    from torchmetrics.image.kid import poly_kernel, poly_mmd

    clf, test = fashion
    feats = clf.features(test.images[:4000]).double()
    gen = torch.Generator().manual_seed(0)
    unbiased, biased = [], []
    for _ in range(300):
        idx = torch.randperm(len(feats), generator=gen)[:40]
        x, y = feats[idx[:20]], feats[idx[20:]]
        unbiased.append(float(poly_mmd(x, y)))
        biased.append(float(poly_kernel(x, x).mean() + poly_kernel(y, y).mean() - 2 * poly_kernel(x, y).mean()))
    u, b = torch.tensor(unbiased), torch.tensor(biased)
    se = u.std() / len(u) ** 0.5
    assert abs(u.mean()) < 3 * se
    assert (u < 0).any()
    assert b.mean() > 10 * se
    # the metric's own spread: KID of two real splits is within its std of 0
    mean, std, size = metrics.kid_from_features(feats[:2000], feats[2000:4000], subset_size=100)
    assert size == 100 and abs(mean) < 3 * std


def test_class_accuracy_on_real_images_is_the_classifiers_accuracy(fashion):
    clf, test = fashion
    assert clf.can_classify() and clf.classes[7] == "Sneaker"
    assert 0.6 < clf.accuracy < 1.0 and clf.info["n_test"] == len(test)
    r = metrics.evaluate(test, test, clf, n=len(test), class_labels=test.labels)
    assert r["class_accuracy"] == clf.accuracy
    assert r["class_accuracy_by"] == clf.name
    # a set against itself: FID is round-off of the matrix square root (noise FID is > 10),
    # and identical sets lie exactly on each other's k-NN manifolds
    assert r["fid"] < 1e-6 and r["precision"] == 1.0 and r["recall"] == 1.0 and r["coverage"] == 1.0
    # unconditional scoring has no class accuracy
    assert metrics.evaluate(test, test, clf, n=500)["class_accuracy"] is None


def test_classifier_is_cached_and_not_retrained(fashion, feature_cache, monkeypatch):
    clf, _ = fashion
    monkeypatch.setattr(features, "_train_classifier", lambda *a, **k: pytest.fail("retrained"))
    again = load_classifier("fashion-mnist", 32, 1, recipe=SMALL)
    assert again.name == clf.name and again.accuracy == clf.accuracy
    info = json.loads(next(feature_cache.glob("fashion-mnist-32px-1ch-classifier-*.json")).read_text())
    assert info["accuracy"] == clf.accuracy and info["recipe"]["max_train"] == 2000


def test_inception_offline_gives_notice_and_falls_back(monkeypatch):
    ok, notice = inception_available()
    assert not ok and "GAN_INCEPTION_WEIGHTS" in notice
    from gan_core.torch_utils.vision import torchvision

    def offline(*args, **kwargs):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.models.Inception_V3_Weights.IMAGENET1K_V1.__class__, "get_state_dict", offline)
    for feature in ("auto", "inception"):
        features.clear_loaded()
        ex = get_extractor("shapes", 16, 3, feature)
        assert ex.name == "classifier/shapes/16px-3ch/v1"
        assert "Inception" in ex.notice and "offline classifier" in ex.notice
    monkeypatch.setenv("GAN_INCEPTION_WEIGHTS", "/nonexistent/inception.pth")
    features.clear_loaded()
    ex = get_extractor("shapes", 16, 3, "auto")
    assert ex.name.startswith("classifier/") and "does not exist" in ex.notice
    r = metrics.evaluate(lambda k: _noise(k, 3, 16), load_dataset("shapes", 16, 3, split="test"), n=64)
    assert r["feature_space"] == ex.name and r["notice"]


def test_local_torchvision_inception_file_is_used(tmp_path, monkeypatch):
    from gan_core.torch_utils.vision import torchvision

    net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    path = tmp_path / "inception.pth"
    torch.save(net.state_dict(), path)
    monkeypatch.setenv("GAN_INCEPTION_WEIGHTS", str(path))
    assert inception_available() == (True, "")
    ex = get_extractor("shapes", 16, 3, "auto")
    assert ex.name == "inception-v3-torchvision/pool3" and ex.dim == 2048 and not ex.notice
    assert ex.features(_noise(2, 1, 16)).shape == (2, 2048)


def test_unlabelled_set_uses_rotation_features(tmp_path):
    from PIL import Image

    folder = tmp_path / "flat"
    folder.mkdir()
    for i, (im, _) in enumerate(zip(load_dataset("shapes", 16, 3).images[:40], range(40))):
        arr = ((im.permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
        Image.fromarray(arr).save(folder / f"{i:03d}.png")
    ex = get_extractor(str(folder), 16, 3, "auto")
    assert ex.name.startswith("rotnet/flat-") and not ex.can_classify()
    assert "rotation" in ex.notice and 0.0 <= ex.accuracy <= 1.0


def test_a_labelled_set_can_also_give_rotation_features():
    """The second feature space the benches confirm a result in: a CNN trained on rotation,
    cached apart from the class classifier of the same set."""
    classes = load_classifier("shapes", 16, 3)
    rot = load_classifier("shapes", 16, 3, task="rotation")
    assert classes.name.startswith("classifier/shapes/") and classes.can_classify()
    assert rot.name.startswith("rotnet/shapes/") and not rot.can_classify() and rot.info["task"] == "rotation"
    x = load_dataset("shapes", 16, 3, split="test").images[:8]
    assert not torch.allclose(classes.features(x), rot.features(x))
    with pytest.raises(ValueError, match="rotation"):
        load_classifier("shapes", 16, 3, task="colour")


def test_in_run_eval_keeps_best_checkpoint_and_cli_prints_json(tiny, python_exe):
    from gan_core.cli.main import main
    from gan_core.runs.rundir import RunDir

    assert main(["train", *tiny(name="ev", steps=30, eval_every=10, eval_samples=64, checkpoint_every=10)]) == 0
    run = RunDir.open("ev")
    evals = [r for r in run.read_metrics() if r.get("kind") == "eval"]
    assert [r["step"] for r in evals] == [10, 20, 30]
    # shapes holds out 256 images, under MIN_HELD_OUT: scored against all 2,048 + 256, and named so
    space = "classifier/shapes/16px-3ch/v1" + metrics.ALL_IMAGES
    for r in evals:
        assert r["feature_space"] == space and r["n_real"] == 2048 + 256
        assert r["fid"] >= 0 and r["kid_std"] >= 0 and 0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1
        assert 0 <= r["class_accuracy"] <= 1  # the shapes preset is conditional
    best_fid = min(r["fid"] for r in evals)
    best = run.best_checkpoint()
    assert best is not None and best.meta["fid"] == best_fid and best.meta["feature_space"] == evals[0]["feature_space"]
    assert sum(1 for c in run.checkpoints() if c.meta.get("best")) == 1
    assert run.read_status()["best"]["step"] == best.step
    assert metrics.checkpoint_scores(run, best.step)["fid"] == best_fid
    assert metrics.checkpoint_scores(run, 5) is None

    out = subprocess.run([python_exe, "-m", "gan_core", "eval", "--run", "ev", "--checkpoint", "best", "--n", "64", "--json"],
                         capture_output=True, text=True, env=run_env(), cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert set(metrics.RESULT_KEYS) <= set(result) and result["step"] == best.step
    assert result["feature_space"] == space and result["n"] == 64 and result["n_real"] == 2048 + 256
    assert metrics.checkpoint_scores(run, best.step)["source"] == "cli"
    human = subprocess.run([python_exe, "-m", "gan_core", "eval", "--run", "ev", "--n", "64"],
                           capture_output=True, text=True, env=run_env(), cwd=ROOT, timeout=120)
    assert human.returncode == 0 and f"feature space: {space}" in human.stdout and "FID" in human.stdout


def test_real_features_follow_the_tensor_not_its_address():
    """Reals' features are cached by the image tensor's id; CPython gives a freed tensor's id
    to the next one at once, which must not be served the features of the one before."""
    ex = get_extractor("shapes", 16, 3, "auto")
    real = load_dataset("shapes", 16, 3, split="test")
    seen: set[int] = set()
    for seed in range(20):
        pick = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[:32]
        subset = ImageSet(real.images[pick], None, [], "shapes")
        assert torch.equal(metrics.real_features(subset, ex), ex.features(subset.images).double())
        address = id(subset.images)
        del subset
        if address in seen:
            break
        seen.add(address)
    else:
        pytest.fail("no address came back in 20 draws: the case this checks did not occur")


def test_runs_on_small_held_out_splits_are_scored_against_all_their_images(fashion, tmp_path):
    from PIL import Image

    from gan_core.config import TrainConfig, preset_for

    def reals(data, resolution=16, channels=3):
        sets, suffix = metrics._load_real(TrainConfig.from_dict(dict(preset_for(data), data=data, resolution=resolution,
                                                                     channels=channels)))
        return [len(s) for s in sets], suffix

    assert reals("fashion-mnist", 32, 1) == ([10_000], "")  # enough held out: those alone
    assert reals("shapes") == ([2048, 256], metrics.ALL_IMAGES)
    few = tmp_path / "few"
    few.mkdir()
    for i in range(6):
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(few / f"{i}.png")
    assert reals(str(few)) == ([6], "")  # under 10 images both splits are all of them: not twice


def test_a_run_that_never_reaches_an_evaluation_builds_no_feature_space(studio_dirs, tmp_path, monkeypatch):
    """Preparing the feature space before the clock built the offline classifier for every run with
    eval_every set, even one whose budget ends before its first evaluation (5-50 s, and the whole
    test suite went from 7 to 14 minutes)."""
    from gan_core.config import TrainConfig, preset_for
    from gan_core.runs.rundir import RunDir
    from gan_core.training.loop import train

    monkeypatch.setenv("GAN_FEATURE_CACHE", str(tmp_path / "fresh-cache"))
    features.clear_loaded()
    cfg = TrainConfig.from_dict(dict(preset_for("shapes"), resolution=16, width=8, z_dim=16, batch_size=16, steps=3,
                                     eval_every=2000, threads=1))
    assert train(RunDir.create("short", cfg)) == "finished"
    assert not (tmp_path / "fresh-cache").exists() or not any((tmp_path / "fresh-cache").rglob("*.safetensors"))
    features.clear_loaded()


def test_building_the_feature_space_is_not_counted_as_training_time(studio_dirs, tmp_path, monkeypatch):
    # The offline classifier is trained once per data set on a machine (50 s for Fashion-MNIST):
    # counted in the first run's training time, that run looked several times slower on Compare.
    from gan_core.config import TrainConfig, preset_for
    from gan_core.runs.rundir import RunDir, load_checkpoint_file
    from gan_core.training.loop import train

    monkeypatch.setenv("GAN_FEATURE_CACHE", str(tmp_path / "fresh-cache"))
    features.clear_loaded()
    cfg = TrainConfig.from_dict(dict(preset_for("shapes"), resolution=16, width=8, z_dim=16, batch_size=16, steps=3,
                                     log_every=1, eval_every=2, eval_samples=64, threads=1))  # eval before the last step
    start = time.perf_counter()
    assert train(RunDir.create("first", cfg)) == "finished"
    wall = time.perf_counter() - start
    run = RunDir.open("first")
    records = [json.loads(line) for line in run.metrics_path.read_text().splitlines()]
    assert any(r.get("kind") == "eval" for r in records)
    assert run.read_status()["elapsed_s"] < 0.5 * wall, (run.read_status()["elapsed_s"], wall)
    # built outside the run's random streams: the same weights as a run that found the space cached
    features.clear_loaded()
    assert train(RunDir.create("second", cfg)) == "finished"
    first, _ = load_checkpoint_file(run.latest_checkpoint().weights)
    second, _ = load_checkpoint_file(RunDir.open("second").latest_checkpoint().weights)
    assert all(torch.equal(first[k], second[k]) for k in first if k.startswith("G."))
    features.clear_loaded()
