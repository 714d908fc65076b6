"""A trainer's state as flat tensors for a checkpoint (``G.``, ``D.``, ``opt_G.`` ... keys), and back."""
from __future__ import annotations

from typing import Any

import torch


def prefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {prefix + k: v for k, v in tensors.items()}


def unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def optimizer_tensors(prefix: str, opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    out = {}
    for index, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            out[f"{prefix}{index}.{key}"] = value if isinstance(value, torch.Tensor) else torch.tensor(value)
    return out


def param_groups(opt: torch.optim.Optimizer) -> list[dict[str, Any]]:
    return [{k: v for k, v in g.items() if k != "params" and isinstance(v, (int, float, bool, list, tuple, type(None)))} | {"params": g["params"]}
            for g in opt.state_dict()["param_groups"]]


_ADAM_IMPLEMENTATION = {"params", "fused", "foreach", "capturable", "differentiable"}


def load_optimizer(opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor], groups) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in unprefixed(prefix, tensors).items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    current = opt.state_dict()
    if groups:  # the saved hyperparameters (a rollback halves lr), not how this device runs Adam
        current["param_groups"] = [dict(cur, **{k: v for k, v in g.items() if k not in _ADAM_IMPLEMENTATION})
                                   for cur, g in zip(current["param_groups"], groups)]
    current["state"] = state
    opt.load_state_dict(current)
    # Saved moments come back contiguous; a channels_last weight's moments must share its
    # strides, or CUDA's fused Adam refuses the step ("... must have same ... layout").
    for group in opt.param_groups:
        for param in group["params"]:
            moments = opt.state.get(param, {})
            for key, value in moments.items():
                if isinstance(value, torch.Tensor) and value.shape == param.shape and value.stride() != param.stride():
                    moments[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)
