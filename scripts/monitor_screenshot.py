"""Retake the README's Monitor screenshot: a real default Fashion-MNIST run, watched live.

Trains the default preset in the background for a few minutes (with in-run metrics so the FID
charts have points), serves ``streamlit run app.py`` and photographs Monitor in headless
Chromium while the run is still going. Needs Fashion-MNIST and /usr/bin/chromium.

    python scripts/monitor_screenshot.py [--minutes 4] [--out docs/screenshots/monitor-fashion-mnist.png]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from monitor_overhead import free_port, start_streamlit  # noqa: E402
from screenshot import photograph  # noqa: E402

from gan_core.jobs import manager as jobs  # noqa: E402
from gan_core.config import TrainConfig, preset_for  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="how long the run trains")
    parser.add_argument("--shoot-after", type=float, default=3.0, help="minutes into the run to take the picture")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots" / "monitor-fashion-mnist.png")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="monitor-shot-"))
    os.environ.update(GAN_CHECKPOINTS=str(tmp / "ck"), GAN_DATA=str(tmp / "data"))
    env = dict(os.environ, PYTHONPATH=str(ROOT), GAN_STUDIO_CHART_S="5")
    cfg = TrainConfig.from_dict(dict(preset_for("fashion-mnist"), minutes=args.minutes, eval_every=1000,
                                     sample_every=250))
    name = "fashion-mnist"
    jobs.launch(cfg, name)
    port = free_port()
    server = start_streamlit(env, port)
    try:
        time.sleep(args.shoot_after * 60)
        photograph(f"http://127.0.0.1:{port}/Monitor", args.out, ["text=Losses"],
                   settle_s=12)  # a chart refresh or two, so every chart has drawn
        print(f"wrote {args.out}")
    finally:
        jobs.stop(name, timeout=30, wait=True)
        server.kill()


if __name__ == "__main__":
    main()
