"""Does watching slow training? The trainer's images/s with Monitor open vs closed.

One real background job trains the default Fashion-MNIST preset. A real ``streamlit run
app.py`` serves the studio throughout. Phases alternate: Monitor closed (no browser), then
Monitor open in headless Chromium (refreshing live), several times. The trainer's own
metrics records give its images/s; each phase's median is taken and the open/closed
ratio printed. Alternating phases in one run means drift and outside load hit both.

    python bench/monitor_overhead.py [--phase-s 40] [--pairs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gan_core import jobs  # noqa: E402
from gan_core.config import TrainConfig, preset_for  # noqa: E402
from gan_core.rundir import RunDir  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_streamlit(env: dict, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(120):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("streamlit did not start")


def phase_rate(run: RunDir, start: float, end: float) -> float | None:
    """Images/s of the trainer between two wall-clock times, from its metrics records."""
    records = [r for r in run.read_metrics() if "images" in r and start <= r["time"] <= end]
    if len(records) < 2:
        return None
    return (records[-1]["images"] - records[0]["images"]) / (records[-1]["time"] - records[0]["time"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase-s", type=float, default=40.0)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "monitor_overhead.json")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    os.environ.update(GAN_CHECKPOINTS=str(tmp / "ck"), GAN_DATA=str(tmp / "data"), GAN_MAX_JOBS="1")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cfg = TrainConfig.from_dict(dict(preset_for("fashion-mnist"), minutes=60, log_every=25, eval_every=0))
    run = jobs.launch(cfg, "watched")
    port = free_port()
    server = start_streamlit(env, port)
    closed, opened = [], []
    try:
        while not run.read_metrics():
            time.sleep(1)
        time.sleep(10)  # past start-up
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"])
            for _ in range(args.pairs):
                start = time.time()
                time.sleep(args.phase_s)
                closed.append(phase_rate(run, start, time.time()))
                page = browser.new_page(viewport={"width": 1440, "height": 1100})
                page.goto(f"http://127.0.0.1:{port}/Monitor")
                page.wait_for_selector("text=Losses", timeout=60_000)
                start = time.time()
                time.sleep(args.phase_s)
                opened.append(phase_rate(run, start, time.time()))
                page.close()
            browser.close()
    finally:
        jobs.stop("watched", timeout=30, wait=True)
        server.kill()
    closed_med = statistics.median(r for r in closed if r)
    opened_med = statistics.median(r for r in opened if r)
    result = {"phase_s": args.phase_s, "pairs": args.pairs, "closed_images_per_s": [round(r, 1) for r in closed if r],
              "open_images_per_s": [round(r, 1) for r in opened if r], "closed_median": round(closed_med, 1),
              "open_median": round(opened_med, 1), "ratio_open_to_closed": round(opened_med / closed_med, 3)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    print(f"monitor open/closed {result['ratio_open_to_closed']}")


if __name__ == "__main__":
    main()
