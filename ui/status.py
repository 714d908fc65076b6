"""Run states and times in words: badges, ETA, durations, ages, progress (no Streamlit here)."""
from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any

from gan_core.jobs.manager import run_state as jobs_state
from gan_core.runs.readout import duration_text  # noqa: F401 - the pages' times in words in one place
from gan_core.runs.rundir import RunDir
from gan_core.runs.states import RunState

STATE_BADGES: dict[RunState, tuple[str, str]] = {
    # state: (symbol, colour). Plain symbols that every system font has (no emoji), and the
    # word beside them, so colour is never the only signal.
    RunState.CREATED: ("○", "gray"),
    RunState.QUEUED: ("○", "gray"),
    RunState.RUNNING: ("●", "green"),
    RunState.STOPPING: ("◐", "orange"),
    RunState.STOPPED: ("■", "blue"),
    RunState.FINISHED: ("✓", "green"),
    RunState.FAILED: ("✕", "red"),
    RunState.CRASHED: ("✕", "red"),
    RunState.DIVERGED: ("▲", "red"),
    RunState.CANCELLED: ("–", "gray"),
    RunState.IMPORTED: ("↓", "blue"),
}


def state_badge(state: str) -> str:
    """"● running": a symbol and the word."""
    emoji, _ = STATE_BADGES.get(RunState.of(state), ("?", "gray"))
    return f"{emoji} {state}"


def state_colour(state: str) -> str:
    return STATE_BADGES.get(RunState.of(state), ("", "gray"))[1]


def run_state(run: RunDir) -> str:
    """The derived state (``gan_core.jobs``), else status.json's for a half-written run."""
    try:
        return str(jobs_state(run))
    except Exception:  # noqa: BLE001 - a half-written run must not break a table
        return str(run.read_status().get("state", "unknown"))


# Monitor's buttons: what each does, and (control_help) what its tooltip says in every state,
# a greyed button saying why in this state; which states allow it is RunState's call.
_DOES = {"stop": "Finish the current step, write a checkpoint, then stop. Resume later.",
         "resume": "Continue from the newest checkpoint in the background.",
         "cancel": "Take this queued run off the queue before it starts."}


def control_help(action: str, state: str) -> str:
    """The tooltip of Monitor's ``action`` button for a run in ``state``."""
    if RunState.permits(state, action):
        return _DOES[action]
    if action == "stop":
        return {"queued": "Not started yet: Cancel takes it off the queue.",
                "created": "Not queued yet: nothing is running.",
                "stopping": "Already stopping: it writes a checkpoint and ends after this step."}.get(
            state, f"Nothing to stop: the run is {state}.")
    if action == "resume":
        if state == "finished":
            return "Nothing to resume: the run finished its budget. Start a new run (Train: 'start from') to go on."
        if state == "imported":
            return "An imported checkpoint has no training to resume: fine-tune it from Train ('start from')."
        return f"The run is {state}: Resume is for a stopped, crashed, failed or cancelled run."
    if state in ("running", "stopping"):
        return f"The run is {state}: Cancel only takes a queued run off the queue. Use Stop (it keeps a checkpoint)."
    return (f"Nothing to cancel: the run is {state}, not queued. Its checkpoints stay; "
            + ("Resume continues it." if RunState.permits(state, "resume") else "Generate uses them."))


def is_active(state: str) -> bool:
    """Not over yet (waiting to start, or training): the page keeps refreshing."""
    known = RunState.of(state)
    return known is not None and known.pending


def final_state(state: str) -> bool:
    known = RunState.of(state)
    return known is not None and known.final


def eta_text(seconds: float | None) -> str:
    """Human remaining time: "about 3 min left", "under a minute left", "" when unknown."""
    if seconds is None or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
        return ""
    if seconds < 1:
        return "almost done"
    if seconds < 60:
        return "under a minute left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"about {hours} h {minutes:02d} min left"


def age_text(timestamp: float | None, now: float | None = None) -> str:
    if not timestamp:
        return ""
    delta = max(0.0, (now or time.time()) - float(timestamp))
    if delta < 60:
        return "just now"
    if delta < 3600:
        return f"{int(delta // 60)} min ago"
    if delta < 86400:
        return f"{int(delta // 3600)} h ago"
    return time.strftime("%Y-%m-%d", time.localtime(timestamp))


def default_run_name(data: str, model: str, when: float | None = None) -> str:
    """The CLI's default: ``<data>-<model>-<YYYYmmdd-HHMMSS>`` (made a valid name)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(str(data)).stem).strip("-.") or "run"
    return f"{stem[:30]}-{model}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(when))}"


def progress_of(status: dict[str, Any], cfg_steps: int | None = None, cfg_minutes: float = 0.0) -> float:
    """0..1: steps done of the step target, or time spent of a minutes budget."""
    if status.get("state") == "finished":
        return 1.0
    if cfg_minutes and cfg_minutes > 0:
        elapsed = float(status.get("elapsed_s") or 0.0)
        return max(0.0, min(1.0, elapsed / (cfg_minutes * 60)))
    total = status.get("total_steps") or cfg_steps
    step = status.get("step") or 0
    if not total:
        return 0.0
    return max(0.0, min(1.0, float(step) / float(total)))
