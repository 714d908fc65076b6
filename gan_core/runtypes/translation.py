"""The translation run types (``pix2pix``, ``cyclegan``) behind the loop's task seam.

A batch is the pair of domains: ``Batch.x`` holds B (what D calls real) and
``Batch.extra["a"]`` holds A (pix2pix: the input made from each B by the paired transform;
CycleGAN: independent draws from domain A). The maths is ``runtypes.translation_losses``;
the adapters here (``Pix2PixObjective``, ``CycleObjective``) call it from the loop's
``d_loss`` / ``g_loss`` and report every term by name (L1, cycle, identity beside the
adversarial ones), so Monitor charts them like any statistic.

CycleGAN's ``fake`` runs all six generator passes at once (A->B, B->A, both cycles, both
identities) and returns them stacked along the batch: the loop detaches that one tensor for
D and keeps its graph for G, as it does for a plain GAN. Its fake-history buffers are the
task's state tensors (``task.history_a.images`` ...), so a resumed run draws the same
history as an uninterrupted one.

Neither is CUDA-graph safe: the history decides on the host, and pix2pix is kept eager until
tested on a GPU.
"""
from __future__ import annotations

import torch
from torch import nn

from gan_core.data.images import load_dataset
from gan_core.data.importer import DatasetError, data_root
from gan_core.data.paired import (
    domains,
    input_channels,
    load_paired_folder,
    make_paired,
)
from gan_core.models.translation import build_cyclegan, build_pix2pix
from gan_core.runtypes.base import Batch, Task
from gan_core.runtypes.translation_losses import CycleGANLoss, Pix2PixLoss
from gan_core.torch_utils.vision import torchvision

GRID_COLUMNS = 8  # fixed images in the progress grid (the first of the held-out split)


class TwoSetSource:
    """Domains A and B held as tensors on the device. Paired: one index draws both;
    unpaired: one draw from each. One seeded generator (its state is the checkpoint's
    ``rng.data``), so batches after a resume are the ones an unbroken run draws."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor, paired: bool, device: torch.device, seed: int):
        if not len(a) or not len(b):
            raise DatasetError(f"a translation domain is empty ({len(a)} A images, {len(b)} B images)")
        self.a, self.b, self.paired = a.to(device), b.to(device), paired
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.b)

    def draw(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        ib = torch.randint(len(self.b), (n,), generator=self.generator)
        ia = ib if self.paired else torch.randint(len(self.a), (n,), generator=self.generator)
        return self.a[ia.to(self.a.device)], self.b[ib.to(self.b.device)]


def _reporter(report):
    def put(logs: dict[str, torch.Tensor]) -> None:
        for name, value in logs.items():
            report(name, value)
    return put


class Pix2PixObjective:
    """cGAN (BCE on PatchGAN logits, D halved) + ``lambda_l1`` L1, as the loop's loss."""

    d_reg_every = 0
    g_reg_every = 0

    def __init__(self, cfg):
        self.maths = Pix2PixLoss(cfg.lambda_l1)

    def d_loss(self, batch: Batch, fake, D, step, report) -> torch.Tensor:
        a = batch.extra["a"]
        loss, logs = self.maths.d_phase(D, a, batch.x, {"fake_b": fake})
        _reporter(report)(logs)
        return loss

    def g_loss(self, batch: Batch, fake, D, step, report) -> torch.Tensor:
        loss, logs = self.maths.g_phase(D, batch.extra["a"], batch.x, {"fake_b": fake})
        _reporter(report)(logs)
        return loss


class CycleObjective:
    """LSGAN both ways + cycle + identity, D fed from the history buffers."""

    d_reg_every = 0
    g_reg_every = 0

    def __init__(self, cfg):
        self.maths = CycleGANLoss(cfg.lambda_cycle, cfg.lambda_identity, seed=cfg.seed)

    def unstack(self, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        names = ["fake_b", "fake_a", "rec_a", "rec_b"] + (["idt_b", "idt_a"] if self.maths.lambda_identity > 0 else [])
        return dict(zip(names, fake.chunk(len(names))))

    def d_loss(self, batch: Batch, fake, D, step, report) -> torch.Tensor:
        a, b = batch.extra["a"], batch.x
        loss, logs = self.maths.d_phase(D, a, b, self.unstack(fake))
        _reporter(report)(logs)
        return loss

    def g_loss(self, batch: Batch, fake, D, step, report) -> torch.Tensor:
        loss, logs = self.maths.g_phase(D, batch.extra["a"], batch.x, self.unstack(fake))
        _reporter(report)(logs)
        return loss


class TranslationTask(Task):
    graph_safe = False

    def real_batch(self, n: int) -> Batch:
        a, b = self.source.draw(n)
        return Batch(b, extra={"a": a})

    def fixed_inputs(self, seed: int) -> dict[str, torch.Tensor]:
        a, b = self.held_out()
        return {"a": a[:GRID_COLUMNS].cpu().clone(), "b": b[:GRID_COLUMNS].cpu().clone()}

    def snapshot(self, G: nn.Module, fixed: dict[str, torch.Tensor]) -> torch.Tensor:
        return progress_grid(G, self.cfg.model, fixed["a"], fixed["b"])


class PairedTask(TranslationTask):
    """pix2pix: U-Net G from input A to target B, PatchGAN D on (A, B) pairs."""

    def __init__(self, cfg, device: torch.device, rank: int = 0):
        self.cfg, self.device = cfg, device
        pairs = self.pairs("train")
        self.classes: list[str] = []
        self.source = TwoSetSource(pairs.a, pairs.b, True, device, cfg.seed * 1000 + rank)
        self.G, self.D = pix2pix_networks(cfg)
        self.loss = Pix2PixObjective(cfg)

    def pairs(self, split: str, limit: int | None = None):
        cfg = self.cfg
        if cfg.paired_transform == "folder":
            return load_paired_folder(cfg.data, cfg.resolution, cfg.channels, split=split)
        images = load_dataset(cfg.data, cfg.resolution, cfg.channels, split=split, seed=cfg.seed, limit=limit).images
        return make_paired(images, cfg.paired_transform, cache_dir=data_root() / ".paired-cache")

    def held_out(self) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            pairs = self.pairs("test", GRID_COLUMNS)
        except (DatasetError, ValueError):  # a set without a test split: the first training pairs
            return self.source.a[:GRID_COLUMNS], self.source.b[:GRID_COLUMNS]
        return pairs.a[:GRID_COLUMNS], pairs.b[:GRID_COLUMNS]

    def fake(self, batch: Batch, G: nn.Module | None = None) -> torch.Tensor:
        return (self.G if G is None else G)(batch.extra["a"])


class CycleTask(TranslationTask):
    """CycleGAN: two ResNet generators and two PatchGANs between domains A and B."""

    def __init__(self, cfg, device: torch.device, rank: int = 0):
        self.cfg, self.device = cfg, device
        a, b = self.domains("train")
        self.classes = []
        self.source = TwoSetSource(a, b, False, device, cfg.seed * 1000 + rank)
        self.G, self.D = cyclegan_networks(cfg)
        self.loss = CycleObjective(cfg)

    def domains(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        return domains(cfg.data, cfg.domain_a, cfg.domain_b, cfg.resolution, cfg.channels, split=split, seed=cfg.seed)

    def held_out(self) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            return self.domains("test")
        except (DatasetError, ValueError):
            return self.source.a, self.source.b

    def fake(self, batch: Batch, G: nn.Module | None = None) -> torch.Tensor:
        G = self.G if G is None else G
        a, b = batch.extra["a"], batch.x
        fake_b, fake_a = G(a), G(b, reverse=True)
        parts = [fake_b, fake_a, G(fake_b, reverse=True), G(fake_a)]
        if self.loss.maths.lambda_identity > 0:
            parts += [G(b), G(a, reverse=True)]
        return torch.cat(parts)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return self.loss.maths.state_dict()

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.loss.maths.load_state_dict(tensors, self.device)


# ---- networks from a config (the registry's builders) ---------------------------------------------
def pix2pix_networks(cfg, num_classes: int = 0):
    transform = cfg.paired_transform
    in_channels = cfg.channels if transform == "folder" else input_channels(transform, cfg.channels)
    return build_pix2pix(in_channels, cfg.channels, cfg.resolution, cfg.width, cfg.width)


def cyclegan_networks(cfg, num_classes: int = 0):
    return build_cyclegan(cfg.channels, cfg.resolution, cfg.width, 2 * cfg.width)


@torch.no_grad()
def progress_grid(G: nn.Module, model: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The fixed grid a run shows while it trains, as a [3, H, W] image in [0, 1], one column
    per fixed image. pix2pix rows: input | output | target. CycleGAN rows: A | A -> B |
    back to A, then B | B -> A | back to B. ``G`` is put in eval mode for the grid."""
    was_training = G.training
    G.eval()
    device = next(G.parameters()).device
    a, b = a.to(device), b.to(device)
    if model == "pix2pix":
        rows = [a, G(a), b]
    else:
        ab, ba = G(a), G(b, reverse=True)
        rows = [a, ab, G(ab, reverse=True), b, ba, G(ba)]
    G.train(was_training)
    rgb = [r.float().cpu().expand(-1, 3, -1, -1) if r.shape[1] == 1 else r.float().cpu() for r in rows]
    return torchvision.utils.make_grid(torch.cat(rgb), nrow=len(a), normalize=True, value_range=(-1, 1),
                                       pad_value=1.0)
