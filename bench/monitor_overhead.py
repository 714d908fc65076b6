"""Does watching slow training? The trainer's images/s with Monitor open vs closed.

One real background job trains the default Fashion-MNIST preset. A real ``streamlit run
app.py`` serves the studio throughout. Phases alternate: Monitor closed (no browser), then
Monitor open in headless Chromium (refreshing live), several times. The trainer's own
metrics records give its images/s; the open/closed ratio of the phase medians is printed,
and, less sensitive to the trainer's own drift, the median of each open phase against the
closed phases either side of it, with the CPU share the server and the browser used.
Alternating phases in one run means drift and outside load hit both.

    python bench/monitor_overhead.py [--phase-s 20] [--pairs 10]

Many short phases rather than a few long ones: the bracketed ratios are paired, so drift
slower than a phase cancels, and with ten of them the bench can also print a bootstrap 90%
interval for their median, which says whether the run can tell 5% from noise at all.

The trainer's images/s drift by more than 5% between phases on a shared 2-core VM, so the bench
also reads the kernel's scheduler counters for the trainer's threads (/proc/PID/task/*/schedstat):
the time they spent runnable but waiting for a CPU. What the page and the browser take from the
trainer through the CPU shows up there directly, whatever the host does to the trainer's speed.
With the trainer's threads working in lock-step, the extra wait per second of wall time bounds
the share of time the page costs it (cache and memory-bandwidth interference are not counted).
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

from gan_core.jobs import manager as jobs  # noqa: E402
from gan_core.config import TrainConfig, preset_for  # noqa: E402
from gan_core.runs.rundir import RunDir  # noqa: E402


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


def cpu_seconds(match) -> float:
    """CPU seconds (user + system) used so far by every live process whose command line matches."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if match(cmdline):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
    return total


def is_server(cmdline: str) -> bool:
    return "streamlit run app.py" in cmdline


def is_browser(cmdline: str) -> bool:
    return "chromium" in cmdline and "playwright" not in cmdline.split(" ", 1)[0]


def sched_seconds(pid: int) -> tuple[float, float]:
    """(on a CPU, runnable but waiting for one) seconds, summed over the process's threads."""
    running = waiting = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            run_ns, wait_ns, _ = stat.read_text().split()
        except (OSError, ValueError):
            continue  # the thread ended while we looked
        running, waiting = running + int(run_ns), waiting + int(wait_ns)
    return running / 1e9, waiting / 1e9


class Phase:
    """One closed or open phase: the trainer's images/s, and its threads' CPU and wait shares."""

    def __init__(self, run: RunDir, pid: int):
        self.run, self.pid = run, pid
        self.start = time.time()
        self.sched0 = sched_seconds(pid)

    def end(self) -> dict:
        now = time.time()
        running, waiting = (b - a for a, b in zip(self.sched0, sched_seconds(self.pid)))
        return {"images_per_s": phase_rate(self.run, self.start, now),
                "trainer_cpu": running / (now - self.start), "trainer_wait": waiting / (now - self.start)}


def against_neighbours(opened: list[dict], closed: list[dict], key: str) -> list[tuple[float, float]]:
    """(open phase's value, mean of the closed phases either side) for each open phase whose
    three values exist: paired so that drift slower than a phase cancels."""
    return [(o[key], (a[key] + b[key]) / 2) for o, a, b in zip(opened, closed, closed[1:])
            if None not in (o[key], a[key], b[key])]


def phase_rate(run: RunDir, start: float, end: float) -> float | None:
    """Images/s of the trainer between two wall-clock times, from its metrics records."""
    records = [r for r in run.read_metrics() if "images" in r and start <= r["time"] <= end]
    if len(records) < 2:
        return None
    return (records[-1]["images"] - records[0]["images"]) / (records[-1]["time"] - records[0]["time"])


def bootstrap_median_interval(values: list[float], level: float = 0.9, draws: int = 5000) -> tuple[float, float]:
    """Percentile bootstrap interval of the median (fixed seed: the same data gives the same interval)."""
    import random

    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(draws))
    tail = (1 - level) / 2
    return medians[int(tail * draws)], medians[int((1 - tail) * draws) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase-s", type=float, default=20.0)
    parser.add_argument("--pairs", type=int, default=10)
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
    closed_sched, opened_sched = [], []
    server_cpu, browser_cpu = [], []  # CPU share (of one core) while the Monitor is open
    try:
        while not run.read_metrics():
            time.sleep(1)
        time.sleep(10)  # past start-up
        pid = int(run.read_status()["pid"])
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"])
            for _ in range(args.pairs):
                phase = Phase(run, pid)
                time.sleep(args.phase_s)
                closed_sched.append(phase.end())
                page = browser.new_page(viewport={"width": 1440, "height": 1100})
                page.goto(f"http://127.0.0.1:{port}/Monitor")
                page.wait_for_selector("text=Losses", timeout=60_000)
                phase = Phase(run, pid)
                cpu0 = cpu_seconds(is_server), cpu_seconds(is_browser)
                time.sleep(args.phase_s)
                opened_sched.append(phase.end())
                spent = time.time() - phase.start
                server_cpu.append((cpu_seconds(is_server) - cpu0[0]) / spent)
                browser_cpu.append((cpu_seconds(is_browser) - cpu0[1]) / spent)
                page.close()
            phase = Phase(run, pid)  # a last closed phase, so every open one sits between two closed ones
            time.sleep(args.phase_s)
            closed_sched.append(phase.end())
            browser.close()
    finally:
        jobs.stop("watched", timeout=30, wait=True)
        server.kill()
    closed = [p["images_per_s"] for p in closed_sched]
    opened = [p["images_per_s"] for p in opened_sched]
    # Extra wait for a CPU, and CPU time lost, in each open phase against the closed either side.
    added_wait = [o - m for o, m in against_neighbours(opened_sched, closed_sched, "trainer_wait")]
    lost_cpu = [m - o for o, m in against_neighbours(opened_sched, closed_sched, "trainer_cpu")]
    closed_med = statistics.median(r for r in closed if r)
    opened_med = statistics.median(r for r in opened if r)
    # The trainer's own speed drifts (other tenants, clocks) by more than the effect measured:
    # each open phase is also compared with the mean of the closed phases either side of it.
    bracketed = [o / m for o, m in against_neighbours(opened_sched, closed_sched, "images_per_s")]
    cores = os.cpu_count() or 1
    result = {"phase_s": args.phase_s, "pairs": args.pairs, "closed_images_per_s": [round(r, 1) for r in closed if r],
              "open_images_per_s": [round(r, 1) for r in opened if r], "closed_median": round(closed_med, 1),
              "open_median": round(opened_med, 1), "ratio_open_to_closed": round(opened_med / closed_med, 3),
              "server_cpu_share_open": [round(c, 3) for c in server_cpu],
              "browser_cpu_share_open": [round(c, 3) for c in browser_cpu],
              "bracketed_ratios": [round(r, 3) for r in bracketed],
              "bracketed_ratio_median": round(statistics.median(bracketed), 3) if bracketed else None,
              "bracketed_ratio_median_90pct": [round(v, 3) for v in bootstrap_median_interval(bracketed)] if len(bracketed) > 2 else None,
              "page_and_browser_share_of_machine": round((statistics.mean(server_cpu) + statistics.mean(browser_cpu)) / cores, 4),
              "trainer_wait_closed": [round(p["trainer_wait"], 4) for p in closed_sched],
              "trainer_wait_open": [round(p["trainer_wait"], 4) for p in opened_sched],
              "trainer_cpu_closed": [round(p["trainer_cpu"], 4) for p in closed_sched],
              "trainer_cpu_open": [round(p["trainer_cpu"], 4) for p in opened_sched],
              "added_wait_median": round(statistics.median(added_wait), 4),
              "added_wait_median_90pct": [round(v, 4) for v in bootstrap_median_interval(added_wait)],
              "lost_cpu_median": round(statistics.median(lost_cpu), 4),
              "lost_cpu_median_90pct": [round(v, 4) for v in bootstrap_median_interval(lost_cpu)]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    print(f"monitor open/closed {result['ratio_open_to_closed']} (medians), {result['bracketed_ratio_median']} "
          f"(each open phase against the closed phases either side; 90% interval "
          f"{result['bracketed_ratio_median_90pct']}); page + browser used "
          f"{result['page_and_browser_share_of_machine']:.1%} of the machine's CPU")
    print(f"trainer threads waited {result['added_wait_median']:.2%} of wall time more for a CPU with Monitor open "
          f"(90% interval {result['added_wait_median_90pct'][0]:.2%} to {result['added_wait_median_90pct'][1]:.2%}); "
          f"they ran {result['lost_cpu_median']:.3f} CPU-seconds per second less (of "
          f"{statistics.median(p['trainer_cpu'] for p in closed_sched):.3f} with it closed)")


if __name__ == "__main__":
    main()
