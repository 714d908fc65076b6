"""The engine (issue 2): every model x loss x conditional trains, resume is exact,
sampling is deterministic, bad config values are refused by name."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
from PIL import Image

from conftest import run_env, tiny_flags
from gan_core.config import LOSSES, ConfigError, TrainConfig, preset_for
from gan_core.runs.rundir import RunDir, iter_metrics, load_checkpoint_file
from gan_core.inference.generators import class_from_text, generate, load_generator, resolve_class
from gan_core.training.loop import train
from gan_core.training.trainer import Trainer


def tiny_config(**overrides) -> TrainConfig:
    values = dict(preset_for("shapes"), resolution=16, width=8, z_dim=16, batch_size=8, steps=4, log_every=2,
                  sample_every=4, checkpoint_every=4, threads=1, ema=True)
    values.update(overrides)
    return TrainConfig.from_dict(values)


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_every_model_loss_and_conditioning_trains(model, loss, conditional):
    cfg = tiny_config(model=model, loss=loss, conditional=conditional, d_norm="none")
    run = RunDir.create(f"{model}-{loss}-{int(conditional)}", cfg)
    assert train(run) == "finished"
    records = run.read_metrics()
    assert [r["step"] for r in records] == [2, 4]
    for r in records:
        for key in ("loss_d", "loss_g", "d_real", "d_fake", "acc_real", "acc_fake", "grad_norm_g", "grad_norm_d", "images_per_s"):
            assert math.isfinite(r[key]), (key, r)
    assert run.read_status()["state"] == "finished"
    assert TrainConfig.load(run.config_path) == cfg
    assert [s for s, _ in run.sample_grids()] == [0, 4]
    ckpt = run.latest_checkpoint()
    assert ckpt.step == 4 and ckpt.meta["classes"] == (["circle", "square", "triangle", "cross", "ring"] if conditional else [])
    tensors, meta = load_checkpoint_file(ckpt.weights)
    assert all(torch.isfinite(v).all() for k, v in tensors.items() if v.is_floating_point())
    assert meta["config"]["loss"] == loss


def test_r1_and_d_steps_and_augment():
    cfg = tiny_config(r1_gamma=1.0, d_steps=2, augment=["color", "translation", "cutout"])
    run = RunDir.create("r1", cfg)
    assert train(run) == "finished"
    last = run.read_metrics()[-1]
    assert last["images"] == 4 * 2 * 8  # d_steps real batches per generator step


def test_conditional_batch_norm_and_minibatch_std():
    """Per-class BN in G really depends on the class; D's spread channel sees a collapsed batch."""
    from gan_core.models.image import ConditionalBatchNorm2d, MinibatchStd

    cfg = tiny_config(conditional=True, g_norm="conditional", minibatch_std=True)
    run = RunDir.create("cbn", cfg)
    assert train(run) == "finished"
    loaded = load_generator("cbn")
    assert any(isinstance(m, ConditionalBatchNorm2d) for m in loaded.G.modules())
    cbn = next(m for m in loaded.G.modules() if isinstance(m, ConditionalBatchNorm2d))
    with torch.no_grad():
        cbn.gain.weight[1].mul_(3.0)  # class 1 alone gets a different gain
    a = generate(loaded, [0, 1], class_index=0)
    b = generate(loaded, [0, 1], class_index=1)
    assert not torch.allclose(a, b)
    spread = MinibatchStd(group=4)
    same = torch.randn(1, 3, 4, 4).repeat(8, 1, 1, 1)
    varied = torch.randn(8, 3, 4, 4)
    assert spread(same).shape == (8, 4, 4, 4)
    assert spread(same)[:, 3].abs().max() == 0 and spread(varied)[:, 3].min() > 0.1
    assert tiny_config(conditional=False, g_norm="conditional").g_norm == "conditional"  # plain BN then
    with pytest.raises(ConfigError) as err:
        tiny_config(model="mlp", g_norm="conditional")
    assert err.value.field == "g_norm"
    with pytest.raises(ConfigError) as err:
        tiny_config(model="mlp", minibatch_std=True)
    assert err.value.field == "minibatch_std"


def test_resume_is_exact():
    """Training 4 steps, stopping, and resuming to 8 gives the same weights as 8 straight."""
    straight = RunDir.create("straight", tiny_config(steps=8, checkpoint_every=4))
    assert train(straight) == "finished"

    split = RunDir.create("split", tiny_config(steps=4, checkpoint_every=4))
    assert train(split) == "finished"
    split.write_config(tiny_config(steps=8, checkpoint_every=4))
    assert train(split, resume=True) == "finished"

    a, _ = load_checkpoint_file(straight.latest_checkpoint().weights)
    b, meta = load_checkpoint_file(split.latest_checkpoint().weights)
    assert meta["step"] == 8 and meta["images_seen"] == 8 * 8
    for key in a:
        if key.startswith(("G.", "D.", "G_ema.", "opt_")):
            assert torch.equal(a[key], b[key]), key
    assert [r["step"] for r in split.read_metrics()] == [2, 4, 6, 8]


def test_lr_decay_falls_linearly_over_the_last_share_and_resumes_exactly():
    """--lr-decay 0.5 over 8 steps: full rate for steps 1-5, then 0.75, 0.5, 0.25 of it (the rate
    is set before each step from the share of the run done); logged as lr_g, saved with the
    optimiser, and a resume from the step-4 checkpoint reaches step 8 bit for bit."""
    import shutil

    cfg = tiny_config(steps=8, checkpoint_every=4, log_every=1, lr_decay=0.5)
    straight = RunDir.create("decay", cfg)
    assert train(straight) == "finished"
    lrs = [r["lr_g"] for r in straight.read_metrics()]
    assert lrs == pytest.approx([cfg.lr_g] * 5 + [0.75 * cfg.lr_g, 0.5 * cfg.lr_g, 0.25 * cfg.lr_g])
    _, meta = load_checkpoint_file(straight.latest_checkpoint().weights)
    assert meta["opt_G"][0]["lr"] == pytest.approx(0.25 * cfg.lr_g) and meta["opt_D"][0]["lr"] == pytest.approx(0.25 * cfg.lr_d)

    shutil.copytree(straight.path, straight.path.parent / "decay-again")
    again = RunDir.open("decay-again")
    for path in again.latest_checkpoint().weights.parent.glob("step_000000008.*"):
        path.unlink()
    assert again.latest_checkpoint().step == 4
    assert train(again, resume=True) == "finished"
    a, _ = load_checkpoint_file(straight.latest_checkpoint().weights)
    b, _ = load_checkpoint_file(again.latest_checkpoint().weights)
    for key in a:
        if key.startswith(("G.", "D.", "G_ema.", "opt_")):
            assert torch.equal(a[key], b[key]), key
    assert [r["lr_g"] for r in again.read_metrics()] == lrs


def test_resumed_adam_moments_keep_the_weights_memory_layout():
    """Checkpoints store moments contiguous; the weights are channels_last. CUDA's fused Adam
    refuses moments whose strides differ from their weight's, so loading must restore them."""
    run = RunDir.create("layout", tiny_config())
    assert train(run) == "finished"
    trainer = Trainer(run, run.config())
    tensors, meta = load_checkpoint_file(run.latest_checkpoint().weights)
    trainer.load_state(tensors, meta)
    checked = 0
    for opt in (trainer.opt_g, trainer.opt_d):
        for param, moments in opt.state.items():
            for key in ("exp_avg", "exp_avg_sq"):
                assert moments[key].stride() == param.stride(), key
                checked += param.dim() == 4 and not param.is_contiguous()
    assert checked  # some channels_last conv weights were among them
    for index, param in enumerate(trainer.G.parameters()):  # same values, only the layout moved
        assert torch.equal(trainer.opt_g.state[param]["exp_avg"].cpu(), tensors[f"opt_G.{index}.exp_avg"])


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (BENCHMARKS.md: run on the device)")


@needs_cuda
def test_cuda_graph_replays_the_eager_step():
    """Six steps replayed from a captured CUDA graph land on the weights that six eager steps
    reach from the same seed (both drawing batches on the GPU)."""
    weights = {}
    for graph in (True, False):
        run = RunDir.create(f"graph-{graph}", tiny_config(cuda_graph=graph, ema=False))
        trainer = Trainer(run, run.config())
        trainer.task.source.generator_on_device()
        for _ in range(6):
            trainer.train_step()
        assert trainer.runner.captured == graph
        weights[graph] = {k: v.float().cpu() for k, v in trainer.G.state_dict().items()}
        stats = trainer.read_stats()
        assert all(math.isfinite(v) for v in stats.values()) and stats["d_real"] != stats["d_fake"]
    for key, value in weights[True].items():
        assert torch.allclose(value, weights[False][key], rtol=1e-4, atol=1e-5), key


def test_resume_drops_metrics_past_the_checkpoint():
    run = RunDir.create("crashy", tiny_config(steps=4))
    assert train(run) == "finished"
    run.append_metrics({"step": 99, "loss_d": 1.0})  # as if a crashed trainer had gone further
    run.write_config(tiny_config(steps=6))
    train(run, resume=True)
    assert [r["step"] for r in run.read_metrics()] == [2, 4, 6]


def test_sampling_is_deterministic_per_seed():
    run = RunDir.create("det", tiny_config())
    train(run)
    loaded = load_generator("det")
    a = generate(loaded, [5, 6, 7], class_index=1)
    b = generate(loaded, [7], class_index=1)
    assert torch.equal(a[2], b[0])  # an image regenerates alone from its seed
    assert not torch.equal(a[0], a[1])


def test_sample_cli_names_files_by_class_and_seed(tmp_path):
    run = RunDir.create("cli", tiny_config())
    train(run)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "gan_core", "sample", "--run", "cli", "--n", "3", "--out", str(out), "--seed", "17", "--class", "triangle"]
    subprocess.run(cmd, check=True, env=run_env(), capture_output=True)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["2_00017.png", "2_00018.png", "2_00019.png"]
    image = Image.open(out / "2_00017.png")
    assert image.size == (16, 16)
    assert image.text["synthetic"] == "true" and image.text["seed"] == "17" and image.text["run"] == "cli"
    again = tmp_path / "again"
    subprocess.run(cmd[:-6] + ["--out", str(again), "--seed", "17", "--class", "2"], check=True, env=run_env(), capture_output=True)
    assert Image.open(again / "2_00017.png").tobytes() == image.tobytes()


def test_sample_as_dataset_writes_generates_export_from_the_command_line(tmp_path, monkeypatch, capsys):
    """Generate's Export had no command; ``sample --as-dataset`` writes the same labelled set,
    and an export that would fill the disk is refused before any image is made."""
    from gan_core.cli.main import main
    from gan_core.data import list_datasets

    train(RunDir.create("exp", tiny_config()))
    assert main(["sample", "--run", "exp", "--n", "2", "--seed", "5", "--as-dataset", "synth-exp"]) == 0
    folder = tmp_path / "data" / "synth-exp"
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    assert classes == ["circle", "cross", "ring", "square", "triangle"]
    assert sorted(p.name for p in (folder / "ring").iterdir()) == ["000005.png", "000006.png"]
    assert "synth-exp" in [d.name for d in list_datasets()]

    monkeypatch.setenv("GAN_MIN_FREE_MB", str(10**9))
    assert main(["sample", "--run", "exp", "--n", "2", "--as-dataset", "too-big"]) == 2
    assert "GAN_MIN_FREE_MB" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "data").iterdir() if p.name != ".feature-cache") == ["synth-exp"]  # nothing half-made
    for both_or_neither in (["--out", str(tmp_path / "o"), "--as-dataset", "x"], []):
        with pytest.raises(SystemExit):
            main(["sample", "--run", "exp", *both_or_neither])


def test_a_dcgan_interpolation_walks_the_z_sphere_from_seed_a_to_seed_b():
    from gan_core.inference.generators import interpolate

    train(RunDir.create("walk", tiny_config()))
    loaded = load_generator("walk")
    walk = interpolate(loaded, 3, 8, 4, class_index=2)
    ends = generate(loaded, [3, 8], class_index=2)
    assert torch.allclose(walk[0], ends[0], atol=1e-5) and torch.allclose(walk[-1], ends[1], atol=1e-5)


def test_a_z_truncation_of_0_or_below_is_refused_not_ignored():
    """``--truncation 0`` on a DCGAN gave untruncated samples without a word (0 is psi's
    mean image on StyleGAN2 only); -1 likewise."""
    train(RunDir.create("trunc", tiny_config()))
    loaded = load_generator("trunc")
    for t in (0.0, -1.0):
        with pytest.raises(ValueError, match="T > 0"):
            generate(loaded, [0, 1], truncation=t)
    assert generate(loaded, [0], truncation=0.5).shape == (1, 3, 16, 16)


@pytest.mark.parametrize("device", ["gpu", "cuda:7"] + ([] if torch.cuda.is_available() else ["cuda"]))
def test_every_commands_device_flag_is_read_like_trains(tmp_path, capsys, device):
    """sample, eval and superres handed --device to torch unread: a typo, or a GPU that is not
    there, ended in torch's traceback (exit 1); now one error line (exit 2), as train does."""
    from gan_core.cli.main import main

    train(RunDir.create("dev", tiny_config()))
    Image.new("RGB", (8, 8)).save(tmp_path / "low.png")
    for command in (["sample", "--run", "dev", "--out", str(tmp_path / "s")], ["eval", "--run", "dev", "--n", "10"],
                    ["superres", "--run", "dev", "--method", "prior", "--image", str(tmp_path / "low.png"),
                     "--out", str(tmp_path / "o.png")]):
        assert main([*command, "--device", device]) == 2, command
        err = capsys.readouterr().err
        assert "error: device:" in err and "Traceback" not in err
    if device == "gpu":
        assert main(["sample", "--run", "dev", "--out", str(tmp_path / "s"), "--device", "auto"]) == 0


def test_sample_from_a_checkpoint_file_alone(tmp_path):
    run = RunDir.create("file", tiny_config(conditional=False))
    train(run)
    ckpt = run.latest_checkpoint().weights
    loose = tmp_path / "colleague.safetensors"
    loose.write_bytes(ckpt.read_bytes())  # no sidecar JSON, no run folder
    out = tmp_path / "s"
    result = subprocess.run([sys.executable, "-m", "gan_core", "sample", "--checkpoint", str(loose), "--n", "2", "--out", str(out)],
                            env=run_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["00000.png", "00001.png"]


def test_a_misspelt_data_set_is_an_error_line_not_a_failed_run(studio_dirs, capsys):
    """``train --data fashon-mnist`` made a run folder, printed a traceback and left the run
    failed (``launch`` too): now both refuse before any folder is made."""
    from gan_core.cli.main import main

    for command in (["train", "--data", "fashon-mnist", "--steps", "1"],
                    ["launch", "--data", "fashon-mnist", "--steps", "1", "--name", "typo"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "unknown data set 'fashon-mnist'" in err and "Traceback" not in err
    assert not studio_dirs[0].exists() or not list(studio_dirs[0].iterdir())


def test_train_cli_end_to_end(tmp_path, studio_dirs):
    result = subprocess.run([sys.executable, "-m", "gan_core", "train", *tiny_flags(), "--name", "cli-run"],
                            env=run_env(), capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    run = RunDir.open("cli-run")
    assert run.read_status()["state"] == "finished" and run.latest_checkpoint().step == 20
    listing = subprocess.run([sys.executable, "-m", "gan_core", "runs"], env=run_env(), capture_output=True, text=True)
    assert "cli-run" in listing.stdout and "finished" in listing.stdout
    log = run.log_path.read_text()
    assert "finished at step 20" in log


@pytest.mark.parametrize("field,value,expect", [
    ("loss", "wasserstein", "loss"), ("resolution", 48, "resolution"), ("batch_size", 0, "batch_size"),
    ("lr_g", -1, "lr_g"), ("lr_d", "fast", "lr_d"), ("augment", "color,blur", "augment"), ("channels", 2, "channels"),
    ("model", "stylegan9", "model"), ("d_steps", 1.5, "d_steps"), ("beta1", 1.0, "beta1"), ("conditional", "maybe", "conditional"),
])
def test_bad_config_values_are_refused_by_name(field, value, expect):
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({field: value})
    assert info.value.field == expect and expect in str(info.value)


def test_bad_combination_and_unknown_field():
    with pytest.raises(ConfigError, match="d_norm"):
        TrainConfig.from_dict({"loss": "wgan-gp", "d_norm": "batch"})
    with pytest.raises(ConfigError, match="unknown field"):
        TrainConfig.from_dict({"learning_rate": 0.1})


def test_cli_refuses_bad_flag_with_field_name():
    result = subprocess.run([sys.executable, "-m", "gan_core", "train", "--data", "shapes", "--batch-size", "-4"],
                            env=run_env(), capture_output=True, text=True)
    assert result.returncode == 2 and "batch_size" in result.stderr


def test_config_file_plus_flags(tmp_path):
    from gan_core.cli.train import add_train_arguments, config_from_args
    import argparse

    path = tmp_path / "c.json"
    path.write_text(json.dumps({"data": "shapes", "width": 12, "loss": "lsgan"}))
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    cfg, _ = config_from_args(parser.parse_args(["--config", str(path), "--loss", "hinge"]))
    assert (cfg.data, cfg.width, cfg.loss, cfg.preset) == ("shapes", 12, "hinge", "shapes")
    fashion, _ = config_from_args(parser.parse_args([]))
    assert fashion.data == "fashion-mnist" and fashion.preset == "fashion-mnist"
    # unconditional by default on Fashion-MNIST (more variety, BENCHMARKS.md); one flag brings classes back
    conditional, _ = config_from_args(parser.parse_args(["--conditional"]))
    assert not fashion.conditional and conditional.conditional and conditional.loss == fashion.loss


def test_a_preset_alone_trains_on_its_own_data_set():
    # `--preset emoji` used to train the StyleGAN2 recipe on Fashion-MNIST: the default data set
    # overwrote the preset's.
    from gan_core.cli.train import add_train_arguments, config_from_args
    import argparse

    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    emoji, _ = config_from_args(parser.parse_args(["--preset", "emoji"]))
    assert (emoji.data, emoji.model, emoji.preset) == ("emoji", "stylegan2", "emoji")
    folder, _ = config_from_args(parser.parse_args(["--preset", "dcgan-folder"]))
    assert (folder.data, folder.resolution, folder.channels) == ("emoji", 64, 3)
    other, _ = config_from_args(parser.parse_args(["--preset", "emoji", "--data", "shapes"]))
    assert other.data == "shapes" and other.model == "stylegan2"


def test_resume_refuses_train_flags_it_would_ignore(capsys):
    from gan_core.cli.train import cmd_train

    assert cmd_train(["--resume", "past", "--steps", "10", "--lr-g", "1e-3"]) == 2
    err = capsys.readouterr().err
    assert "--lr-g, --steps would do nothing" in err and "--init-from past" in err


def test_init_from_keeps_layers_that_fit():
    base = RunDir.create("base", tiny_config(conditional=False))
    train(base)
    tuned = RunDir.create("tuned", tiny_config(conditional=True, init_from="base", steps=2, checkpoint_every=2, log_every=1))
    assert train(tuned) == "finished"
    assert "initialised from base" in tuned.log_path.read_text()


def test_text_to_class():
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    assert class_from_text("a bag", classes) == 8
    assert class_from_text("Sneakers please", classes) == 7
    assert class_from_text("ankle boots", classes) == 9
    assert class_from_text("a warm jacket", classes) == 4
    groups = ["Smileys & Emotion", "People & Body", "Animals & Nature", "Food & Drink", "Travel & Places",
              "Activities", "Objects", "Symbols", "Flags"]  # emoji's: names with '&' matched nothing before
    assert class_from_text("Smileys & Emotion", groups) == 0 and class_from_text("a smiley", groups) == 0
    assert class_from_text("animals", groups) == 2 and class_from_text("a flag", groups) == 8
    assert class_from_text("food and drink", groups) == 3 and class_from_text("a symbol", groups) == 7
    assert class_from_text("a dinosaur", groups) is None
    assert class_from_text("a spaceship", classes) is None
    assert resolve_class("3", classes) == 3
    with pytest.raises(ValueError):
        resolve_class("42", classes)


def test_compile_never_breaks_a_run(monkeypatch, tmp_path):
    """--compile either compiles or, when the compiler fails (inductor's C++ build does on
    some machines), falls back to eager on the first step and says so: the run finishes."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    run = RunDir.create("compiled", tiny_config(compile=True))
    assert train(run) == "finished"
    assert [r["step"] for r in run.read_metrics()] == [2, 4]
    log = run.log_path.read_text()
    assert "finished at step 4" in log
    if "torch.compile failed" in log:
        assert "running eagerly" in log
