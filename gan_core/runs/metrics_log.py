"""Reading a run's append-only ``metrics.jsonl`` while it grows."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable


class MetricsReader:
    """Incremental reader of an append-only metrics.jsonl.

    Only the bytes appended since the last call are read (opened read-only, no lock), so
    a dashboard refreshing every second costs the trainer nothing. A file that shrank
    (metrics truncated on resume or rollback) is read again from the start.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.offset = 0
        self.records: list[dict[str, Any]] = []
        self._identity: tuple[int, int] | None = None

    def read(self) -> list[dict[str, Any]]:
        try:
            st = os.stat(self.path)
        except OSError:
            self.offset, self.records, self._identity = 0, [], None
            return self.records
        identity = (st.st_ino, st.st_dev)
        if identity != self._identity or st.st_size < self.offset:
            self.offset, self.records, self._identity = 0, [], identity
        if st.st_size == self.offset:
            return self.records
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read(st.st_size - self.offset)
        except OSError:
            return self.records
        end = data.rfind(b"\n")
        if end < 0:  # no complete line yet
            return self.records
        for raw in data[: end + 1].split(b"\n")[:-1]:
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict):
                self.records.append(record)
        self.offset += end + 1
        return self.records


def split_records(records: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(training records, eval records): eval records carry ``"kind": "eval"``."""
    train, evals = [], []
    for r in records:
        (evals if r.get("kind") == "eval" else train).append(r)
    return train, evals
