"""pix2pix and CycleGAN as run types: the real Trainer trains them into real run folders,
resumes them bit for bit (CycleGAN's history buffers included), logs their own losses, draws
their input | output | target grid, and hands them to ``translate`` (``sample`` refuses them).
Tiny runs on the procedural shapes set (16 px, narrow networks, a few steps)."""
from __future__ import annotations

import time

import pytest
import torch
from PIL import Image

from conftest import train_in_two_parts
from gan_core.cli.main import main
from gan_core.config import ConfigError, TrainConfig, preset_for
from gan_core.inference.translate import load_translator
from gan_core.jobs import manager as jobs
from gan_core.runs.rundir import RunDir, RunError, load_checkpoint_file
from gan_core.training.loop import train

TINY = dict(data="shapes", resolution=16, channels=1, width=4, batch_size=4, steps=6, log_every=2, sample_every=3,
            checkpoint_every=3, threads=1)
CYCLE = dict(TINY, model="cyclegan", domain_a="circle", domain_b="square", width=4)
PAIRED = dict(TINY, model="pix2pix")


def config(values, **overrides) -> TrainConfig:
    return TrainConfig.from_dict({**preset_for(values["data"], values["model"]), **values, **overrides})


@pytest.mark.parametrize("values", [PAIRED, CYCLE], ids=["pix2pix", "cyclegan"])
def test_trains_and_resumes_exactly_through_the_trainer(values, monkeypatch):
    whole = RunDir.create("whole", config(values))
    assert train(whole) == "finished"
    tensors, _ = load_checkpoint_file(whole.latest_checkpoint().weights)
    records = [r for r in whole.read_metrics() if "loss_d" in r]
    own = {"l1", "g_adv"} if values["model"] == "pix2pix" else {"cycle_a", "cycle_b", "identity_a", "identity_b",
                                                                  "g_adv_ab", "g_adv_ba"}
    assert own <= set(records[-1]) and all(r["loss_g"] == r["loss_g"] for r in records)  # logged, no NaN
    if values["model"] == "cyclegan":
        assert tensors["task.history_a.images"].shape == (6 * 4, 1, 16, 16)  # 6 steps of 4 fakes, under 50
    grid = Image.open(whole.sample_path(6))
    rows = 3 if values["model"] == "pix2pix" else 6
    assert grid.size == (2 + 8 * 18, 2 + rows * 18)  # 8 fixed images, one row per input / output / target

    parts = RunDir.create("parts", config(values))
    train_in_two_parts(parts, 3, monkeypatch)
    again, _ = load_checkpoint_file(parts.latest_checkpoint().weights)
    keys = [k for k in tensors if k.startswith(("G.", "D.", "task.", "opt_"))]
    assert keys and all(torch.equal(tensors[k], again[k]) for k in keys), [k for k in keys if not torch.equal(tensors[k], again[k])]

    translator = load_translator("whole")
    assert translator.model == values["model"] and translator.resolution == 16


def test_config_rules_for_translation():
    assert config(CYCLE).domain_b == "square"
    with pytest.raises(ConfigError, match="domain_a"):
        TrainConfig.from_dict(dict(CYCLE, domain_a=""))
    with pytest.raises(ConfigError, match="must differ"):
        TrainConfig.from_dict(dict(CYCLE, domain_b="Circle"))
    with pytest.raises(ConfigError, match="grey"):
        TrainConfig.from_dict(dict(PAIRED, paired_transform="grey"))
    with pytest.raises(ConfigError, match="paired_transform"):
        TrainConfig.from_dict(dict(PAIRED, paired_transform="sketchy"))
    with pytest.raises(ConfigError, match="conditional"):
        TrainConfig.from_dict(dict(PAIRED, conditional=True))
    assert preset_for("fashion-mnist", "cyclegan")["domain_a"] == "sneaker"
    assert preset_for("fashion-mnist", "pix2pix")["width"] == 32


def test_cli_trains_then_translate_serves_and_sample_points_there(tmp_path, tiny, capsys):
    flags = tiny(model="cyclegan", domain_a="circle", domain_b="ring", width=4, batch_size=4, steps=2,
                 log_every=1, sample_every=2, checkpoint_every=2, name="cyc")
    assert main(["train", *flags]) == 0
    Image.new("L", (20, 20), 255).save(tmp_path / "in.png")
    assert main(["translate", "--run", "cyc", "--image", str(tmp_path / "in.png"), "--out", str(tmp_path / "o.png"),
                 "--reverse"]) == 0
    assert Image.open(tmp_path / "o.png").size == (16, 16)
    assert main(["sample", "--run", "cyc", "--out", str(tmp_path / "s")]) == 2
    assert "translate --run cyc" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
    assert main(["--help"]) == 0 and "translate" in capsys.readouterr().out


def test_pix2pix_on_a_folder_of_real_pairs_learns_the_pairs_by_default(tmp_path, tiny):
    """`--model pix2pix --data pairs/` (A/ and B/ inside) trained the "edges" default: outlines of
    the A and B images alike as inputs, both as targets, the real pairs unused."""
    for side, value in (("A", 0), ("B", 255)):
        (tmp_path / "pairs" / side).mkdir(parents=True)
        for i in range(4):
            Image.new("L", (20, 20), value).save(tmp_path / "pairs" / side / f"{i}.png")
    pairs, flat = str(tmp_path / "pairs"), str(tmp_path / "pairs" / "A")
    assert preset_for(pairs, "pix2pix")["paired_transform"] == "folder"
    assert preset_for(flat, "pix2pix")["paired_transform"] == "edges"  # one image set: outlines of it
    assert main(["train", *tiny(model="pix2pix", data=pairs, channels=1, width=4, batch_size=2, steps=2, log_every=1,
                                sample_every=2, checkpoint_every=2, name="real-pairs")]) == 0
    assert RunDir.open("real-pairs").config().paired_transform == "folder"
    assert main(["train", *tiny(model="pix2pix", data=pairs, channels=1, width=4, batch_size=2, steps=2, log_every=1,
                                paired_transform="edges", name="asked-edges")]) == 0  # a flag still wins
    assert RunDir.open("asked-edges").config().paired_transform == "edges"


def test_pix2pix_on_an_imported_set_of_real_pairs(tmp_path, tiny):
    """A pairs folder imported with `data import` (the safe way in): pix2pix on it failed with
    "mypairs does not exist" (the name was read as a path), and once found, no file had a partner
    (the importer numbers its files: A/3.png -> A/000003-3.png, B/3.png -> B/000027-3.png)."""
    from gan_core.data.importer import import_dataset
    from gan_core.data.paired import load_paired_folder

    for side in ("A", "B"):
        (tmp_path / "pairs" / side).mkdir(parents=True)
    for i in range(12):
        Image.new("L", (20, 20), 10 * i).save(tmp_path / "pairs" / "A" / f"{i}.png")
        Image.new("L", (20, 20), 250 - 10 * i).save(tmp_path / "pairs" / "B" / f"{i}.jpg")
    import_dataset(tmp_path / "pairs", "mypairs")
    pairs = load_paired_folder("mypairs", 16, 1)
    assert len(pairs) == 11 and not pairs.report.skipped  # every 10th (1 of 12) held out
    a, b = ((pairs.a.mean((1, 2, 3)) + 1) * 127.5).round(), ((pairs.b.mean((1, 2, 3)) + 1) * 127.5).round()
    assert (a + b - 250).abs().max() <= 2  # each A met its own B
    assert main(["train", *tiny(model="pix2pix", data="mypairs", channels=1, width=4, batch_size=2, steps=2,
                                log_every=1, sample_every=2, checkpoint_every=2, name="imported-pairs")]) == 0
    assert RunDir.open("imported-pairs").config().paired_transform == "folder"


def test_real_pairs_from_a_built_in_set_are_refused_before_a_run_exists(tiny, capsys):
    """--paired-transform folder --data shapes made a run that then failed: "shapes does not exist"."""
    with pytest.raises(ConfigError, match="shapes is a built-in set of single images"):
        TrainConfig.from_dict(dict(PAIRED, paired_transform="folder"))
    assert main(["train", *tiny(model="pix2pix", paired_transform="folder", name="pairs-of-shapes")]) == 2
    assert "built-in set" in capsys.readouterr().err
    with pytest.raises(RunError):  # no failed run left behind
        RunDir.open("pairs-of-shapes")


def test_a_cyclegan_domain_typo_is_refused_before_a_run_exists(tmp_path, tiny, capsys):
    """--domain-b squares (shapes has 'square') made a run, printed a traceback and left it failed."""
    for data, domains, words in (("shapes", ("circle", "squares"), "no class named 'squares'"),
                                 (str(tmp_path), (str(tmp_path), str(tmp_path / "gone")), "not found")):
        for command in ("train", "launch"):
            args = tiny(model="cyclegan", data=data, domain_a=domains[0], domain_b=domains[1], name="typo")
            assert main([command, *args]) == 2
            err = capsys.readouterr().err
            assert words in err and "Traceback" not in err
            with pytest.raises(RunError):
                RunDir.open("typo")


def test_launched_as_a_background_job_like_any_run():
    """``launch`` (a real child process) trains a CycleGAN run to its end; its status carries the
    run's own losses for Monitor."""
    run = jobs.launch(config(CYCLE, steps=4, log_every=2, sample_every=4, checkpoint_every=4), "cyc-job")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and jobs.run_state(run) in ("queued", "starting", "running", "stopping"):
        time.sleep(0.3)
    assert jobs.run_state(run) == "finished", run.read_status().get("error")
    assert {"cycle_a", "identity_b"} <= set(run.read_metrics()[-1]) and run.latest_checkpoint().step == 4
