"""The augmentation lab: K-per-class draws, what its GAN saw, a tiny real lab end to end,
resume, reuse of a run, and the Augment page (AppTest)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import run_env
from streamlit.testing.v1 import AppTest

from gan_core.auglab.background import lab_state, stop_lab
from gan_core.auglab.lab import Lab, plan
from gan_core.cli.auglab import cli_augment_lab
from gan_core.config import TrainConfig, preset_for
from gan_core.data import DatasetError, load_dataset
from gan_core.data.subsets import (
    SubsetError,
    draw_per_class,
    make_subset,
    read_manifest,
    write_manifest,
)
from gan_core.runs.provenance import check_gan_data, real_images_seen
from gan_core.runs.rundir import RunDir
from gan_core.training.loop import train

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(240)
TINY_GAN = "--width 8 --z-dim 16 --batch-size 16 --log-every 10 --sample-every 20 --checkpoint-every 20"


def lab_cli(*args: str, root: Path) -> subprocess.CompletedProcess:
    env = {**run_env(), "GAN_CHECKPOINTS": str(root)}
    return subprocess.run([sys.executable, "-m", "gan_core", "augment-lab", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=200)


def tiny_lab_args(name: str, *extra: str) -> list[str]:
    return ["--data", "shapes", "--resolution", "16", "--seeds", "2", "--synthetic-per-class", "8",
            "--gan-steps", "20", "--gan-args", TINY_GAN, "--clf-steps", "15", "--clf-batch", "16",
            "--name", name, *extra]


@pytest.fixture(scope="module")
def finished_lab(tmp_path_factory):
    """One tiny real lab on shapes (K = 3 and 6), run through the CLI in a child process."""
    root = tmp_path_factory.mktemp("labs")
    proc = lab_cli(*tiny_lab_args("tiny", "--per-class", "3", "6"), root=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root, proc.stdout


def test_draw_is_deterministic_nested_balanced_and_disjoint_from_test(tmp_path):
    train = load_dataset("shapes", 16, 3, "train")
    test = load_dataset("shapes", 16, 3, "test")
    a = draw_per_class(train.labels.numpy(), 6, seed=0)
    assert a.tolist() == draw_per_class(train.labels.numpy(), 6, seed=0).tolist()
    assert a.tolist() != draw_per_class(train.labels.numpy(), 6, seed=1).tolist()
    assert set(draw_per_class(train.labels.numpy(), 3, seed=0).tolist()) < set(a.tolist())  # nested over K
    assert torch.bincount(train.labels[a]).tolist() == [6] * len(train.classes)
    drawn = {bytes(x.numpy().tobytes()) for x in train.images[a]}
    assert not drawn & {bytes(x.numpy().tobytes()) for x in test.images}  # no test image among them
    with pytest.raises(SubsetError, match="fewer than K"):
        draw_per_class(train.labels.numpy(), 10_000, seed=0)

    # The manifest loads as a data set: exactly the drawn images; its test split is the source's.
    sub = make_subset("shapes", train.labels.numpy(), train.classes, 6, seed=0)
    path = write_manifest(sub, tmp_path / "k6.subset.json")
    loaded = load_dataset(str(path), 16, 3, "train")
    assert torch.equal(loaded.images, train.images[a]) and torch.equal(loaded.labels, train.labels[a])
    assert torch.equal(load_dataset(str(path), 16, 3, "test").images, test.images)

    # A hand-edited manifest (one index swapped) is refused by the hash, with a clear message.
    raw = json.loads(path.read_text())
    raw["indices"][0] = max(set(range(len(train))) - set(raw["indices"]))
    path.write_text(json.dumps(raw))
    with pytest.raises(SubsetError, match="sha256"):
        read_manifest(path)
    with pytest.raises(DatasetError, match="sha256"):
        load_dataset(str(path), 16, 3, "train")


def test_tiny_lab_records_what_its_gan_saw_and_writes_its_table(finished_lab):
    root, out = finished_lab
    lab = Lab.open("tiny", root)
    assert lab_state(lab) == "finished"
    assert all(lab.result(step) is not None for step in plan(lab.spec()))
    for k in (3, 6):
        gan = lab.result(f"gan-k{k}")
        manifest = read_manifest(lab.manifest_path(k))
        assert gan["run"] == f"tiny-gan-k{k}" and gan["fair"] and gan["seen_total"] == 5 * k
        assert gan["seen_subset"] == str(lab.manifest_path(k)) and gan["seen_sha256"] == manifest.sha256
        # Checked again from the GAN run's own folder: its config names this manifest.
        seen = real_images_seen(gan["run"], root)
        assert seen["per_class"] == {c: k for c in manifest.classes} and seen["indices"] == manifest.indices
    results = json.loads((lab.path / "results.json").read_text())
    assert {(r["k"], r["arm"], r["m"]) for r in results["rows"]} == {
        (k, arm, m) for k in (3, 6) for arm, m in (("real", 0), ("real+syn", 8), ("syn", 8))}
    assert all(r["n_seeds"] == 2 and 0 <= r["mean"] <= 1 for r in results["rows"])
    table = (lab.path / "table.md").read_text()
    assert "| 3 |" in table and "| 6 |" in table and "real + syn (M=8)" in table and table in out
    assert (lab.path / "chart.png").read_bytes()[:4] == b"\x89PNG"


def test_resume_skips_finished_steps(finished_lab, monkeypatch, capsys):
    root, _ = finished_lab
    monkeypatch.setenv("GAN_CHECKPOINTS", str(root))
    lab = Lab.open("tiny", root)
    redo = "clf-k6-syn8-s1"
    before = {p.name: p.stat().st_mtime_ns for p in (lab.path / "steps").glob("*.json") if p.stem != redo}
    lab.step_path(redo).unlink()
    assert cli_augment_lab(["--resume", "tiny"]) == 0
    out = capsys.readouterr().out
    assert f"{redo} ..." in out and out.count(" ...") == 1 and "[gan" not in out  # nothing else ran again
    assert before == {p.name: p.stat().st_mtime_ns for p in (lab.path / "steps").glob("*.json") if p.stem != redo}
    assert lab.result(redo)["accuracy"] >= 0


def test_reuse_checks_how_many_real_images_the_run_saw(finished_lab, monkeypatch, capsys):
    root, _ = finished_lab
    monkeypatch.setenv("GAN_CHECKPOINTS", str(root))
    # The K=3 GAN of the first lab saw 3 per class: too many for K=2, fair for K=6 (nested draws).
    assert cli_augment_lab(tiny_lab_args("reuse-small", "--per-class", "2", "--reuse-run", "tiny-gan-k3")) == 2
    assert "more than K=2" in capsys.readouterr().err and not (root / "reuse-small").exists()
    seen = real_images_seen("tiny-gan-k3", root)
    k6 = read_manifest(Lab.open("tiny", root).manifest_path(6))
    assert check_gan_data(seen, k6, 6) == []
    other = make_subset("shapes", load_dataset("shapes", 16, 3).labels.numpy(), k6.classes, 6, seed=5)
    assert any("not all among" in p for p in check_gan_data(seen, other, 6))


def test_reuse_of_a_run_trained_on_the_whole_set_is_refused(studio_dirs, capsys):
    root = studio_dirs[0]
    cfg = TrainConfig.from_dict(dict(preset_for("shapes"), resolution=16, width=8, z_dim=16, batch_size=16, steps=2,
                                     threads=1, eval_every=0))
    assert train(RunDir.create("full", cfg)) == "finished"
    assert cli_augment_lab(tiny_lab_args("reuse-full", "--per-class", "10", "--reuse-run", "full")) == 2
    assert "saw up to 410 real images per class, more than K=10" in capsys.readouterr().err
    assert not (root / "reuse-full").exists()
    # --force-reuse runs it, says so, and marks every row that used its samples unfair.
    assert cli_augment_lab(tiny_lab_args("reuse-full", "--per-class", "10", "--reuse-run", "full",
                                         "--force-reuse", "--seeds", "1")) == 0
    assert "WARNING: GAN run full for K=10" in capsys.readouterr().out
    rows = json.loads((root / "reuse-full" / "results.json").read_text())["rows"]
    assert {r["arm"]: r["fair"] for r in rows} == {"real": True, "real+syn": False, "syn": False}
    assert "(unfair)" in (root / "reuse-full" / "table.md").read_text()


def test_a_gan_that_trained_on_more_than_its_draw_fails_the_lab(studio_dirs, capsys):
    # Extra train flags that start the GAN from a run trained on the whole set (--data itself is
    # refused up front): the lab's check catches it.
    cfg = TrainConfig.from_dict(dict(preset_for("shapes"), resolution=16, width=8, z_dim=16, batch_size=16, steps=2,
                                     threads=1, eval_every=0, conditional=True))
    assert train(RunDir.create("whole", cfg)) == "finished"
    args = tiny_lab_args("sneaky", "--per-class", "3")
    args[args.index("--gan-args") + 1] += " --init-from whole"
    assert cli_augment_lab(args) == 1
    out = capsys.readouterr().out
    assert "not fair for K=3" in out and "saw up to 413 real images per class" in out  # 410 of the parent + 3
    lab = Lab.open("sneaky")
    assert lab.status()["state"] == "failed" and lab.result("gan-k3") is None
    assert not any(s.startswith("clf-") and lab.result(s) for s in plan(lab.spec()))


def test_bad_requests_are_refused_before_a_lab_folder_is_made(studio_dirs, capsys):
    for extra, message in ((["--per-class", "500"], "fewer than K=500"),
                           (["--per-class", "3", "--synthetic-per-class", "50000"], "synthetic images"),
                           (["--per-class", "0"], "whole numbers from 1")):
        assert cli_augment_lab(tiny_lab_args("bad", *extra)) == 2
        assert message in capsys.readouterr().err
    # train flags the lab sets itself, or no train flag at all: refused before a GAN trains for nothing
    for gan_args, message in ((" --resolution 32", "--resolution is set by the lab itself"),
                              (" --data=shapes", "--data is set by the lab itself"),
                              (" --no-conditional", "--no-conditional is set by the lab itself"),
                              (" --widht 8", "--widht is not a `train` flag")):
        args = tiny_lab_args("bad", "--per-class", "3")
        args[args.index("--gan-args") + 1] += gan_args
        assert cli_augment_lab(args) == 2, gan_args
        assert message in capsys.readouterr().err
    assert not (studio_dirs[0] / "bad").exists()


def test_augment_page_shows_a_finished_lab_and_launches_one(finished_lab, monkeypatch):
    root, _ = finished_lab
    monkeypatch.setenv("GAN_CHECKPOINTS", str(root))
    at = AppTest.from_file(str(ROOT / "pages" / "9_Augment.py"), default_timeout=60).run()
    assert not at.exception
    body = "\n".join(m.value for m in at.markdown)
    assert "real + syn (M=8)" in body and "| 6 |" in body
    assert any("saw 30 real images" in c.value for c in at.caption)

    at.text_input(key="aug_k").set_value("2")
    at.text_input(key="aug_m").set_value("4")
    at.radio(key="aug_budget_kind").set_value("steps")
    at.number_input(key="aug_budget").set_value(2.0)
    at.number_input(key="aug_clf_steps").set_value(2)
    at.number_input(key="aug_seeds").set_value(1)
    at.text_input(key="aug_name").set_value("from-page")
    at.button[0].click().run()
    assert not at.exception and any("from-page" in s.value for s in at.success)
    lab = Lab.open("from-page", root)
    assert lab.spec().per_class == [2] and lab.spec().gan_steps == 2
    deadline = time.time() + 60
    while lab_state(lab) == "queued" and time.time() < deadline:  # the child records itself as running
        time.sleep(0.2)
    assert stop_lab("from-page", root) in ("stopping", "finished")
    while lab_state(lab) in ("queued", "running") and time.time() < deadline:
        time.sleep(0.2)
    assert lab_state(lab) in ("stopped", "finished"), (lab.path / "log.txt").read_text()

    bad = AppTest.from_file(str(ROOT / "pages" / "9_Augment.py"), default_timeout=60).run()
    bad.text_input(key="aug_k").set_value("ten")
    bad.button[0].click().run()
    assert any("whole numbers" in e.value for e in bad.error)


def test_page_without_labs_says_how_to_start(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CHECKPOINTS", str(tmp_path / "empty"))
    at = AppTest.from_file(str(ROOT / "pages" / "9_Augment.py"), default_timeout=60).run()
    assert not at.exception and any("No labs yet" in i.value for i in at.info)
