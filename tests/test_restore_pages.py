"""The Inpaint and Super-resolve pages under Streamlit's AppTest: every method end to end on
a shapes image, with tiny runs (see test_restore.py), and the edge cases the pages show."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from test_restore import runs, runs_root  # noqa: F401  (the tiny trained runs)

PAGES = Path(__file__).resolve().parents[1] / "pages"


def open_page(name: str, prefix: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / name), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    at.selectbox(key=f"{prefix}_dataset").set_value("shapes").run()
    return at


def captions(at: AppTest) -> list[str]:
    return [c for image in at.get("image") for c in image.captions]


def run_method(at: AppTest, prefix: str, method: str, run: str | None = None, **numbers) -> AppTest:
    at.radio(key=f"{prefix}_method").set_value(method).run()
    if run:
        at.selectbox(key=f"{prefix}_run").set_value(run).run()
    for key, value in numbers.items():
        at.number_input(key=f"{prefix}_{key}").set_value(value).run()
    at.button(key=f"{prefix}_run_button").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


@pytest.mark.parametrize("method,run", [("biharmonic", None), ("model", "ip"), ("prior", "prior-cond")])
def test_inpaint_page_runs_each_method(runs, method, run):
    at = open_page("5_Inpaint.py", "ip")
    extra = {"steps": 3, "restarts": 2} if method == "prior" else {}
    run_method(at, "ip", method, run, **extra)
    shown = captions(at)
    assert any(c.startswith("Input") for c in shown) and any("Original" in c for c in shown)
    scored = [c for c in shown if "PSNR" in c and "SSIM" in c]
    assert len(scored) == (1 if method == "biharmonic" else 2)  # the result, and the baseline beside it
    assert any(c.startswith("Biharmonic (baseline)") for c in scored)
    assert at.get("download_button")
    assert at.session_state["ip_result"]["result"] is not None
    # a rerun with nothing changed shows the stored result instead of recomputing
    stored = at.session_state["ip_result"]["result"]
    at.run()
    assert at.session_state["ip_result"]["result"] is stored and captions(at) == shown


def test_inpaint_page_full_and_empty_masks(runs):
    at = open_page("5_Inpaint.py", "ip")
    at.selectbox(key="ip_preset").set_value("all").run()
    run_method(at, "ip", "model", "ip")
    assert any("covers the whole image" in i.value for i in at.info)  # the baseline explains itself
    assert at.session_state["ip_result"]["result"].image.size == (32, 32)
    at.selectbox(key="ip_preset").set_value("none").run()
    run_method(at, "ip", "prior", "prior", steps=2, restarts=2)
    assert at.session_state["ip_result"]["result"].info["note"].startswith("the mask covers nothing")
    # demo mode's verdict: both unchanged is a tie, not "Better than the baseline: inf dB against inf dB"
    assert not any("Better than the baseline" in s.value for s in at.success)
    assert any(i.value.startswith("Same as the baseline here: identical to the original") for i in at.info)


def test_inpaint_page_draw_mode_and_no_runs(studio_dirs):
    at = open_page("5_Inpaint.py", "ip")
    at.radio(key="ip_mask_mode").set_value("Draw").run()
    assert not at.exception, [e.message for e in at.exception]
    at.radio(key="ip_method").set_value("model").run()
    assert any(w.value.startswith("No inpaint-gan run with a checkpoint yet") for w in at.warning)
    assert not any("No an " in w.value for w in at.warning)


@pytest.mark.parametrize("method,run", [("bicubic", None), ("lanczos", None), ("model", "sr"), ("prior", "prior")])
def test_superres_page_runs_each_method(runs, method, run):
    at = open_page("6_Super_resolve.py", "sr")
    at.radio(key="sr_scale").set_value(2).run()
    extra = {"steps": 3, "restarts": 2} if method == "prior" else {}
    run_method(at, "sr", method, run, **extra)
    shown = captions(at)
    assert any(c.startswith("Input 16x16") for c in shown) and any(c.startswith("Original 32x32") for c in shown)
    assert any("PSNR" in c and "SSIM" in c for c in shown)
    assert at.session_state["sr_result"]["result"].image.size == (32, 32)
    assert at.get("download_button")


def test_restore_pages_default_to_a_dedicated_model_and_say_when_the_result_loses(runs):
    """A dedicated run is the default; a young run is flagged before running; after a run in
    demo mode the page says plainly whether the result beat the baseline's PSNR."""
    from gan_core import restore as R

    for page, prefix, baseline in (("5_Inpaint.py", "ip", "biharmonic"), ("6_Super_resolve.py", "sr", "bicubic")):
        at = open_page(page, prefix)
        assert at.radio(key=f"{prefix}_method").value == "model"
        assert any("has trained 20 steps: that is young" in w.value for w in at.warning)
        run_method(at, prefix, "prior", "prior", steps=3, restarts=2)
        state = at.session_state[f"{prefix}_result"]
        original = R.dataset_image("shapes", 0)
        ours, theirs = R.psnr(original, state["result"].image), R.psnr(original, state["baseline"].image)
        said = [w.value for w in at.warning if "baseline here" in w.value] + \
               [s.value for s in at.success if "Better than the baseline" in s.value]
        assert len(said) == 1 and said[0].startswith("**Worse" if ours < theirs else "Better")
        assert f"{ours:.1f} dB against {baseline}'s {theirs:.1f} dB" in said[0]
