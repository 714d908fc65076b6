"""What this machine can do, for the Train form: options that would do nothing here are
greyed with the reason, and a device it does not have is an error (no Streamlit here)."""
from __future__ import annotations

import functools

import torch

from gan_core.torch_utils.devices import bf16_supported, pick_device


@functools.lru_cache(maxsize=1)
def has_cuda() -> bool:
    return torch.cuda.is_available()


@functools.lru_cache(maxsize=1)
def has_mps() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def device_problem(device: str) -> str | None:
    if device == "cuda" and not has_cuda():
        return "This machine has no CUDA GPU (torch sees none): choose auto or cpu."
    if device == "mps" and not has_mps():
        return "This machine has no Apple GPU (MPS): choose auto or cpu."
    return None


def idle_options(device: str) -> dict[str, str]:
    """Field -> why it does nothing here, for a run on ``device``."""
    if device_problem(device):
        return {}
    where = pick_device(device)
    out = {}
    if where.type != "cuda":
        out["cuda_graph"] = f"Does nothing here: CUDA graphs need a CUDA GPU and this run trains on {where.type}."
    if not bf16_supported(where):
        out["bf16"] = (f"Does nothing here: this {where.type.upper() if where.type != 'cpu' else 'CPU'} has no native "
                       "bf16, so the run computes in float32.")
    if device == "auto":
        out["device"] = f"auto picks {where.type} on this machine."
    return out
