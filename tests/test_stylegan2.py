"""StyleGAN2 (issue 18): tensor shapes, training through the real trainer, exact resume with
ADA's p and the W average, truncation, style mixing."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from gan_core.config import ConfigError, TrainConfig, preset_for
from gan_core.config.presets import PRESETS, STYLEGAN2
from gan_core.inference.generators import LoadedGenerator, generate, interpolate_w, load_generator, style_mix
from gan_core.metrics.style_mixing import luma_layout, style_mixing_check
from gan_core.models.stylegan2 import StyleDiscriminator, StyleGenerator, build_stylegan2, channels_for, mix_styles
from gan_core.runs.rundir import RunDir, load_checkpoint_file
from gan_core.training.loop import train
from gan_core.training.trainer import Trainer

FIXTURE = Path(__file__).parent / "fixtures" / "emoji_stylegan2_g.safetensors"


def sg2_config(**overrides) -> TrainConfig:
    """StyleGAN2 + ADA on the procedural shapes at 16 px: seconds per run. ADA's p may move
    0 -> 1 in 64 images, so a few steps are enough to see it move and be restored."""
    values = dict(STYLEGAN2, data="shapes", resolution=16, width=16, z_dim=16, batch_size=8, steps=6,
                  log_every=2, sample_every=6, checkpoint_every=3, threads=1, r1_every=2, ada_kimg=0.064,
                  eval_every=0)
    values.update(overrides)
    return TrainConfig.from_dict(values)


@pytest.mark.parametrize("num_classes", [0, 5])
@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_every_tensor_has_its_shape(resolution, num_classes):
    width, z_dim, b = 32, 24, 4
    G = StyleGenerator(z_dim, z_dim, 3, resolution, width, num_classes).eval()
    D = StyleDiscriminator(3, resolution, width, num_classes)
    seen: list[tuple[str, tuple[int, ...]]] = []
    watched = [(n, m) for n, m in G.synthesis.named_modules() if n.count(".") == 1]  # layers.i, torgbs.i
    watched += [(n, m) for n, m in D.named_modules() if n and (n.count(".") == 0 or n.startswith("blocks.")) and n.count(".") <= 1 and n != "blocks"]
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=n: seen.append((name, tuple(out.shape))))
             for n, m in watched]
    z = torch.randn(b, z_dim)
    y = torch.arange(b) % num_classes if num_classes else None
    with torch.no_grad():
        w = G.mapping(z, y)
        ws = G.ws(z, y)
        image = G(z, y)
        logits = D(image, y)
    for h in hooks:
        h.remove()
    top = int(math.log2(resolution))
    assert w.shape == (b, z_dim) and ws.shape == (b, 2 * top - 2, z_dim) == (b, G.num_ws, z_dim)
    assert image.shape == (b, 3, resolution, resolution) and logits.shape == (b,)
    shapes = dict(seen)
    # synthesis: per resolution r two layers [B, ch(r), r, r] and a toRGB [B, 3, r, r]
    expected_layers = [(4, 0)] + [(2**k, j) for k in range(3, top + 1) for j in (0, 1)]
    for i, (r, _) in enumerate(expected_layers):
        assert shapes[f"layers.{i}"] == (b, channels_for(r, width), r, r)
    for i, k in enumerate(range(2, top + 1)):
        assert shapes[f"torgbs.{i}"] == (b, 3, 2**k, 2**k)
    # discriminator: fromRGB at full size, each residual block halves it down to 4x4
    assert shapes["from_rgb"] == (b, channels_for(resolution, width), resolution, resolution)
    for i, k in enumerate(range(top, 2, -1)):
        assert shapes[f"blocks.{i}"] == (b, channels_for(2 ** (k - 1), width), 2 ** (k - 1), 2 ** (k - 1))
    assert shapes["conv"] == (b, channels_for(4, width), 4, 4)
    assert shapes["out"] == (b, 128 if num_classes else 1)


def test_channel_cap_widens_only_the_coarse_resolutions():
    assert [channels_for(r, 64) for r in (4, 8, 16, 32, 64)] == [64, 64, 64, 32, 16]
    assert [channels_for(r, 64, 256) for r in (4, 8, 16, 32, 64)] == [256, 128, 64, 32, 16]
    cfg = TrainConfig.from_dict(dict(STYLEGAN2, data="shapes", resolution=32, width=16, max_channels=64))
    G, D = build_stylegan2(cfg, 0)
    assert G.synthesis.const.shape == (64, 4, 4)  # 16 x 16 / 4 = 64 at 4 px, 32 at 8 px, 16 from 16 px
    assert [layer.conv.weight.shape[0] for layer in G.synthesis.layers] == [64, 32, 32, 16, 16, 16, 16]
    assert D.from_rgb.weight.shape[0] == 16 and D.conv.weight.shape[0] == 64
    default = TrainConfig.from_dict(dict(STYLEGAN2, data="shapes", resolution=32, width=16))
    G0, _ = build_stylegan2(default, 0)
    assert G0.synthesis.const.shape == (16, 4, 4)  # 0 = capped at the width, as before the field
    image = G(torch.randn(2, cfg.z_dim))
    assert image.shape == (2, 3, 32, 32) and D(image).shape == (2,)


def test_training_steps_stay_finite_and_log_ada_p():
    cfg = sg2_config(steps=6, checkpoint_every=6)
    run = RunDir.create("sg2", cfg)
    assert train(run) == "finished"
    records = run.read_metrics()
    assert [r["step"] for r in records] == [2, 4, 6]
    for r in records:
        for key in ("loss_d", "loss_g", "grad_norm_g", "grad_norm_d", "ada_p"):
            assert math.isfinite(r[key]), (key, r)
    assert 0.0 <= records[-1]["ada_p"] <= 1.0
    assert all(r["r1"] > 0 for r in records)  # lazy R1 (the loss's d_reg phase, every 2nd step) ran in each interval
    tensors, meta = load_checkpoint_file(run.latest_checkpoint().weights)
    assert all(torch.isfinite(v).all() for v in tensors.values() if v.is_floating_point())
    assert tensors["G.mapping.w_avg"].abs().sum() > 0  # the W average is tracked and saved
    assert "task.ada.p" in tensors and meta["has_ema"]


def test_resume_is_exact_with_ada_p_and_w_average():
    """3 steps, stop, resume to 6 == 6 straight, bit for bit: weights, EMA, Adam, ADA's p and
    running sums, the W average (lazy R1 falls on steps 0, 2, 4 in both)."""
    straight = RunDir.create("straight", sg2_config(steps=6))
    assert train(straight) == "finished"
    split = RunDir.create("split", sg2_config(steps=3))
    assert train(split) == "finished"
    split.write_config(sg2_config(steps=6))
    assert train(split, resume=True) == "finished"
    a, _ = load_checkpoint_file(straight.latest_checkpoint().weights)
    b, meta = load_checkpoint_file(split.latest_checkpoint().weights)
    assert meta["step"] == 6 and a["task.ada.count"] == 2 * 8  # the sums since the last p update
    for key in a:
        if key.startswith(("G.", "D.", "G_ema.", "opt_", "task.")):
            assert torch.equal(a[key], b[key]), key


def test_a_checkpoint_restores_a_moved_p_and_training_continues_identically():
    """Early in a short run D is not confident yet, so p stays 0; here p is set as a long run
    would have left it, saved, loaded into a fresh trainer, and both go on in lockstep."""
    cfg = sg2_config(steps=10)
    run = RunDir.create("p", cfg)
    first = Trainer(run, cfg)
    first.task.ada.p.fill_(0.37)
    first.train_step()
    first.save()
    second = Trainer(run, cfg)
    second.load_state(*load_checkpoint_file(run.latest_checkpoint().weights))
    assert second.task.ada.p.item() == pytest.approx(0.37, abs=1e-3) and torch.equal(second.task.ada.p, first.task.ada.p)
    assert torch.equal(second.G.mapping.w_avg, first.G.mapping.w_avg) and first.G.mapping.w_avg.abs().sum() > 0
    rng = torch.get_rng_state()  # both draw from the global generator: one after the other
    for _ in range(2):
        first.train_step()
    torch.set_rng_state(rng)
    for _ in range(2):
        second.train_step()
    for (name, p1), p2 in zip(first.D.state_dict().items(), second.D.state_dict().values()):
        assert torch.equal(p1, p2), name


def _loaded(G: StyleGenerator, cfg: TrainConfig) -> LoadedGenerator:
    return LoadedGenerator(G.eval(), cfg, [], 0, "test", "raw")


def test_truncation_zero_gives_the_mean_image_for_any_seed():
    cfg = sg2_config(resolution=32)
    torch.manual_seed(0)
    G = StyleGenerator(cfg.z_dim, cfg.z_dim, 3, 32, cfg.width, 0)
    G.mapping.w_avg.copy_(torch.randn(cfg.z_dim))  # as if trained: a mean w away from 0
    loaded = _loaded(G, cfg)
    mean_images = generate(loaded, [0, 1, 17, 123456], truncation=0.0)
    assert torch.equal(mean_images[0], mean_images[1]) and torch.equal(mean_images[0], mean_images[3])
    with torch.no_grad():
        expected = G.synthesis(G.mapping.w_avg[None, None].expand(1, G.num_ws, -1), "const").clamp(-1, 1)
    assert torch.allclose(mean_images[0], expected[0], atol=1e-6)
    free = generate(loaded, [0, 1], truncation=None)
    half = generate(loaded, [0, 1], truncation=0.5)
    assert not torch.equal(free[0], free[1])
    assert (half[0] - mean_images[0]).abs().mean() < (free[0] - mean_images[0]).abs().mean()
    assert torch.equal(generate(loaded, [5]), generate(loaded, [5]))  # const noise: repeatable
    with pytest.raises(ValueError, match="psi"):
        generate(loaded, [0], truncation=1.5)


def test_style_mixing_keeps_layout_from_a_and_fine_styles_from_b():
    """Mixed at layer 4 of 8 (32 px: 4x4 and 8x8 from A): the coarse activations are A's exactly,
    every later layer gets B's style, and the image's low-pass luminance layout correlates
    with A's far more than with B's (in 90% of 32 pairs, and on average; measured on an untrained G, where the
    architecture alone decides it). That colours follow B is learned in training: the next test."""
    torch.manual_seed(0)
    G = StyleGenerator(32, 32, 3, 32, 32, 0).eval()
    z = torch.randn(64, 32)
    with torch.no_grad():
        ws_a, ws_b = G.ws(z[:32]), G.ws(z[32:])
        mixed_ws = mix_styles(ws_a, ws_b, 4)
        assert torch.equal(mixed_ws[:, :4], ws_a[:, :4]) and torch.equal(mixed_ws[:, 4:], ws_b[:, 4:])
        a, b, mixed = (G.synthesis(w, "const") for w in (ws_a, ws_b, mixed_ws))
    la, lb, lm = luma_layout(a), luma_layout(b), luma_layout(mixed)
    corr_a = F.cosine_similarity(lm, la, dim=1)
    corr_b = F.cosine_similarity(lm, lb, dim=1)
    assert (corr_a > corr_b).float().mean() >= 0.9 and corr_a.mean() > corr_b.mean() + 0.4
    # through the sampling API of a saved run: seed A's layout, one image
    cfg = sg2_config(resolution=32, width=32, z_dim=32)
    loaded = _loaded(G, cfg)
    one = style_mix(loaded, 3, 4, cutoff=4)
    pair = generate(loaded, [3, 4])
    la1, lb1, lm1 = (luma_layout(x[None]) for x in (pair[0], pair[1], one))
    assert F.cosine_similarity(lm1, la1) > F.cosine_similarity(lm1, lb1)
    assert torch.allclose(style_mix(loaded, 3, 4, cutoff=G.num_ws), pair[0], atol=1e-5)  # nothing from B
    frames = interpolate_w(loaded, 3, 4, 5)
    assert frames.shape == (5, 3, 32, 32) and torch.allclose(frames[0], pair[0], atol=1e-5)
    assert torch.allclose(frames[-1], pair[1], atol=1e-5)


def test_style_mixing_on_a_trained_generator_takes_the_layout_from_a_and_the_colours_from_b():
    """On a trained emoji G (``tests/fixtures/emoji_stylegan2_g.safetensors``: the EMA generator of
    the emoji benchmark's seed-0 run, 10 minutes of the preset, written by ``bench/emoji_quality.py
    --fixture``), mixed after the 8x8 styles as the Generate page does: in most of 64 seed pairs
    the layout is nearer A's and the mean colour nearer B's (measured there: 81% and 66%), and on
    average too. Taking every layer from A, the same check sees no colour from B at all."""
    loaded = load_generator(checkpoint=FIXTURE)
    assert loaded.weights == "ema" and loaded.config.model == "stylegan2" and loaded.config.resolution == 64
    mixed = style_mixing_check(loaded, pairs=64, cutoff=3)
    assert mixed["layout_follows_a"] >= 0.7 and mixed["layout_corr_a"] > mixed["layout_corr_b"]
    assert mixed["colour_follows_b"] >= 0.6 and mixed["colour_dist_b"] < mixed["colour_dist_a"]
    all_a = style_mixing_check(loaded, pairs=16, cutoff=loaded.G.num_ws)
    assert all_a["colour_follows_b"] == 0 and all_a["colour_dist_a"] < 1e-5 and all_a["layout_follows_a"] == 1


def test_conditional_run_samples_through_the_cli_path():
    cfg = sg2_config(conditional=True, steps=3, checkpoint_every=3)
    run = RunDir.create("sg2c", cfg)
    assert train(run) == "finished"
    loaded = load_generator("sg2c")
    assert loaded.conditional and len(loaded.classes) == 5
    images = generate(loaded, [0, 1, 2], class_index=2, truncation=0.7)
    assert images.shape == (3, 3, 16, 16) and torch.isfinite(images).all()


def test_interpolation_and_mixing_from_the_command_line_start_and_end_at_the_seeds(tmp_path):
    """Generate's Interpolate and Style mixing tabs as ``sample`` flags: the walk (in W) starts at
    seed A's image and ends at seed B's; the report's GIF walks the same way (it walked z)."""
    from gan_core.cli.main import main
    from gan_core.inference.generators import interpolate

    assert train(RunDir.create("sg2w", sg2_config(conditional=True, steps=3, checkpoint_every=3))) == "finished"
    loaded = load_generator("sg2w")
    walk = interpolate(loaded, 4, 9, 5, class_index=1)
    ends = generate(loaded, [4, 9], class_index=1)
    assert walk.shape == (5, 3, 16, 16)
    assert torch.allclose(walk[0], ends[0], atol=1e-5) and torch.allclose(walk[-1], ends[1], atol=1e-5)
    assert not torch.allclose(walk[2], walk[0], atol=1e-3)

    assert main(["sample", "--run", "sg2w", "--interpolate", "4", "9", "--frames", "5", "--class", "1",
                 "--out", str(tmp_path / "o")]) == 0
    with Image.open(tmp_path / "o" / "interp_4_9.gif") as gif:
        assert gif.n_frames == 8  # 5 forward, 3 back
    assert main(["sample", "--run", "sg2w", "--mix", "4", "9", "--cutoff", "2", "--out", str(tmp_path / "o")]) == 0
    with Image.open(tmp_path / "o" / "mix_4_9_cutoff2.png") as png:
        assert png.size == (16, 16) and png.text["seed"] == "4" and png.text["mixed_with_seed"] == "9"
    assert main(["sample", "--run", "sg2w", "--interpolate", "4", "9", "--frames", "1", "--out", str(tmp_path / "o")]) == 2


def test_config_refuses_what_does_not_fit():
    with pytest.raises(ConfigError) as err:
        sg2_config(resolution=48)
    assert err.value.field == "resolution"
    with pytest.raises(ConfigError) as err:
        sg2_config(augment=["ada", "cutout"])
    assert err.value.field == "augment"
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict(dict(preset_for("moving-shapes"), augment=["ada"]))
    assert err.value.field == "augment"
    folder = preset_for("/some/folder/of/logos")
    assert folder["model"] == "stylegan2" and folder["augment"] == ["ada"] and folder["resolution"] == 64
    assert preset_for("emoji")["model"] == "stylegan2"


def test_video_and_restoration_models_on_a_folder_or_emoji_get_a_recipe_that_fits(tmp_path):
    """`train --data FOLDER --model srgan|inpaint-gan|dvdgan` was refused ("augment: 'ada' is for
    image GANs") though the user set no augment: the folder recipe (StyleGAN2 + ADA) came along."""
    import argparse

    from PIL import Image

    from gan_core.cli.train import add_train_arguments, config_from_args

    for i in range(4):
        folder = tmp_path / "set" / ("cats" if i % 2 else "dogs")
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (20, 20), (60 * i, 90, 30)).save(folder / f"{i}.png")
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    for data, model in ((str(tmp_path / "set"), "srgan"), (str(tmp_path / "set"), "inpaint-gan"),
                        (str(tmp_path / "set"), "dvdgan"), ("emoji", "srgan")):
        cfg, _ = config_from_args(parser.parse_args(["--data", data, "--model", model]))
        assert (cfg.model, cfg.augment, cfg.lr_g, cfg.channels) == (model, [], 2e-4, 3), (data, model)
    assert config_from_args(parser.parse_args(["--data", str(tmp_path / "set"), "--model", "dvdgan"]))[0].frames == 8
    assert preset_for(str(tmp_path / "set"), "stylegan2") == preset_for(str(tmp_path / "set"))


def test_one_image_gan_on_anothers_set_gets_its_own_recipe():
    """`--data fashion-mnist --model stylegan2` trained StyleGAN2 with the DCGAN preset's hinge loss,
    lr 2e-4 and no R1; `--data emoji --model dcgan` a DCGAN with lr 0.0025, R1 and ADA."""
    sg2 = preset_for("fashion-mnist", "stylegan2")
    assert (sg2["model"], sg2["loss"], sg2["lr_g"], sg2["resolution"], sg2["channels"]) == ("stylegan2", "nonsaturating",
                                                                                           0.0025, 32, 1)
    assert sg2["r1_gamma"] == 0.0064 and sg2["augment"] == []  # 0.0002 x 32^2 / 32; 60k images need no ADA
    assert preset_for("digits", "stylegan2")["augment"] == ["ada"]  # 1,438 images: small
    dc = preset_for("emoji", "dcgan")
    assert {k: dc[k] for k in ("loss", "lr_g", "augment", "spectral_norm", "resolution")} == {
        k: PRESETS["dcgan-folder"][k] for k in ("loss", "lr_g", "augment", "spectral_norm", "resolution")}
    assert "r1_gamma" not in dc and dc["conditional"]
    for data, model in (("fashion-mnist", "stylegan2"), ("emoji", "dcgan"), ("emoji", "mlp")):
        TrainConfig.from_dict({**preset_for(data, model), "model": model})  # each one valid as it stands


def test_a_flat_folder_trains_unconditionally_by_default(tmp_path):
    """The Data page says a set without class folders trains unconditionally: the folder
    preset (conditional) must not make `train --data FOLDER` fail on it."""
    import argparse

    from PIL import Image

    from gan_core.cli.train import add_train_arguments, config_from_args

    flat, labelled = tmp_path / "flat", tmp_path / "labelled"
    for i in range(6):
        for folder in (flat, labelled / ("cats" if i % 2 else "dogs")):
            folder.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (20, 20), (40 * i, 90, 200 - 30 * i)).save(folder / f"{i}.png")
    assert preset_for(str(flat))["conditional"] is False
    assert preset_for(str(labelled))["conditional"] is True
    assert preset_for(str(tmp_path / "nowhere"))["conditional"] is True  # no set: the loader says why
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    cfg, _ = config_from_args(parser.parse_args(["--data", str(flat), "--resolution", "16", "--width", "16",
                                                 "--z-dim", "16", "--batch-size", "4", "--steps", "2",
                                                 "--eval-every", "0", "--threads", "1"]))
    assert cfg.model == "stylegan2" and not cfg.conditional
    assert train(RunDir.create("flat", cfg)) == "finished"
    forced, _ = config_from_args(parser.parse_args(["--data", str(flat), "--conditional"]))
    assert forced.conditional  # an explicit flag still wins (and the run type says what is wrong)


def test_generate_page_offers_psi_style_mixing_and_w_interpolation():
    from streamlit.testing.v1 import AppTest

    from ui.common import PAGES

    run = RunDir.create("sg2-page", sg2_config(steps=3, checkpoint_every=3))
    assert train(run) == "finished"
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / PAGES["generate"]), default_timeout=90).run()
    assert not at.exception, [e.value for e in at.exception]
    at.toggle(key="gen_psi_on").set_value(True).run()
    at.slider(key="gen_psi").set_value(0.0).run()
    grid = at.get("image")[0]
    assert not at.exception and "truncation 0" in texts_of(at)
    mixed = next(img for img in at.get("image") if img.captions and img.captions[0].startswith("seed A"))
    assert len(mixed.captions) == 3 and "layers 1–" in mixed.captions[1]
    at.button(key="interp_go").click().run()
    assert any(img.captions and "linear interpolation in W" in img.captions[0] for img in at.get("image"))
    assert grid is not None


def texts_of(at) -> str:
    return "\n".join(str(m.value) for m in at.markdown)


def test_r2_penalty_on_fakes_lazy_and_eager():
    """R2 (R3GAN's partner of R1): lazily in the d_reg phase beside R1, or in every D step."""
    lazy = RunDir.create("r2-lazy", sg2_config(steps=4, checkpoint_every=4, r2_gamma=1.0))
    assert train(lazy) == "finished"
    records = lazy.read_metrics()
    assert records and all(math.isfinite(r["r2"]) and r["r2"] > 0 and r["r1"] > 0 for r in records)
    weights = {}
    for gamma in (0.0, 10.0):  # eager: same seed, so only the penalty can make D differ
        run = RunDir.create(f"r2-eager-{gamma:g}", sg2_config(steps=2, checkpoint_every=2, r1_every=1, r1_gamma=0.0,
                                                               r2_gamma=gamma, augment=[]))
        assert train(run) == "finished"
        weights[gamma], _ = load_checkpoint_file(run.latest_checkpoint().weights)
    d_keys = [k for k in weights[0.0] if k.startswith("D.")]
    assert all(torch.isfinite(weights[10.0][k]).all() for k in d_keys)
    assert any(not torch.equal(weights[0.0][k], weights[10.0][k]) for k in d_keys)


def test_relativistic_pairing_loss_sees_only_each_pairs_gap_and_trains_with_ada():
    """R3GAN's loss: shifting every logit leaves both losses unchanged, G's loss reads the reals,
    and with ADA the signal is the real-minus-fake margin (the level of D(real) alone is free)."""
    from gan_core.runtypes.losses import d_loss, g_loss

    real, fake = torch.randn(16), torch.randn(16)
    for loss_fn in (lambda r, f: d_loss("rpgan", r, f), lambda r, f: g_loss("rpgan", f, r)):
        assert torch.allclose(loss_fn(real, fake), loss_fn(real + 7.0, fake + 7.0))
    assert torch.isclose(d_loss("rpgan", real, real), torch.tensor(math.log(2.0)))
    assert g_loss("rpgan", fake, real + 1.0) > g_loss("rpgan", fake, real)
    # 16 steps: D ranks 75-81% of the pairs right by then (margin signs average 0.5-0.6, above this target)
    run = RunDir.create("rpgan", sg2_config(loss="rpgan", r2_gamma=0.025, steps=16, checkpoint_every=16, ada_target=0.3))
    assert train(run) == "finished"
    records = run.read_metrics()
    assert all(math.isfinite(r[k]) for r in records for k in ("loss_d", "loss_g", "r1", "r2", "ada_p"))
    assert all(0.0 <= r["acc_real"] <= 1.0 and r["acc_real"] == r["acc_fake"] for r in records)
    tensors, _ = load_checkpoint_file(run.latest_checkpoint().weights)
    assert tensors["task.ada.count"] == 0 and tensors["task.ada.p"] > 0  # p moved on the margins' signs


R1_AT_2_19_PIXELS = """
import torch
from gan_core.models.stylegan2 import StyleDiscriminator
from gan_core.torch_utils.devices import bf16_supported
torch.set_num_threads(1)
D = StyleDiscriminator(3, 128, 64, 9).to(memory_format=torch.channels_last)
x = torch.randn(32, 3, 128, 128).to(memory_format=torch.channels_last).requires_grad_()
with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16_supported(torch.device("cpu"))):
    (grad,) = torch.autograd.grad(D(x, torch.arange(32) % 9).float().sum(), x, create_graph=True)
    grad.square().sum().backward()
"""


def test_r1_over_2_19_pixels_does_not_kill_the_trainer(python_exe):
    """The emoji preset at 128 px (batch 32: 2^19 pixels) died of SIGFPE at its first R1 phase
    inside oneDNN's AMX bf16 kernels; in a subprocess, so a regression fails here, not the suite.
    The zero 4th channel that avoids it must not change a number."""
    import subprocess

    done = subprocess.run([python_exe, "-c", R1_AT_2_19_PIXELS], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    from gan_core.models.stylegan2 import EqualConv2d

    layer = EqualConv2d(3, 16, 1)
    x = torch.randn(32, 3, 128, 128)
    padded = layer(x)  # 2^19 pixels: the padded path
    with torch.no_grad():
        halves = torch.cat([layer(x[:16]), layer(x[16:])])  # 2^18 each: the plain path
    assert torch.allclose(padded, halves, atol=1e-5)
