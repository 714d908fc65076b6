"""The states a run can be in (the strings in ``status.json``) and what each allows.

The jobs layer, the CLI and Monitor's buttons all ask a ``RunState`` instead of keeping
their own lists::

    created -> queued -> running -> stopping -> stopped      (resume: queued again)
                                 -> finished | failed | diverged
                         crashed   (derived: the trainer vanished without a word)
               cancelled (taken off the queue)      imported (a checkpoint from elsewhere)
"""
from __future__ import annotations

from enum import Enum


class RunState(str, Enum):
    CREATED = "created"
    QUEUED = "queued"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FINISHED = "finished"
    FAILED = "failed"
    CRASHED = "crashed"
    DIVERGED = "diverged"
    CANCELLED = "cancelled"
    IMPORTED = "imported"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def of(cls, value: "str | RunState | None") -> "RunState | None":
        """The state for a status.json string; None for anything else (a damaged file)."""
        try:
            return cls(value)
        except ValueError:
            return None

    @staticmethod
    def is_live(value: "str | RunState | None") -> bool:
        state = RunState.of(value)
        return state is not None and state.live

    @property
    def live(self) -> bool:
        """A trainer process should exist (its absence means it crashed)."""
        return self in (RunState.RUNNING, RunState.STOPPING)

    @property
    def pending(self) -> bool:
        """Not over yet: waiting to start, or training."""
        return self in (RunState.CREATED, RunState.QUEUED, RunState.RUNNING, RunState.STOPPING)

    @property
    def final(self) -> bool:
        """How a training process ended (the trainer's last word, or derived)."""
        return self in (RunState.STOPPED, RunState.FINISHED, RunState.FAILED, RunState.CRASHED, RunState.DIVERGED,
                        RunState.CANCELLED)

    # ---- the actions ------------------------------------------------------------------
    @property
    def can_stop(self) -> bool:
        return self is RunState.RUNNING

    @property
    def can_resume(self) -> bool:
        """Continue from the newest checkpoint (a finished run has nothing left; an imported
        one is fine-tuned with --init-from instead)."""
        return self in (RunState.STOPPED, RunState.CRASHED, RunState.FAILED, RunState.DIVERGED, RunState.CANCELLED)

    @property
    def can_cancel(self) -> bool:
        return self is RunState.QUEUED

    @property
    def can_delete(self) -> bool:
        """No process may be writing the folder and no scheduler about to start one."""
        return not self.live and self is not RunState.QUEUED

    def allows(self, action: str) -> bool:
        """``action``: one of ACTIONS."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; actions: {', '.join(ACTIONS)}")
        return bool(getattr(self, f"can_{action}"))

    @staticmethod
    def permits(value: "str | RunState | None", action: str) -> bool:
        """``allows`` for a status.json string; an unknown string allows nothing."""
        state = RunState.of(value)
        return state is not None and state.allows(action)


ACTIONS = ("stop", "resume", "cancel", "delete")
FINAL_STATES = tuple(s.value for s in RunState if s.final)
LIVE_STATES = tuple(s.value for s in RunState if s.live)
