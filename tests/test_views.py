"""The app's pure helpers (ui.charts, ui.status, ui.media, ui.runs_table, and the engine's runs.health): smoothing, warnings, diversity, ETA, files."""
from __future__ import annotations

import io
import json
import math
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from gan_core.data import importer
from gan_core.inference import export
from gan_core.runs import metrics_log
from gan_core.runs import health
from ui import charts, media, runs_table, status
from gan_core.config import TrainConfig
from gan_core.runs.rundir import RunDir


def rec(step, **kw):
    base = dict(step=step, loss_d=1.3, loss_g=0.8, d_real=0.6, d_fake=0.4, acc_real=0.7, acc_fake=0.6,
                grad_norm_g=1.0, grad_norm_d=1.0, images_per_s=100.0)
    base.update(kw)
    return base


def test_ema_smooth_matches_tensorboard_debiasing():
    assert charts.ema_smooth([1.0, 2.0, 3.0], 0.0) == [1.0, 2.0, 3.0]
    out = charts.ema_smooth([5.0, 5.0, 5.0], 0.9)
    assert out == pytest.approx([5.0, 5.0, 5.0])  # debiased: a constant stays constant
    out = charts.ema_smooth([0.0, 10.0], 0.5)
    assert out[0] == 0.0 and out[1] == pytest.approx(10 * 0.5 / 0.75)
    with_nan = charts.ema_smooth([1.0, float("nan"), 1.0], 0.5)
    assert math.isnan(with_nan[1]) and with_nan[2] == pytest.approx(1.0)


def test_eta_and_duration_text():
    assert status.eta_text(None) == ""
    assert status.eta_text(float("nan")) == ""
    assert status.eta_text(30) == "under a minute left"
    assert status.eta_text(180) == "about 3 min left"
    assert status.eta_text(2 * 3600 + 5 * 60) == "about 2 h 05 min left"
    assert status.duration_text(75) == "1m 15s"
    assert status.duration_text(None) == "–"


def test_progress_of_steps_minutes_and_finished():
    assert status.progress_of({"step": 50, "total_steps": 200}) == 0.25
    assert status.progress_of({"state": "finished", "step": 3}) == 1.0
    assert status.progress_of({"elapsed_s": 30}, cfg_minutes=1.0) == 0.5
    assert status.progress_of({}) == 0.0


def test_healthy_run_has_no_warnings():
    records = [rec(i * 10) for i in range(30)]
    assert health.health_warnings(records, "minimax") == []


def test_nan_is_reported_in_plain_words():
    records = [rec(10), rec(20, loss_d=float("nan"))]
    warnings = health.health_warnings(records, "hinge")
    assert warnings and warnings[0].level == "error"
    assert "loss_d" in warnings[0].text and "step 20" in warnings[0].text


def test_diverged_state_explains_what_to_do():
    warnings = health.health_warnings([], "minimax", state="diverged", error="loss_d became NaN")
    assert warnings[0].title == "Training diverged" and "learning rate" in warnings[0].text


def test_d_winning_outright_needs_a_long_streak():
    winning = [rec(i, acc_real=0.99, acc_fake=0.98) for i in range(10)]
    titles = [w.title for w in health.health_warnings(winning, "hinge", window=10)]
    assert "D is winning outright" in titles
    # one normal log inside the window: no warning
    mixed = winning[:5] + [rec(5)] + winning[6:]
    assert not [w for w in health.health_warnings(mixed, "hinge", window=10) if "winning" in w.title]
    # too short a history: no warning
    assert not health.health_warnings(winning[:5], "hinge", window=10)
    # eval records are not training records
    evals = [{"step": 1, "kind": "eval", "fid": 10.0}]
    assert metrics_log.split_records(winning + evals) == (winning, evals)


def _grid(tiles: list[np.ndarray], nrow: int, tile: int, pad: int = 2) -> np.ndarray:
    rows = math.ceil(len(tiles) / nrow)
    out = np.full((pad + rows * (tile + pad), pad + nrow * (tile + pad), 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, nrow)
        out[pad + r * (tile + pad): pad + r * (tile + pad) + tile, pad + c * (tile + pad): pad + c * (tile + pad) + tile] = t
    return out


def test_grid_tiles_and_diversity(tmp_path):
    rng = np.random.default_rng(0)
    varied = [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(16)]
    same = [varied[0]] * 16
    g_varied, g_same = _grid(varied, 8, 8), _grid(same, 8, 8)
    tiles = health.grid_tiles(g_varied, 8)
    assert tiles.shape == (16, 8, 8, 3) and (tiles[3] == varied[3]).all()
    assert health.tile_diversity(health.grid_tiles(g_same, 8)) == 0.0
    assert health.tile_diversity(tiles) > 0.2

    # a run whose grids lose their variety: the collapse warning fires
    paths = []
    for step, grid in [(0, g_varied), (100, g_varied), (200, g_varied), (300, g_same)]:
        p = tmp_path / f"step_{step:09d}.png"
        Image.fromarray(grid).save(p)
        paths.append((step, p))
    trend = health.diversity_trend(paths, 8)
    assert trend.collapsed and trend.ratio < 0.01 and trend.latest_step == 300
    titles = [w.title for w in health.health_warnings([rec(1)], "hinge", diversity=trend)]
    assert any("variety" in t for t in titles)
    assert not health.diversity_trend(paths[:3], 8).collapsed


def test_metrics_reader_reads_only_whole_new_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    reader = metrics_log.MetricsReader(path)
    assert reader.read() == []
    path.write_text(json.dumps(rec(1)) + "\n" + '{"step": 2, "loss')  # torn last line
    assert [r["step"] for r in reader.read()] == [1]
    with open(path, "a") as f:
        f.write('_d": 1.0}\n')
    assert [r["step"] for r in reader.read()] == [1, 2]
    path.write_text(json.dumps(rec(7)) + "\n")  # truncated (resume): read again
    assert [r["step"] for r in reader.read()] == [7]


def test_chart_figure_has_reference_line_and_one_trace_per_run():
    runs = {"a": [rec(1), rec(2)], "b": [rec(1)]}
    fig = charts.chart_figure("D's accuracy", [("acc_real", "real"), ("acc_fake", "fake")], runs, 0.0, reference=0.5)
    assert len(fig.data) == 4
    assert any(getattr(s, "y0", None) == 0.5 for s in fig.layout.shapes)
    smoothed = charts.chart_figure("Losses", [("loss_d", "loss D")], {"a": [rec(1), rec(2)]}, 0.6)
    assert len(smoothed.data) == 2  # raw (faint) + smoothed
    assert charts.point_count(runs) == 3


def test_monitor_adds_the_ada_and_learning_rate_charts_only_for_runs_that_log_them():
    titles = lambda runs: [title for title, _, _ in charts.charts_for(runs)]  # noqa: E731
    plain = titles({"a": [rec(1)]})
    assert "ADA augmentation p" not in plain and "Learning rate" not in plain
    both = titles({"a": [rec(1)], "b": [rec(1, ada_p=0.1, lr_g=1e-4)]})
    assert both[:len(plain)] == plain and "ADA augmentation p" in both and "Learning rate" in both


def test_long_runs_are_thinned_for_charts_keeping_the_newest_point():
    xs, ys = list(range(1000)), [float(i) for i in range(1000)]
    tx, ty = charts.thin(xs, ys, 200)
    assert len(tx) <= 200 and tx[-1] == 999 and ty[-1] == 999.0 and tx == sorted(tx)
    assert charts.thin(xs[:50], ys[:50], 200) == (xs[:50], ys[:50])
    fig = charts.chart_figure("Losses", [("loss_d", "loss D")], {"a": [rec(i) for i in range(1000)]}, 0.6)
    assert all(len(trace.x) <= charts.MAX_CHART_POINTS for trace in fig.data)
    assert fig.data[1].x[-1] == 999  # the smoothed line ends at the newest step


def test_healthy_notes_cover_every_loss():
    from gan_core.config import LOSSES

    for loss in LOSSES:
        assert "Healthy curves" in health.healthy_note(loss)
    assert "1.39" in health.healthy_note("minimax") and "negative" in health.healthy_note("wgan-gp")


def test_gif_zip_slerp_and_names():
    frames = [Image.new("RGB", (8, 8), (i * 20, 0, 0)) for i in range(5)]
    gif = media.gif_bytes(frames, fps=10)
    im = Image.open(io.BytesIO(gif))
    assert im.format == "GIF" and im.n_frames == 8  # forward and back
    z = media.zip_bytes({"a.png": b"1", "b/c.png": b"2"})
    assert sorted(zipfile.ZipFile(io.BytesIO(z)).namelist()) == ["a.png", "b/c.png"]
    a, b = torch.randn(1, 16), torch.randn(1, 16)
    assert torch.allclose(media.slerp(a, b, 0.0), a, atol=1e-5) and torch.allclose(media.slerp(a, b, 1.0), b, atol=1e-5)
    assert importer.safe_folder_names(["T-shirt/top", "Bag", "bag"]) == ["T-shirt_top", "Bag", "bag_2"]
    assert status.default_run_name("/x/my set.zip", "dcgan", 0).startswith("my-set-dcgan-")
    assert status.state_badge("running") == "● running"


def test_runs_table_rows_and_checkpoint_choices(tmp_path, monkeypatch):
    # a "running" status with no live process would be derived as crashed by gan_core.jobs
    monkeypatch.setattr(runs_table, "run_state", lambda run: run.read_status()["state"])
    cfg = TrainConfig.from_dict(dict(data="shapes", resolution=16, channels=3, width=8, steps=100))
    run = RunDir.create("r1", cfg, root=tmp_path)
    run.write_status(state="running", step=25, total_steps=100, eta_s=200)
    grid = _grid([np.zeros((16, 16, 3), np.uint8)] * 16, 8, 16)
    Image.fromarray(grid).save(run.sample_path(20))
    run.save_checkpoint(10, {"G.w": torch.zeros(2)}, {})
    run.save_checkpoint(20, {"G.w": torch.zeros(2)}, {"best": True})
    rows = runs_table.runs_table_rows([run])
    assert rows[0]["Run"] == "r1" and rows[0]["Progress"] == 0.25 and rows[0]["Step"] == "25/100"
    assert rows[0]["Latest sample"].startswith("data:image/png;base64,")
    assert "min left" in rows[0]["Note"]
    choices = runs_table.checkpoint_choices(run)
    assert choices == [("latest and best (step 20)", "20"), ("step 10", "10")]
    run.save_checkpoint(30, {"G.w": torch.zeros(2)}, {})
    choices = runs_table.checkpoint_choices(run)  # each checkpoint once (the latest was listed twice)
    assert choices == [("latest (step 30)", "30"), ("best (step 20)", "best"), ("step 10", "10")]


def test_export_synthetic_writes_a_trainable_labelled_set(tmp_path):
    from gan_core.data import list_datasets, load_dataset
    from gan_core.models.image import build_dcgan
    from gan_core.inference.generators import LoadedGenerator

    cfg = TrainConfig.from_dict(dict(data="shapes", resolution=16, channels=3, width=8, z_dim=8, conditional=True))
    G = build_dcgan(cfg, 2)[0].eval()
    loaded = LoadedGenerator(G, cfg, ["T-shirt/top", "Bag"], 5, "r1", "ema")
    seen = []
    folder, count = export.export_synthetic(loaded, "synth", 3, root=tmp_path / "data", chunk=2,
                                           progress=lambda d, t: seen.append((d, t)))
    assert count == 6 and seen[-1] == (6, 6)
    assert sorted(p.name for p in folder.iterdir()) == ["Bag", "T-shirt_top", "import_report.json"]
    png = Image.open(next((folder / "Bag").glob("*.png")))
    assert png.text["synthetic"] == "true" and png.text["run"] == "r1" and png.text["checkpoint_step"] == "5"
    assert "seed" in png.text and "created" in png.text
    data = load_dataset(str(folder), 16, 3)
    assert len(data) == 6 and data.classes == ["Bag", "T-shirt_top"]
    with pytest.raises(Exception):
        export.export_synthetic(loaded, "synth", 1, root=tmp_path / "data")


def test_one_point_charts_have_a_whole_step_axis_and_shares_stay_in_0_1():
    """One evaluation at step 2,000: the axis shows "2,000" (it read 1,999.5) and precision
    keeps its [0, 1] scale (it was drawn from -1 to 1)."""
    evals = {"run": [{"step": 2000, "precision": 0.0, "fid": 30.0}]}
    fig = charts.chart_figure("precision", [("precision", "precision")], evals, 0.0, "precision")
    assert list(fig.layout.xaxis.tickvals) == [2000] and list(fig.layout.xaxis.ticktext) == ["2,000"]
    assert fig.layout.xaxis.range[0] < 2000 < fig.layout.xaxis.range[1]
    assert fig.layout.yaxis.range[0] <= 0 and 1 <= fig.layout.yaxis.range[1] < 1.1
    fid = charts.chart_figure("FID", [("fid", "FID")], evals, 0.0, "FID")
    assert fid.layout.yaxis.range is None  # unbounded: Plotly's own range
    two = charts.chart_figure("precision", [("precision", "precision")],
                       {"run": [{"step": 2000, "precision": 0.1}, {"step": 4000, "precision": 0.3}]}, 0.0)
    assert two.layout.xaxis.tickvals is None


def test_precision_and_recall_both_zero_is_a_health_warning():
    records = [rec(i * 10) for i in range(20)]
    assert health.health_warnings(records, "hinge") == []
    zero = {"kind": "eval", "step": 2000, "precision": 0.0, "recall": 0.0, "fid": 90.0}
    warnings = health.health_warnings(records + [zero], "hinge")
    assert [w.title for w in warnings] == ["No sample resembles the real images yet (precision and recall are 0)"]
    assert "step 2,000" in warnings[0].text
    later = {"kind": "eval", "step": 4000, "precision": 0.2, "recall": 0.0}
    assert health.health_warnings(records + [zero, later], "hinge") == []  # only the latest scores count


def test_estimates_come_from_this_machines_measured_speed(tmp_path):
    """The Train page's "how long" uses a past run of the same networks on this machine; the
    Monitor ETA uses the run's own average speed and counts down between status writes."""
    from gan_core.config import preset_for
    from ui import estimate

    cfg = TrainConfig.from_dict(preset_for("fashion-mnist"))  # batch 64, 1,000 steps
    assert estimate.measured_speed(cfg, []) is None
    assert "no measured speed" in estimate.estimate_text(cfg, None)
    other_batch = RunDir.create("other-batch", cfg.replace(batch_size=32), root=tmp_path)
    other_batch.write_status(state="stopped", host=estimate.HOST, images_seen=30_000, elapsed_s=300.0)
    elsewhere = RunDir.create("elsewhere", cfg, root=tmp_path)
    elsewhere.write_status(state="stopped", host="another-machine", images_seen=90_000, elapsed_s=100.0)
    speed = estimate.measured_speed(cfg, [elsewhere, other_batch])
    assert (speed.run, speed.exact, speed.images_per_s) == ("other-batch", False, 100.0)
    same = RunDir.create("same", cfg, root=tmp_path)
    same.write_status(state="finished", host=estimate.HOST, images_seen=60_000, elapsed_s=300.0)
    speed = estimate.measured_speed(cfg, [other_batch, same])
    assert (speed.run, speed.exact, speed.images_per_s) == ("same", True, 200.0)
    text = estimate.estimate_text(cfg, speed, busy=1)
    assert text.startswith("**How long:** 1,000 steps, about 6 min — measured by run **same**")  # 320 s
    assert "1 other run is training now" in text
    assert "10 min, about 1,875 steps" in estimate.estimate_text(cfg.replace(minutes=10.0), speed)
    assert estimate.measured_speed(cfg.replace(width=64), [same]) is None  # other networks: no guess

    now = 1_000_000.0
    status = {"step": 250, "total_steps": 1000, "images_seen": 16_000, "elapsed_s": 80.0, "updated": now - 5}
    assert estimate.eta_seconds(status, cfg, now) == 750 * 64 / 200 - 5
    assert estimate.eta_seconds({**status, "images_seen": 0}, cfg, now) is None
    assert estimate.eta_seconds(status, cfg.replace(minutes=2.0), now) == 120 - 80 - 5
