"""The runs table, Monitor's header facts, checkpoint choices and log tails (no Streamlit here)."""
from __future__ import annotations

import base64
import functools
import io
import os
from pathlib import Path
from typing import Any

from PIL import Image

from gan_core.jobs.manager import log_tail
from gan_core.runs.rundir import RunDir, RunError
from ui.estimate import eta_seconds
from ui.status import age_text, eta_text, progress_of, run_state, state_badge


def thumbnail_data_url(path: Path | None, width: int = 160, max_rows: int | None = None,
                       tile: int | None = None) -> str | None:
    """A small PNG data: URL of a sample grid (optionally only its first rows)."""
    if path is None:
        return None
    try:
        mtime = Path(path).stat().st_mtime_ns
    except OSError:
        return None
    return _thumbnail(str(path), mtime, width, max_rows, tile)


@functools.lru_cache(maxsize=256)
def _thumbnail(path: str, mtime_ns: int, width: int, max_rows: int | None, tile: int | None) -> str | None:
    """Encoded once per grid file version: Home redraws its table every few seconds."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if max_rows and tile:
                im = im.crop((0, 0, im.width, min(im.height, 2 + max_rows * (tile + 2))))
            ratio = width / im.width
            im = im.resize((width, max(1, round(im.height * ratio))), Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            im.save(buf, format="PNG", optimize=True)
    except (OSError, ValueError):
        return None
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def run_summary(run: RunDir) -> dict[str, Any]:
    """One row of the runs table (also the facts Monitor's header shows)."""
    status = run.read_status()
    state = run_state(run)
    try:
        cfg = run.config()
    except RunError:
        cfg = None
    grids = run.sample_grids()
    latest = grids[-1] if grids else None
    row = {
        "name": run.name,
        "state": state,
        "badge": state_badge(state),
        "progress": progress_of({**status, "state": state}, cfg.steps if cfg else None, cfg.minutes if cfg else 0.0),
        "step": int(status.get("step") or 0),
        "total_steps": status.get("total_steps") or (cfg.steps if cfg and not cfg.minutes else None),
        "data": cfg.data if cfg else "?",
        "model": (cfg.model + (" · conditional" if cfg.conditional else "")) if cfg else "?",
        "loss": cfg.loss if cfg else "?",
        "resolution": cfg.resolution if cfg else None,
        "images_per_s": status.get("images_per_s"),
        "elapsed_s": status.get("elapsed_s"),
        # from the run's measured speed, counted down between status writes (ui.estimate)
        "eta": eta_text(_first_known(eta_seconds(status, cfg), status.get("eta_s"))) if state == "running" else "",
        "created": status.get("created"),
        "error": status.get("error"),
        "latest_sample": latest[1] if latest else None,
        "latest_sample_step": latest[0] if latest else None,
        "checkpoints": len(run.checkpoints()),
    }
    return row


def _first_known(*values):
    return next((v for v in values if v is not None), None)


def runs_table_rows(runs: list[RunDir], thumbnails: bool = True) -> list[dict[str, Any]]:
    rows = []
    for run in runs:
        try:
            s = run_summary(run)
        except Exception as exc:  # noqa: BLE001 - one unreadable folder must not hide the rest
            rows.append({"Run": run.name, "State": state_badge("unknown"), "Progress": 0.0, "Step": "",
                         "Data set": "?", "Model": "?", "Latest sample": None, "Started": "",
                         "Note": f"unreadable: {exc}"})
            continue
        step_text = f"{s['step']:,}" + (f"/{s['total_steps']:,}" if s["total_steps"] else "")
        note = s["eta"] if s["eta"] else (s["error"] or "")
        rows.append({
            "Run": s["name"],
            "State": s["badge"],
            "Progress": s["progress"],
            "Step": step_text,
            "Data set": s["data"],
            "Model": f"{s['model'].replace('conditional', 'cond.')} · {s['loss']}",
            "Latest sample": thumbnail_data_url(s["latest_sample"], width=160, max_rows=2, tile=s["resolution"])
            if thumbnails and s["latest_sample"] is not None and s["resolution"] else None,
            "Started": age_text(s["created"]),
            "Note": (note[:120] + "…") if len(note) > 120 else note,
        })
    return rows


def checkpoint_choices(run: RunDir) -> list[tuple[str, str]]:
    """(label, value for ``load_generator``'s ``checkpoint``): latest first, best if marked,
    then the older steps; every checkpoint once (the latest was listed twice, issue #16)."""
    found = run.checkpoints()
    if not found:
        return []
    out = [(f"latest (step {found[-1].step:,})", str(found[-1].step))]
    best = run.best_checkpoint()
    if best is not None and best.step != found[-1].step:
        out.append((f"best (step {best.step:,})", "best"))
    elif best is not None:
        out[0] = (f"latest and best (step {best.step:,})", str(best.step))
    shown = {found[-1].step, best.step if best is not None else None}
    for c in reversed(found):
        if c.step not in shown:
            out.append((f"step {c.step:,}", str(c.step)))
    return out


def log_tail_text(run: RunDir, lines: int = 200) -> str:
    """The last lines of a run's log (read directly if the jobs layer cannot open the run)."""
    try:
        return log_tail(run.name, lines=lines)
    except Exception:  # noqa: BLE001 - fall back to reading the file ourselves
        pass
    try:
        with open(run.log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
