"""Where a run computes: the device, whether bf16 pays there, and its rank under torchrun."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: cuda was asked for but torch sees no CUDA GPU here (try --device auto)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device: mps was asked for but is not available here (try --device auto)")
    if name == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if name.startswith("cuda:") and not torch.cuda.is_available():
        raise ValueError(f"device: {name} was asked for but torch sees no CUDA GPU here (try --device auto)")
    try:
        return torch.device(name)
    except RuntimeError:  # "gpu" and other typos: torch's own message is a traceback away
        raise ValueError(f"device: {name!r} is not a device; use auto, cpu, cuda, cuda:N or mps") from None


def bf16_supported(device: torch.device) -> bool:
    """bf16 autocast pays on CUDA and on CPUs with native bf16 (AVX512-BF16/AMX via oneDNN)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


@dataclass
class Dist:
    """This process's rank and the world size (``torchrun`` sets RANK / WORLD_SIZE)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "Dist":
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)))
