"""Latent walks as animations: spherical interpolation between latents, frames to a looping GIF.

Shared by Generate's morph and the report's interpolation, so both walk the latent sphere alike."""
from __future__ import annotations

import io

import torch
from PIL import Image


def slerp(z0, z1, t: float):
    """Spherical interpolation between two latent batches (torch tensors), per row."""
    a = z0 / z0.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    b = z1 / z1.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    omega = torch.acos((a * b).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    if float(so.abs().min()) < 1e-6:
        return (1 - t) * z0 + t * z1
    return torch.sin((1 - t) * omega) / so * z0 + torch.sin(t * omega) / so * z1


def gif_bytes(frames: list[Image.Image], fps: float = 12, loop: bool = True, boomerang: bool = True) -> bytes:
    """An animated GIF of ``frames`` (played forward then back when ``boomerang``)."""
    if not frames:
        raise ValueError("no frames")
    seq = list(frames) + (list(frames[-2:0:-1]) if boomerang and len(frames) > 2 else [])
    seq = [f.convert("RGB") for f in seq]
    buf = io.BytesIO()
    seq[0].save(buf, format="GIF", save_all=True, append_images=seq[1:], duration=max(20, int(1000 / fps)),
                loop=0 if loop else 1, disposal=2)
    return buf.getvalue()
