"""Remake the README's Compare screenshot and example report from a real Fashion-MNIST sweep.

Queues the default recipe with ``lr_d`` in {2e-4, 4e-4} x 2 seeds (``gan_core.experiments.sweep``, two jobs
at a time, one thread each), waits for the four runs, writes ``docs/example-report.html`` and
photographs Compare in headless Chromium. ``--checkpoints DIR`` reuses runs of such a sweep.

    python scripts/compare_example.py [--minutes 4] [--checkpoints DIR]
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

from gan_core.config import preset_for  # noqa: E402
from gan_core.experiments.compare import runs_matching  # noqa: E402
from gan_core.experiments.report import write_report  # noqa: E402
from gan_core.experiments.sweep import expand, queue  # noqa: E402
from gan_core.jobs import manager as jobs  # noqa: E402

SWEEP = "fmnist"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="training budget of each run")
    parser.add_argument("--checkpoints", type=Path, help="a folder that already holds the sweep's runs")
    parser.add_argument("--report", type=Path, default=ROOT / "docs" / "example-report.html")
    parser.add_argument("--shot", type=Path, default=ROOT / "docs" / "screenshots" / "compare.png")
    args = parser.parse_args()

    root = args.checkpoints or Path(tempfile.mkdtemp(prefix="compare-example-")) / "ck"
    os.environ.update(GAN_CHECKPOINTS=str(root), GAN_MAX_JOBS="2", OMP_NUM_THREADS="1")
    os.environ.setdefault("GAN_DATA", str(root.parent / "data"))
    if not args.checkpoints:
        base = dict(preset_for("fashion-mnist"), minutes=args.minutes, threads=1, eval_every=300,
                    eval_samples=500, sample_every=250)
        queue(expand(base, [("lr_d", ["2e-4", "4e-4"])], seeds=2, sweep=SWEEP), root)
    while any(d.state in ("queued", "running", "stopping") for d in runs_matching(tag=[SWEEP])):
        jobs.schedule(root)  # the queue also moves on its own (every trainer runs a pass as it ends)
        time.sleep(5)
    names = sorted(d.name for d in runs_matching(tag=[SWEEP]))
    path = write_report(names, args.report, root, title="Fashion-MNIST: lr_d 2e-4 vs 4e-4, two seeds each")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")

    port = free_port()
    server = start_streamlit(dict(os.environ, PYTHONPATH=str(ROOT)), port)
    try:
        photograph(f"http://127.0.0.1:{port}/Compare", args.shot,
                   ["text=Quality against cost", ".js-plotly-plot .scatterlayer .trace"], settle_s=3)
        print(f"wrote {args.shot}")
    finally:
        server.kill()


if __name__ == "__main__":
    main()
