"""End to end in a real browser: Playwright drives Debian's headless chromium against
``streamlit run app.py``: launch a tiny training from Train, watch Monitor's charts gain
points while it runs, render a grid on Generate, and screenshot every page.

Screenshots go to ``test-artifacts/screenshots/`` (git-ignored) and, when
``GAN_STUDIO_SAVE_SCREENSHOTS`` is set, also to ``docs/screenshots/``.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port, stop_process

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
DOCS = ROOT / "docs" / "screenshots"
pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright Python package")


@contextlib.contextmanager
def running_studio(tmp_path, env_extra: dict[str, str] | None = None, args: tuple[str, ...] = (),
                   port: int | None = None, host: str = "127.0.0.1"):
    """A running `streamlit run app.py` on a free port, with its own runs and data folders."""
    port = port or free_port()
    env = dict(os.environ)
    env.update(GAN_CHECKPOINTS=str(tmp_path / "checkpoints"), GAN_DATA=str(tmp_path / "data"),
               GAN_STUDIO_REFRESH_S="1", GAN_STUDIO_CHART_S="2", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.update(env_extra or {})
    log = open(tmp_path / "streamlit.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", *args],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://{host}:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit did not start: " + (tmp_path / "streamlit.log").read_text()[-2000:])
    try:
        yield url, tmp_path
    finally:
        os.environ["GAN_CHECKPOINTS"] = env["GAN_CHECKPOINTS"]
        try:
            from gan_core.jobs import manager as jobs
            from gan_core.runs.rundir import list_runs

            for run in list_runs(tmp_path / "checkpoints"):
                if jobs.status(run.name, root=tmp_path / "checkpoints")["state"] in ("running", "queued", "stopping"):
                    jobs.stop(run.name, timeout=20, wait=True, root=tmp_path / "checkpoints")
        finally:
            stop_process(proc)
            log.close()


@pytest.fixture
def studio(tmp_path):
    with running_studio(tmp_path) as served:
        yield served


def settle(page, quiet_s: float = 0.6, timeout_s: float = 30) -> None:
    """Wait until Streamlit has finished rerunning (its status widget gone for a moment)."""
    deadline = time.time() + timeout_s
    quiet_since = None
    while time.time() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        if running:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since >= quiet_s:
            return
        time.sleep(0.1)


def widget(page, testid: str, label: str):
    return page.locator(f'[data-testid="{testid}"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=re.compile(rf"^{re.escape(label)}$")))


def pick(page, label: str, option: str) -> None:
    box = widget(page, "stSelectbox", label)
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def fill(page, label: str, value) -> None:
    field = widget(page, "stNumberInput", label).locator("input")
    field.fill(str(value))
    field.press("Enter")
    settle(page)


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.mouse.move(5, 5)  # no hover toolbars in the picture
    page.screenshot(path=str(path), full_page=False)
    if os.environ.get("GAN_STUDIO_SAVE_SCREENSHOTS"):
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS / f"{name}.png")


def wait_charts_drawn(page, n: int = 5, timeout_s: float = 20) -> None:
    """Until every Plotly chart has drawn its lines (a refresh may be redrawing one)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        drawn = page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot'))
            .filter(p => p.querySelector('.scatterlayer .trace')).length""")
        if drawn >= n:
            time.sleep(0.3)
            return
        time.sleep(0.2)


def logged_points(page) -> int:
    text = page.locator("text=/\\d+ logged points/").first.inner_text(timeout=30_000)
    return int(re.search(r"(\d+) logged points", text).group(1))


@contextlib.contextmanager
def browser_page(viewport: tuple[int, int] = (1440, 1000), **page_options):
    """A fresh headless Chromium page (closed afterwards)."""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]}, **page_options)
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


def tiny_run(root: Path, name: str, **changes) -> None:
    """A real background job on shapes, small enough to start and stop in seconds."""
    from gan_core.config import TrainConfig, preset_for
    from gan_core.jobs import manager as jobs

    values = dict(preset_for("shapes"), resolution=16, width=8, z_dim=16, batch_size=16, steps=1, minutes=5.0,
                  log_every=5, sample_every=50, checkpoint_every=100_000, threads=1)
    values.update(changes)
    jobs.launch(TrainConfig.from_dict(values), name, root=root)


def test_train_monitor_generate_in_a_real_browser(studio):
    url, tmp = studio
    with browser_page() as page:

        # A fresh server visited straight at a page (a bookmark): the studio's navigation,
        # not Streamlit's pages/-folder listing (which would also list helper modules)
        page.goto(url + "/Monitor")
        page.get_by_text("No runs to monitor yet").wait_for()
        nav = page.locator('[data-testid="stSidebarNav"]')
        nav.get_by_text("Super-resolve").wait_for()
        assert "restore common" not in nav.inner_text().lower()

        page.goto(url)
        page.get_by_text("No runs yet").wait_for()
        settle(page)
        shoot(page, "home-empty")

        page.goto(url + "/Data")
        page.get_by_text("Images per class").first.wait_for()
        settle(page)
        shoot(page, "data")

        page.goto(url + "/Train")
        page.get_by_role("button", name="Launch training").wait_for()
        settle(page)
        pick(page, "Data set", "shapes")
        page.get_by_text("Advanced settings").click()  # closed by default: its fields are hidden until opened
        page.get_by_role("spinbutton", name="Network width").wait_for()
        pick(page, "Image size (px)", "16")
        for label, value in (("Network width", 8), ("Latent size", 16), ("Batch size", 16), ("Training steps", 4000),
                             ("Log every (steps)", 5), ("Sample grid every (steps)", 25),
                             ("Checkpoint every (steps)", 50), ("CPU threads", 1)):
            fill(page, label, value)
        name_box = page.get_by_role("textbox", name="Run name")
        name_box.fill("e2e-shapes")
        name_box.press("Enter")
        settle(page)
        page.get_by_text("Ready:").wait_for()
        page.mouse.wheel(0, -5000)
        page.evaluate("document.querySelector('[data-testid=\"stMain\"]')?.scrollTo(0, 0)")
        time.sleep(0.5)
        shoot(page, "train")
        page.get_by_role("button", name="Launch training").click()

        # Monitor: the charts gain points while the run trains
        page.wait_for_url(re.compile(r".*/Monitor"), timeout=30_000)
        page.locator("text=/[1-9]\\d* logged points/").first.wait_for(timeout=90_000)
        first = logged_points(page)
        deadline = time.time() + 60
        later = first
        while time.time() < deadline and later <= first:
            time.sleep(1)
            later = logged_points(page)
        assert later > first, f"the charts stayed at {first} points"
        # a chart redraw (every 2 s here) can be mid-way on a loaded machine: wait, don't sample once
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 5", timeout=20_000)
        page.get_by_text("Are my curves normal?").wait_for()
        wait_charts_drawn(page)
        shoot(page, "monitor")

        # Generate: a grid of samples once the run has a checkpoint
        deadline = time.time() + 90
        while time.time() < deadline and not list((tmp / "checkpoints" / "e2e-shapes" / "weights").glob("*.json")):
            time.sleep(0.5)
        page.goto(url + "/Generate")
        page.get_by_text("seed 0 ·").first.wait_for(timeout=60_000)
        settle(page)
        assert page.locator('[data-testid="stImage"] img, [data-testid="stFullScreenFrame"] img').count() >= 16
        shoot(page, "generate")

        page.goto(url)
        page.locator('[data-testid="stDataFrame"]').first.wait_for()
        settle(page)
        time.sleep(1)
        shoot(page, "home")


def test_compare_two_finished_runs_and_open_their_report(studio):
    """Compare lists two finished runs in its table and chart; its report downloads and opens
    offline in the browser, fetching nothing but itself."""
    from gan_core.config import TrainConfig, preset_for
    from gan_core.runs.rundir import RunDir
    from gan_core.training.loop import train

    url, tmp = studio
    for name, lr_d in (("cmp-a", 4e-4), ("cmp-b", 1e-4)):
        cfg = TrainConfig.from_dict(dict(preset_for("shapes"), resolution=16, width=8, z_dim=16, batch_size=16, steps=20,
                                         log_every=5, sample_every=10, checkpoint_every=10, eval_every=10,
                                         eval_samples=64, threads=1, lr_d=lr_d))
        assert train(RunDir.create(name, cfg, root=tmp / "checkpoints")) == "finished"
    with browser_page(accept_downloads=True) as page:
        # Streamlit saves the table's CSV through a save-file dialog where the browser has one;
        # without it, through an ordinary download that Playwright can catch
        page.add_init_script("delete window.showSaveFilePicker")
        page.goto(url + "/Compare")
        page.get_by_text("Quality against cost").wait_for()
        settle(page)
        table = page.locator('[data-testid="stDataFrame"]').first
        table.wait_for()
        table.hover()  # the grid draws on a canvas: read its rows through its own "Download as CSV"
        with page.expect_download() as csv_file:
            table.get_by_role("button", name="Download as CSV").click()
        rows = Path(csv_file.value.path()).read_text(encoding="utf-8-sig")
        assert "cmp-a" in rows and "cmp-b" in rows and "classifier/shapes/16px-3ch/v1" in rows, rows[:500]
        wait_charts_drawn(page, n=1)
        chart = page.locator(".js-plotly-plot").first
        assert chart.locator(".scatterlayer .trace").count() == 2
        legend = chart.locator(".legend").text_content()
        assert "cmp-a" in legend and "cmp-b" in legend
        assert "FID" in chart.text_content()
        page.get_by_text("seed 0 · cmp-a").first.wait_for()
        shoot(page, "compare")

        with page.expect_download(timeout=60_000) as download:
            page.get_by_role("button", name="Download report").click()
        report = tmp / "report.html"
        download.value.save_as(report)

        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report.as_uri())
        page.get_by_text("Quality against cost").first.wait_for()
        assert page.get_by_text("Every image in this report is synthetic").count() == 3  # the banner and each model card
        images = page.evaluate("() => Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        assert len(images) >= 2 * 18 and all(images)
        assert page.locator("svg polyline").count() >= 4
        assert [u for u in requests if not u.startswith("data:")] == [report.as_uri()]


def test_compare_same_seed_images_stay_inside_their_cells(studio):
    """Four runs: each run's image of the same seed sits in its own cell (at a fixed 256 px they
    spilled over one another, as 1440 px gives each of four cells about 235 px)."""
    from gan_core.config import TrainConfig, preset_for
    from gan_core.runs.rundir import RunDir
    from gan_core.training.loop import train

    url, tmp = studio
    names = [f"cell-{i}" for i in range(4)]
    for i, name in enumerate(names):
        cfg = TrainConfig.from_dict(dict(preset_for("shapes"), resolution=16, width=8, z_dim=16, batch_size=16, steps=2,
                                         log_every=1, sample_every=2, checkpoint_every=2, eval_every=0, threads=1, seed=i))
        assert train(RunDir.create(name, cfg, root=tmp / "checkpoints")) == "finished"
    with browser_page() as page:
        page.goto(url + "/Compare")
        page.get_by_text("seed 0 · cell-0 · step 2").wait_for()
        settle(page)
        cells = page.locator('[data-testid="stImage"]').filter(has_text=re.compile(r"^seed 0 · cell-"))
        boxes = sorted((cells.nth(i).locator("img").bounding_box() for i in range(cells.count())), key=lambda b: b["x"])
        assert len(boxes) == 4
        for left, right in zip(boxes, boxes[1:]):
            assert left["x"] + left["width"] <= right["x"] + 1, (left, right)
        shoot(page, "compare-same-seed")


def test_resume_on_monitor_shows_within_one_refresh(studio, monkeypatch):
    """Stop, then Resume: the badge and the buttons follow at once, not only after the page
    happens to rerun (they used to stay "stopped" while the run trained on)."""
    url, tmp = studio
    monkeypatch.setenv("GAN_DATA", str(tmp / "data"))
    tiny_run(tmp / "checkpoints", "e2e-resume")
    with browser_page(viewport=(1400, 900)) as page:
        page.goto(url + "/Monitor")
        badge = page.locator(".studio-badge").first
        stop = page.locator(".st-key-stop_e2e-resume button").first
        resume = page.locator(".st-key-resume_e2e-resume button").first
        page.wait_for_function("() => document.querySelector('.studio-badge')?.innerText.includes('running')")
        settle(page)
        stop.click()
        page.wait_for_function("() => document.querySelector('.studio-badge')?.innerText.includes('stopped')",
                               timeout=60_000)
        settle(page)
        assert resume.is_enabled() and stop.is_disabled()
        resume.click()
        t0 = time.time()
        page.wait_for_function("() => /running|queued/.test(document.querySelector('.studio-badge')?.innerText)",
                               timeout=10_000)
        page.wait_for_function("() => !document.querySelector('.st-key-stop_e2e-resume button').disabled",
                               timeout=10_000)
        took = time.time() - t0
        assert "running" in badge.inner_text() and resume.is_disabled()
        assert took < 1 + 5, f"the resumed state showed after {took:.1f} s (refresh every 1 s)"

        # the same from elsewhere (the CLI's path): stop, then resume behind the page's back
        from gan_core.jobs import manager as jobs

        settle(page)
        assert jobs.stop("e2e-resume", timeout=30, wait=True, root=tmp / "checkpoints") == "stopped"
        page.wait_for_function("() => document.querySelector('.studio-badge')?.innerText.includes('stopped')",
                               timeout=10_000)
        jobs.resume("e2e-resume", root=tmp / "checkpoints")
        page.wait_for_function("() => document.querySelector('.studio-badge')?.innerText.includes('running')",
                               timeout=10_000)


def test_generate_export_name_follows_the_selected_run(studio):
    """The suggested synthetic-set name is the selected run's, also after switching runs
    (one widget key for every run kept the first run's name, and the export used it)."""
    from gan_core.config import TrainConfig, preset_for
    from gan_core.inference.generators import import_checkpoint
    from gan_core.runs.rundir import RunDir
    from gan_core.training.loop import train

    url, tmp = studio
    cfg = TrainConfig.from_dict(dict(preset_for("shapes"), resolution=16, width=8, z_dim=16, batch_size=16, steps=4,
                                     log_every=2, sample_every=4, checkpoint_every=4, threads=1))
    first = RunDir.create("run-a", cfg, root=tmp / "checkpoints")
    assert train(first) == "finished"
    import_checkpoint(first.latest_checkpoint().weights, "run-b", root=tmp / "checkpoints")
    with browser_page(viewport=(1400, 900)) as page:
        page.goto(url + "/Generate")
        page.get_by_text("seed 0 ·").first.wait_for()
        settle(page)
        for run in ("run-a", "run-b", "run-a"):
            page.evaluate("document.querySelector('[data-testid=\"stMain\"]')?.scrollTo(0, 0)")
            pick(page, "Run", run)
            page.get_by_text("seed 0 ·").first.wait_for()
            page.get_by_role("tab", name=re.compile("Export a synthetic data set")).click()
            box = page.get_by_role("textbox", name="Data set name")
            assert box.input_value() == f"synthetic-{run}"


def test_home_shows_a_first_run_started_elsewhere(studio):
    """Home with no runs keeps polling: a run created from the CLI (or another tab) replaces
    the "No runs yet" notice without a click."""
    from gan_core.config import TrainConfig
    from gan_core.runs.rundir import RunDir

    url, tmp = studio
    with browser_page(viewport=(1400, 900)) as page:
        page.goto(url)
        page.get_by_text("No runs yet").wait_for()
        RunDir.create("from-the-cli", TrainConfig.from_dict(dict(data="shapes", resolution=16, steps=1)),
                      root=tmp / "checkpoints")
        page.get_by_text("No runs yet").wait_for(state="detached", timeout=30_000)


def test_text_box_is_reachable_from_quick_start(studio):
    """Home promises generating "from a few words": its second Quick start trains a
    class-conditional run, and once Stop has written a checkpoint, Generate has the text box."""
    url, tmp = studio
    with browser_page(viewport=(1400, 900)) as page:
        page.goto(url)
        page.get_by_text("No runs yet").wait_for()
        settle(page)
        page.get_by_role("button", name=re.compile("Quick start with class & text control")).click()
        page.wait_for_url(re.compile(r".*/Monitor"))
        page.get_by_text("dcgan · conditional").first.wait_for()
        page.wait_for_function("() => (document.querySelector('.studio-stats b')?.innerText || '0') !== '0'",
                               timeout=90_000)  # trained a step: Stop writes a checkpoint
        settle(page)
        page.locator("[class*='st-key-stop_'] button").first.click()
        page.wait_for_function("() => document.querySelector('.studio-badge')?.innerText.includes('stopped')",
                               timeout=90_000)
        settle(page)
        page.get_by_role("button", name=re.compile("Generate images from this run")).click()
        page.wait_for_url(re.compile(r".*/Generate"))
        box = page.get_by_role("textbox", name="Describe it")
        box.fill("sneakers")
        box.press("Enter")
        page.get_by_text("→ Sneaker").first.wait_for()


SIGN_IN_TOKEN = "e2e-team-token-0123456789"


def sign_in_with_token(page, name: str, token: str) -> None:
    page.get_by_role("textbox", name="Your name").fill(name)
    page.get_by_role("textbox", name="Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    settle(page)


def test_sign_in_with_the_access_token_in_a_real_browser(tmp_path):
    """An exposed studio (here behind a proxy on this machine) shows nothing before sign-in,
    not even its navigation; a wrong token is refused; the right one opens the page asked for."""
    env = {"GAN_STUDIO_EXPOSE": "1", "GAN_STUDIO_TOKEN": SIGN_IN_TOKEN}
    with running_studio(tmp_path, env) as (url, _), browser_page() as page:
        page.goto(url + "/Monitor")
        page.get_by_text("Sign in to GAN Studio").wait_for()
        settle(page)
        shoot(page, "sign-in")
        assert page.locator('[data-testid="stSidebarNav"]').count() == 0
        assert page.get_by_text("No runs to monitor yet").count() == 0
        sign_in_with_token(page, "alice", SIGN_IN_TOKEN[:-1] + "x")
        page.get_by_text("wrong access token").wait_for()
        assert page.get_by_text("No runs to monitor yet").count() == 0
        sign_in_with_token(page, "alice", SIGN_IN_TOKEN)
        page.get_by_text("No runs to monitor yet").wait_for()
        page.locator('[data-testid="stSidebar"]').get_by_text("alice").wait_for()
        shoot(page, "signed-in")


def test_sign_in_through_an_openid_connect_provider_in_a_real_browser(tmp_path):
    """st.login against a real local OpenID Connect provider (oidc-provider-mock): the
    studio's button leads to the provider, its form signs in, and the studio knows the e-mail."""
    for module, why in (("oidc_provider_mock", "oidc-provider-mock (requirements-dev.txt)"),
                        ("authlib", "Authlib for st.login (requirements.txt)")):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"needs {why}")
    provider_port, port = free_port(), free_port()
    provider = subprocess.Popen([sys.executable, "-m", "oidc_provider_mock", "--port", str(provider_port)],
                                stdout=open(tmp_path / "provider.log", "wb"), stderr=subprocess.STDOUT,
                                start_new_session=True)
    issuer = f"http://127.0.0.1:{provider_port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(issuer + "/.well-known/openid-configuration", timeout=2).read()
                break
            except OSError:
                if time.time() > deadline:
                    pytest.fail("the OpenID Connect provider did not start: " + (tmp_path / "provider.log").read_text())
                time.sleep(0.3)
        secrets = tmp_path / "secrets.toml"
        secrets.write_text(
            "[auth]\n"
            f'redirect_uri = "http://localhost:{port}/oauth2callback"\n'
            'cookie_secret = "e2e-cookie-secret-0123456789abcdef"\n'
            'client_id = "gan-studio"\nclient_secret = "e2e-client-secret"\n'
            f'server_metadata_url = "{issuer}/.well-known/openid-configuration"\n')
        env = {"GAN_STUDIO_EXPOSE": "1", "GAN_STUDIO_OPERATORS": "boss@example.com"}
        with running_studio(tmp_path, env, ("--secrets.files", str(secrets)), port=port, host="localhost") as (url, _), \
                browser_page() as page:
            page.goto(url)
            page.get_by_role("button", name="Sign in with your organisation's account").click()
            page.wait_for_url(re.compile(rf"^{re.escape(issuer)}/oauth2/authorize"))
            page.locator('input[name="sub"]').fill("alice@example.com")
            page.get_by_role("button", name="Authorize").click()
            page.wait_for_url(re.compile(rf"^{re.escape(url)}"))
            page.get_by_text("No runs yet").wait_for()
            page.locator('[data-testid="stSidebar"]').get_by_text("alice@example.com").wait_for()
            assert page.locator('[data-testid="stSidebar"]').get_by_text("operator").count() == 0
    finally:
        stop_process(provider)


def tiny_pix2pix_run(tmp: Path, name: str, steps: int = 2) -> None:
    """A pix2pix run trained here by the real Trainer, small enough for seconds, in the studio's folder."""
    from gan_core.config import TrainConfig, preset_for
    from gan_core.runs.rundir import RunDir
    from gan_core.training.loop import train

    os.environ["GAN_CHECKPOINTS"] = str(tmp / "checkpoints")
    cfg = TrainConfig.from_dict({**preset_for("shapes", "pix2pix"), "data": "shapes", "resolution": 16, "channels": 1,
                                 "width": 4, "batch_size": 4, "steps": steps, "checkpoint_every": steps, "threads": 1})
    assert train(RunDir.create(name, cfg)) == "finished"


def translate_canvas(page, url: str):
    """Translate opened on its drawing canvas (the layer above the background), settled."""
    page.goto(url + "/Translate")
    canvas = page.locator("canvas").last
    canvas.wait_for(timeout=60_000)
    settle(page)
    return canvas


def stroke(page, canvas) -> None:
    """One diagonal stroke with the mouse across the canvas."""
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 60, box["y"] + 60)
    page.mouse.down()
    page.mouse.move(box["x"] + 180, box["y"] + 180, steps=12)
    page.mouse.up()


def test_draw_on_the_translate_canvas_and_the_output_follows(studio):
    """A tiny pix2pix run (trained here by the real Trainer); on Translate, strokes drawn with
    the mouse change the input the model sees and its translation."""
    url, tmp = studio
    tiny_pix2pix_run(tmp, "e2e-pix2pix", steps=20)
    with browser_page() as page:
        page.goto(url + "/Translate")
        page.get_by_text("Translation", exact=True).first.wait_for(timeout=60_000)
        settle(page)

        def shown(caption: str) -> str:
            figure = page.locator('[data-testid="stImage"]').filter(has_text=caption).first
            return figure.locator("img").get_attribute("src")

        before = shown("Translation"), shown("Input (what the model sees)")
        canvas = page.locator("canvas").last  # the drawing layer, above the background
        canvas.wait_for()
        box = canvas.bounding_box()
        x0, y0 = box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.25
        page.mouse.move(x0, y0)
        page.mouse.down()
        for i in range(1, 21):  # an L: down, then right
            page.mouse.move(x0 + (0 if i <= 10 else (i - 10) * 12), y0 + min(i, 10) * 12)
        page.mouse.up()
        deadline = time.time() + 30
        after = before
        while time.time() < deadline and after == before:
            time.sleep(0.5)
            after = shown("Translation"), shown("Input (what the model sees)")
        assert after[1] != before[1], "the drawing did not reach the model's input"
        assert after[0] != before[0], "the translation did not change with the drawing"
        settle(page)
        shoot(page, "translate")

        page.get_by_role("button", name="Undo", exact=True).click()  # the canvas toolbar's undo
        deadline = time.time() + 30
        undone = after
        while time.time() < deadline and undone[1] != before[1]:
            time.sleep(0.5)
            undone = shown("Translation"), shown("Input (what the model sees)")
        assert undone == before, "undo did not bring the blank input and its translation back"


def test_the_eraser_can_be_picked_after_drawing(studio):
    """The canvas's toolbar (undo, redo, clear) rises into a band above the canvas while the pointer
    is on the canvas (or on it); it lay over the Tool radio, so going from a stroke to "Eraser"
    clicked the toolbar instead."""
    url, tmp = studio
    tiny_pix2pix_run(tmp, "e2e-eraser")
    with browser_page() as page:
        canvas = translate_canvas(page, url)
        stroke(page, canvas)
        settle(page)
        tool = widget(page, "stRadio", "Tool")  # straight from the drawing to the eraser, as a hand goes
        tool.get_by_text("Eraser", exact=True).click(timeout=5_000)
        settle(page)
        assert tool.get_by_role("radio", name="Eraser").is_checked()
        tool.get_by_text("Brush", exact=True).click(timeout=5_000)
        settle(page)
        assert tool.get_by_role("radio", name="Brush").is_checked()


def test_the_drawing_survives_a_look_at_another_input(studio):
    """Draw, look at "Data set image", come back to "Draw": the canvas was empty again (Streamlit
    drops the state of a widget a run does not draw), and the drawing was lost."""
    url, tmp = studio
    tiny_pix2pix_run(tmp, "e2e-keep")
    with browser_page() as page:
        canvas = translate_canvas(page, url)

        def model_input() -> str:
            figure = page.locator('[data-testid="stImage"]').filter(has_text="Input (what the model sees)").first
            return figure.locator("img").get_attribute("src")

        blank = model_input()
        stroke(page, canvas)
        deadline = time.time() + 30
        while time.time() < deadline and model_input() == blank:
            time.sleep(0.5)
        drawn = model_input()
        assert drawn != blank
        source = widget(page, "stRadio", "Input")
        source.get_by_text("Data set image", exact=True).click()
        settle(page)
        source.get_by_text("Draw", exact=True).click()
        page.locator("canvas").last.wait_for()
        settle(page)
        assert model_input() == drawn, "the drawing was lost"


def test_train_takes_changes_after_picking_a_stylegan2_set(studio):
    """The real runtime, not only AppTest: after Train switched to emoji (stylegan2 hides batch
    norm's fields, whose state Streamlit then drops), the second change killed the page on a
    missing 'f_g_norm'."""
    url, _ = studio
    with browser_page() as page:
        page.goto(url + "/Train")
        page.get_by_role("button", name="Launch training").wait_for()
        settle(page)
        pick(page, "Data set", "emoji")
        page.get_by_text("Advanced settings").click()  # the size sits there
        for size in ("128", "32", "64"):
            pick(page, "Image size (px)", size)
            assert page.locator('[data-testid="stException"]').count() == 0, f"the page failed after size {size}"
        page.get_by_text("Ready:").wait_for()
        assert page.get_by_text("stylegan2").first.is_visible()
        assert page.get_by_role("button", name="Launch training").is_enabled()
