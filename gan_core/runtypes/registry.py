"""Which run types exist: for each ``--model``, its task and how to build its networks."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from gan_core.models import image, restoration, video
from gan_core.runtypes.image import ImageTask
from gan_core.runtypes.restoration import InpaintTask, SRTask
from gan_core.runtypes.video import VideoTask

TASKS: dict[str, Callable] = {"mlp": ImageTask, "dcgan": ImageTask, "srgan": SRTask, "inpaint-gan": InpaintTask,
                              "dvdgan": VideoTask}
KINDS = {"mlp": "image", "dcgan": "image", "srgan": "restoration", "inpaint-gan": "restoration", "dvdgan": "video"}
_NETWORKS = {"mlp": image, "dcgan": image, "srgan": restoration, "inpaint-gan": restoration, "dvdgan": video}


def kind_of(model: str) -> str:
    """"image", "video" or "restoration"."""
    return KINDS[model]


def task_for(cfg, device: torch.device, rank: int = 0):
    if cfg.model not in TASKS:
        raise ValueError(f"unknown run type {cfg.model!r}")
    return TASKS[cfg.model](cfg, device, rank)


def build_generator(cfg, num_classes: int) -> nn.Module:
    return _NETWORKS[cfg.model].build_generator(cfg, num_classes)


def build_discriminator(cfg, num_classes: int) -> nn.Module:
    return _NETWORKS[cfg.model].build_discriminator(cfg, num_classes)
