"""Step statistics kept on the device: reported by name, summed without a host sync, and
averaged when read (the one sync per log interval)."""
from __future__ import annotations

from typing import Callable

import torch


class StepStats:
    """``stats("loss_d", tensor)`` notes a value for this step (a later report of the same
    name in the step replaces it: with k D updates the last one counts); ``accumulate()`` adds
    the step's values into running sums, in place (so a CUDA graph can replay it);
    ``read()`` averages over the counted steps and starts over."""

    def __init__(self):
        self._step: dict[str, torch.Tensor] = {}
        self._sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def __call__(self, name: str, value: torch.Tensor) -> None:
        self._step[name] = value.detach().float()

    def accumulate(self) -> None:
        for name, value in self._step.items():
            if name in self._sums:
                self._sums[name].add_(value)
            else:
                self._sums[name] = value.clone()
        self._step = {}

    def reset(self) -> None:
        for value in self._sums.values():
            value.zero_()
        self._step, self.count = {}, 0

    def read(self, reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, float]:
        """Means since the last read (``reduce``: e.g. an all-reduce mean over ranks)."""
        if not self.count:
            return {}
        names = list(self._sums)
        means = torch.stack([self._sums[n] for n in names]) / self.count
        if reduce is not None:
            means = reduce(means)
        self.reset()
        return dict(zip(names, means.tolist()))


def no_report(name: str, value: torch.Tensor) -> None:
    """A reporter that keeps nothing (for calls outside training)."""
