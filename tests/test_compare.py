"""Compare, sweeps and the HTML report, on real tiny runs (trained here, in-process, once per module)
and real background jobs for the sweep's queue."""
from __future__ import annotations

import base64
import io
import json
import os
import random
import statistics
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from gan_core.experiments import compare
from gan_core.jobs import manager as jobs
from gan_core.cli.main import main
from gan_core.config import ConfigError, TrainConfig, preset_for
from gan_core.data.importer import import_dataset
from gan_core.experiments.report import build_report
from gan_core.runs.rundir import RunDir, RunError
from gan_core.experiments.sweep import SweepError, expand, parse_vary

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(240)


def tiny_cfg(**changes) -> TrainConfig:
    values = dict(preset_for("shapes"), resolution=16, width=8, z_dim=16, batch_size=16, steps=20, log_every=5,
                  sample_every=10, checkpoint_every=10, eval_every=10, eval_samples=64, threads=1)
    return TrainConfig.from_dict({**values, **changes})


# Two seeds of one recipe, another loss, and a 32 px run: its metrics are in another feature
# space (the set's classifier at 32 px). All train on 80 images drawn and imported here, so each
# classifier trains in about a second; on the built-in shapes set (2,048 images) each of the
# two took ~30 s, most of this module's 1.5-2.5 min set-up on 2 cores.
OWN_SET = "own-set"
RUNS = {
    "hinge-s0": dict(seed=0), "hinge-s1": dict(seed=1), "lsgan-s0": dict(loss="lsgan"), "big-32px": dict(resolution=32),
}


def draw_own_set(folder: Path, per_class: int = 40) -> Path:
    """Two class folders of 16 px discs and squares at random places and colours."""
    rng = random.Random(0)
    for cls in ("discs", "squares"):
        (folder / cls).mkdir(parents=True)
        for i in range(per_class):
            im = Image.new("RGB", (16, 16), tuple(rng.randrange(60) for _ in range(3)))
            x, y, r = rng.randrange(3, 9), rng.randrange(3, 9), rng.randrange(3, 7)
            shape = ImageDraw.Draw(im).ellipse if cls == "discs" else ImageDraw.Draw(im).rectangle
            shape((x, y, x + r, y + r), fill=tuple(rng.randrange(120, 256) for _ in range(3)))
            im.save(folder / cls / f"{i:03d}.png")
    return folder


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    from gan_core.training.loop import train

    base = tmp_path_factory.mktemp("compare")
    old = {k: os.environ.get(k) for k in ("GAN_DATA", "GAN_FEATURE_CACHE")}
    os.environ["GAN_DATA"] = str(base / "data")
    os.environ["GAN_FEATURE_CACHE"] = str(base / "features")
    try:
        import_dataset(draw_own_set(base / "drawn"), OWN_SET)
        for name, changes in RUNS.items():
            assert train(RunDir.create(name, tiny_cfg(data=OWN_SET, **changes), root=base / "ck")) == "finished"
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return base / "ck"


@pytest.fixture
def in_root(runs_root, monkeypatch):
    monkeypatch.setenv("GAN_CHECKPOINTS", str(runs_root))
    return runs_root


def evals_of(root: Path, name: str) -> list[dict]:
    return [r for r in RunDir.open(name, root).read_metrics() if r.get("kind") == "eval"]


# ---------------------------------------------------------------------------- config diff


def test_config_diff_lists_only_the_settings_that_differ():
    a, b, c = tiny_cfg().to_dict(), tiny_cfg(lr_d=1e-4).to_dict(), tiny_cfg(lr_d=1e-4, augment=["color"]).to_dict()
    assert compare.config_diff({"a": a, "b": b}) == {"lr_d": {"a": 4e-4, "b": 1e-4}}
    assert compare.config_diff({"a": a, "c": c}) == {"lr_d": {"a": 4e-4, "c": 1e-4}, "augment": {"a": [], "c": ["color"]}}
    assert compare.config_diff({"a": a, "a2": dict(a)}) == {}
    assert compare.config_diff({"a": a, "t": {**a, "tags": ["x"]}}, ignore=("tags",)) == {}
    partial = compare.config_diff({"a": a, "old": {k: v for k, v in a.items() if k != "minibatch_std"}})
    assert partial == {"minibatch_std": {"a": False, "old": None}}  # a field one run lacks


# ---------------------------------------------------------------------------- sweeps


def test_sweep_expands_combinations_times_seeds_with_names_and_tags():
    base = tiny_cfg(seed=5, tags=["mine"]).to_dict()
    plan = expand(base, [parse_vary("lr_d=2e-4,4e-4"), parse_vary("loss=hinge,nonsaturating")], seeds=2, sweep="sw")
    names = [n for n, _ in plan]
    assert names == [f"sw-lr_d={lr}-loss={loss}-s{s}" for lr in ("2e-4", "4e-4")
                     for loss in ("hinge", "nonsaturating") for s in (5, 6)]
    for name, cfg in plan:
        assert cfg.tags == ["mine", "sw"]
        assert (cfg.lr_d, cfg.loss, cfg.seed) == (float(name.split("lr_d=")[1].split("-loss")[0]),
                                                  name.split("loss=")[1].rsplit("-s", 1)[0], int(name.rsplit("-s", 1)[1]))
        assert cfg.width == 8 and cfg.data == "shapes"  # the rest is the base config
    one = expand(base, [parse_vary("augment=color,cutout")], sweep="au")
    assert [(n, c.augment) for n, c in one] == [("au-augment=color-s5", ["color"]), ("au-augment=cutout-s5", ["cutout"])]
    # one value of a list field joins its items with + (the comma separates values); none is empty
    both = expand(base, [parse_vary("augment=color+translation,ada,none")], sweep="au")
    assert [(n, c.augment) for n, c in both] == [("au-augment=color.translation-s5", ["color", "translation"]),
                                                 ("au-augment=ada-s5", ["ada"]), ("au-augment=none-s5", [])]


def test_sweep_refuses_bad_fields_values_and_names_with_the_configs_message():
    base = tiny_cfg().to_dict()
    with pytest.raises(ConfigError, match="lrd: unknown field"):
        expand(base, [("lrd", ["1e-4"])], sweep="sw")
    with pytest.raises(ConfigError, match="loss: must be one of"):
        expand(base, [("loss", ["hinge", "bogus"])], sweep="sw")
    with pytest.raises(ConfigError, match="width: must be a whole number from 4"):
        expand(base, [("width", ["8", "2"])], sweep="sw")
    with pytest.raises(SweepError, match="at most 2"):
        expand(base, [("lr_d", ["1"]), ("lr_g", ["1"]), ("loss", ["hinge"])], sweep="sw")
    with pytest.raises(SweepError, match="over 64 characters"):
        expand(base, [("loss", ["nonsaturating"])], sweep="a-very-long-sweep-name-that-goes-on-and-on-and-on")
    with pytest.raises(SweepError, match="--seeds"):
        expand(base, [("seed", ["1", "2"])], seeds=2, sweep="sw")
    with pytest.raises(SweepError):
        parse_vary("lr_d")


def test_sweep_command_queues_runs_through_the_job_queue(monkeypatch, studio_dirs, tiny):
    ck, _ = studio_dirs
    monkeypatch.setenv("GAN_MAX_JOBS", "1")
    flags = tiny(steps=4, log_every=2, sample_every=4, checkpoint_every=4, device="cpu")
    assert main(["sweep", *flags, "--vary", "lr_d=2e-4,bogus", "--name", "bad"]) == 2
    assert not ck.exists() or not any(ck.iterdir())  # refused before anything was queued
    assert main(["sweep", *flags, "--vary", "lr_d=2e-4,4e-4", "--name", "sw"]) == 0
    names = ["sw-lr_d=2e-4-s0", "sw-lr_d=4e-4-s0"]
    runs = [RunDir.open(n, ck) for n in names]
    # one slot: the first started at once, the second waits its turn in the same queue
    assert [r.read_status()["state"] for r in runs] == ["running", "queued"]
    assert all(r.config().tags == ["sw"] for r in runs)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and any(jobs.run_state(r) != "finished" for r in runs):
        time.sleep(0.3)
    assert [jobs.run_state(r) for r in runs] == ["finished", "finished"], jobs.log_tail(names[1], root=ck)
    assert runs[1].read_status()["launched"] >= runs[0].read_status()["ended"] - 1  # one after the other
    assert main(["sweep", *flags, "--vary", "lr_d=2e-4,4e-4", "--name", "sw"]) == 2  # names taken: nothing queued
    assert sorted(d.name for d in compare.runs_matching(tag=["sw"])) == names


# ---------------------------------------------------------------------------- comparison


def test_comparison_reads_quality_cost_feature_spaces_and_seed_groups(in_root):
    runs = compare.load_runs(RUNS, in_root)
    rows = {r["run"]: r for r in map(compare.run_row, runs)}
    for name in RUNS:
        evals = evals_of(in_root, name)
        assert rows[name]["best_fid"] == min(e["fid"] for e in evals)
        assert rows[name]["final_fid"] == evals[-1]["fid"] and rows[name]["final_coverage"] == evals[-1]["coverage"]
        assert rows[name]["feature_space"] == evals[-1]["feature_space"]
        status = RunDir.open(name, in_root).read_status()
        assert rows[name]["images_seen"] == status["images_seen"] == 20 * 16
        assert rows[name]["images_per_s"] == pytest.approx(status["images_seen"] / status["elapsed_s"])
    assert rows["big-32px"]["feature_space"] != rows["hinge-s0"]["feature_space"]
    # 80 images hold out 8, under MIN_HELD_OUT: scored against all of them, and named so
    assert rows["big-32px"]["feature_space"] == f"classifier/{OWN_SET}/32px-3ch/v1 vs all images"

    plot = compare.plot_metric(runs, "fid", "images")
    assert set(plot.lines) == {"hinge-s0", "hinge-s1", "lsgan-s0"} and plot.feature_space == rows["hinge-s0"]["feature_space"]
    assert rows["big-32px"]["feature_space"] in plot.left_out["big-32px"]
    xs, ys = plot.lines["hinge-s0"]
    assert xs == [160, 320] and ys == [e["fid"] for e in evals_of(in_root, "hinge-s0")]  # images at steps 10, 20
    loss = compare.plot_metric(runs, "loss_d", "elapsed_s")
    assert set(loss.lines) == set(RUNS) and not loss.left_out  # training curves have no feature space

    groups = compare.seed_groups(runs)
    assert [g.runs for g in groups] == [["hinge-s0", "hinge-s1"]]
    mean, spread, n = groups[0].stats["final_fid"]
    fids = [rows["hinge-s0"]["final_fid"], rows["hinge-s1"]["final_fid"]]
    assert (mean, spread, n) == (pytest.approx(statistics.fmean(fids)), pytest.approx(statistics.stdev(fids)), 2)
    assert compare.config_diff({r.name: r.config for r in runs}, ignore=("tags",)).keys() == {"seed", "loss", "resolution"}
    assert compare.grid_at(runs[0], 15)[0] == 10 and compare.grid_steps(runs) == [0, 10, 20]
    assert {found[0] for found in compare.grids_at(runs, 0.0, "elapsed_s").values()} == {0}
    assert {found[0] for found in compare.grids_at(runs, 1e9, "elapsed_s").values()} == {20}
    timed = compare.grid_seconds(runs[0])
    assert [step for _, step, _ in timed] == [0, 10, 20] and timed[0][0] == 0 < timed[1][0] < timed[2][0]


# ---------------------------------------------------------------------------- the report


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for key, value in attrs:
            if key in ("src", "href", "srcset", "action", "poster", "data", "xlink:href", "background") and value:
                self.urls.append(value)


def test_report_is_one_self_contained_file_with_the_runs_metrics(in_root, tmp_path):
    out = tmp_path / "report.html"
    assert main(["report", "hinge-s0", "big-32px", "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert out.stat().st_size < 3_000_000
    parser = _Links()
    parser.feed(html)
    assert parser.urls and all(u.startswith("data:") for u in parser.urls), [u[:40] for u in parser.urls if not u.startswith("data:")]
    assert "script" not in parser.tags and "link" not in parser.tags and "iframe" not in parser.tags
    assert "http:" not in html and "https:" not in html and "url(" not in html and "@import" not in html
    for name in ("hinge-s0", "big-32px"):
        final = evals_of(in_root, name)[-1]
        assert f"{final['fid']:.4g}" in html and final["feature_space"] in html
    assert "synthetic" in html and f"the user's own images ('{OWN_SET}'" in html and "Intended use" in html and "<svg" in html
    gifs = [u for u in parser.urls if u.startswith("data:image/gif")]
    pngs = [u for u in parser.urls if u.startswith("data:image/png")]
    assert len(gifs) == 2 and len(pngs) >= 2 * 17  # per run: its grid and a 16-seed sheet
    sheet = Image.open(io.BytesIO(base64.b64decode(pngs[1].split(",", 1)[1])))
    assert sheet.text["synthetic"] == "true" and sheet.text["run"] == "hinge-s0" and sheet.text["seed"] == "0"
    with pytest.raises(RunError):
        build_report(["no-such-run"], in_root)
    assert main(["report", "no-such-run", "--out", str(tmp_path / "x.html")]) == 2


def test_app_report_names_runs_deleted_since_they_were_picked(in_root, tmp_path):
    # The app's download buttons build the report at click time, where an exception reaches no
    # one: with a picked run deleted meanwhile, "Download report" used to do nothing at all.
    html = build_report(["hinge-s0", "doomed"], in_root, skip_missing=True)
    final = evals_of(in_root, "hinge-s0")[-1]
    assert f"{final['fid']:.4g}" in html and "Not in this report: doomed (the run folder was deleted" in html
    assert "Not in this report: doomed" in build_report(["doomed"], in_root, skip_missing=True)
    for page in ("pages/8_Compare.py", "pages/4_Monitor.py"):
        assert "skip_missing=True" in (ROOT / page).read_text(), page


def test_compare_command_prints_the_diff_and_seed_group(in_root, capsys):
    assert main(["compare", "hinge-s0", "hinge-s1", "lsgan-s0", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["diff"]) == {"seed", "loss"} and result["seed_groups"][0]["runs"] == ["hinge-s0", "hinge-s1"]


# ---------------------------------------------------------------------------- the page


def test_compare_page_shows_the_runs_the_chart_and_the_same_seed_from_each(in_root):
    at = AppTest.from_file(str(ROOT / "pages" / "8_Compare.py"), default_timeout=90).run()
    assert not at.exception, [e.value for e in at.exception]
    assert set(at.dataframe[0].value["Run"]) == set(RUNS)
    at.multiselect(key="cmp_runs").set_value(["hinge-s0", "lsgan-s0", "big-32px"]).run()
    diff = at.dataframe[1].value
    assert set(diff["Setting"]) == {"loss", "resolution"}
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {t["name"] for t in spec["data"]} == {"hinge-s0", "lsgan-s0"}
    assert any("big-32px" in c.value and "feature space" in c.value for c in at.caption)
    captions = [c for img in at.get("image") for c in img.captions]
    assert "hinge-s0 · step 20" in captions and "big-32px · step 20" in captions
    assert "seed 0 · lsgan-s0 · step 20" in captions
    at.radio(key="cmp_match").set_value("elapsed_s").run()
    assert not at.exception and at.select_slider(key="cmp_at_elapsed_s").value > 0
    assert "hinge-s0 · step 20" in [c for img in at.get("image") for c in img.captions]
    at.number_input(key="cmp_seed").set_value(7).run()
    assert "seed 7 · hinge-s0 · step 20" in [c for img in at.get("image") for c in img.captions]
    at.multiselect(key="cmp_runs").set_value(["hinge-s0", "hinge-s1"]).run()
    assert [sorted(r.split(", ")) for r in at.dataframe[2].value["Runs"]] == [["hinge-s0", "hinge-s1"]]


def test_train_pages_sweep_section_plans_from_the_generated_form(studio_dirs):
    """The Sweep section under Train's form: its base is the form's config, the plan is named,
    and a bad value is refused with the config's own message before anything is queued."""
    ck, _ = studio_dirs
    at = AppTest.from_file(str(ROOT / "pages" / "3_Train.py"), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    at.multiselect(key="sweep_fields").set_value(["lr_d"]).run()
    at.text_input(key="sweep_values_lr_d").set_value("2e-4, 4e-4").run()
    at.text_input(key="sweep_name").set_value("sw").run()
    plan = [m.value for m in at.markdown if m.value.startswith("**4 runs:**")]
    assert plan and "`sw-lr_d=2e-4-s0`" in plan[0] and "`sw-lr_d=4e-4-s1`" in plan[0]
    at.text_input(key="sweep_values_lr_d").set_value("2e-4, -1").run()
    assert any("lr_d:" in e.value for e in at.error) and not ck.exists()


def test_model_card_of_an_emoji_run_names_the_built_in_set():
    # It called emoji "the user's own images (imported into GAN Studio)", their licence the owner's to state.
    from gan_core.experiments.report import _model_card

    run = compare.RunData("e", Path("e"), "finished", {"data": "emoji", "model": "stylegan2"}, {}, [], [], [])
    card = _model_card(run, compare.run_row(run))
    assert "Noto Color Emoji" in card and "user's own images" not in card


def test_model_card_of_an_augmentation_labs_gan_names_its_draw_and_source(tmp_path):
    """A lab GAN's data is a subset manifest; its card called that "the user's own images"."""
    from gan_core.data import load_dataset
    from gan_core.data.subsets import make_subset, write_manifest
    from gan_core.experiments.report import _model_card

    train = load_dataset("shapes", 16, 3, "train")
    path = write_manifest(make_subset("shapes", train.labels.numpy(), train.classes, 3, seed=0), tmp_path / "k3.subset.json")
    run = compare.RunData("g", Path("g"), "finished", {"data": str(path), "model": "dcgan"}, {}, [], [], [])
    card = _model_card(run, compare.run_row(run))
    assert "augmentation lab's draw of 15 training images (3 per class) from shapes" in card
    assert "procedural shapes" in card and "user's own images" not in card
    path.unlink()
    assert "manifest is gone" in _model_card(run, compare.run_row(run))
