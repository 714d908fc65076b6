"""Adding a run type is one module and one registry entry. A tiny run type defined here (its
networks, task and loss; a lazy regularisation phase, extra checkpoint state and a host hook)
trains with the real Trainer into a real run folder, resumes bit-exactly with its state,
samples from the CLI, and appears among the Train page's model choices."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest
from torch import nn

from conftest import train_in_two_parts
from gan_core.cli.main import main
from gan_core.config import TrainConfig, applies
from gan_core.data.images import load_dataset
from gan_core.inference.generators import generate, load_generator
from gan_core.runs.rundir import RunDir, load_checkpoint_file
from gan_core.runtypes import registry
from gan_core.runtypes.base import Batch, InMemorySource, Task
from gan_core.runtypes.losses import AdversarialLoss
from gan_core.training.loop import train

ROOT = Path(__file__).resolve().parents[1]


# ---- the new run type: what a contributor writes ------------------------------------------
class TinyG(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.shape = (cfg.channels, cfg.resolution, cfg.resolution)
        self.net = nn.Sequential(nn.Linear(cfg.z_dim, 32), nn.ReLU(), nn.Linear(32, cfg.channels * cfg.resolution**2))

    def forward(self, z, y=None):
        return torch.tanh(self.net(z)).view(len(z), *self.shape)


class TinyD(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(cfg.channels * cfg.resolution**2, 32), nn.LeakyReLU(0.2),
                                 nn.Linear(32, 1))

    def forward(self, x, y=None):
        return self.net(x).squeeze(1)


class LazyR1Loss(AdversarialLoss):
    """The shared objective plus an R1 phase every second step (as StyleGAN2 regularises)."""

    d_reg_every = 2

    def d_reg(self, batch, D, step, report):
        x = batch.x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
        penalty = grad.pow(2).flatten(1).sum(1).mean()
        report("r1", penalty)
        self.task.reg_steps.append(step)
        return self.d_reg_every * 0.5 * penalty


class TinyTask(Task):
    def __init__(self, cfg, device, rank=0):
        self.cfg, self.device = cfg, device
        data = load_dataset(cfg.data, cfg.resolution, cfg.channels, split="train", seed=cfg.seed, limit=256)
        self.source = InMemorySource(data.images, None, device, cfg.seed * 1000 + rank)
        self.G, self.D = TinyG(cfg), TinyD(cfg)
        self.loss = LazyR1Loss(cfg, self)
        self.hooks = torch.zeros((), dtype=torch.long)  # extra state: host hooks run so far
        self.reg_steps: list[int] = []

    def real_batch(self, n):
        return Batch(self.source.draw(n)[0])

    def fake(self, batch, G):
        return G(torch.randn(len(batch), self.cfg.z_dim, device=self.device))

    def judge(self, x, batch, D):
        return D(x)

    def fixed_inputs(self, seed):
        return {"z": torch.randn(8, self.cfg.z_dim, generator=torch.Generator().manual_seed(seed))}

    @torch.no_grad()
    def snapshot(self, G, fixed):
        return (G(fixed["z"]) + 1) / 2  # a batch: save_image lays it out as a grid

    def state_tensors(self):
        return {"hooks": self.hooks}

    def load_state_tensors(self, tensors):
        self.hooks.copy_(tensors["hooks"])

    def after_step(self, step):
        self.hooks += 1


TINY = registry.RunType("tiny-test", "image", "a two-layer test GAN", TinyTask,
                        lambda cfg, n: TinyG(cfg), lambda cfg, n: TinyD(cfg))


# ---- the proof ---------------------------------------------------------------------------------
@pytest.fixture
def tiny_type():
    registry.register(TINY)
    yield TINY
    registry.unregister(TINY.name)


def tiny_config(**overrides) -> TrainConfig:
    values = dict(model="tiny-test", data="shapes", resolution=8, channels=3, z_dim=8, batch_size=8, steps=6,
                  log_every=2, sample_every=3, checkpoint_every=3, threads=1, d_norm="none")
    return TrainConfig.from_dict({**values, **overrides})


def test_an_unregistered_model_is_refused_by_name():
    with pytest.raises(Exception) as info:
        tiny_config()
    assert "model" in str(info.value) and "tiny-test" in str(info.value)


def test_a_registered_run_type_trains_resumes_and_samples(tiny_type, tmp_path, monkeypatch):
    whole = RunDir.create("tiny-whole", tiny_config())
    assert train(whole) == "finished"
    tensors, meta = load_checkpoint_file(whole.latest_checkpoint().weights)
    assert meta["model"] == "tiny-test" and int(tensors["task.hooks"]) == 6  # its state is in the checkpoint
    records = [r for r in whole.read_metrics() if "loss_d" in r]
    assert [r["step"] for r in records] == [2, 3, 4, 6]  # log steps and checkpoint steps
    assert [r["step"] for r in records if r["r1"] > 0] == [2, 3, 6]  # its R1 phase ran in steps 0, 2 and 4

    # stopped at step 3 and resumed = trained in one go (its state and the reg phase included)
    parts = RunDir.create("tiny-parts", tiny_config())
    train_in_two_parts(parts, 3, monkeypatch)
    again, _ = load_checkpoint_file(parts.latest_checkpoint().weights)
    for key, value in tensors.items():
        if key.startswith(("G.", "D.", "task.")):
            assert torch.equal(value, again[key]), key

    loaded = load_generator("tiny-whole")
    assert generate(loaded, [0, 1]).shape == (2, 3, 8, 8)
    assert main(["sample", "--run", "tiny-whole", "--n", "3", "--out", str(tmp_path / "out")]) == 0
    assert len(list((tmp_path / "out").glob("*.png"))) == 3


def test_the_config_and_the_train_page_offer_it(tiny_type):
    assert applies(TrainConfig, "z_dim", "tiny-test") and not applies(TrainConfig, "minibatch_std", "tiny-test")
    at = AppTest.from_file(str(ROOT / "pages" / "3_Train.py"), default_timeout=90).run()
    assert "tiny-test" in at.selectbox(key="f_model").options
    at.selectbox(key="f_model").set_value("tiny-test").run()
    assert not at.exception and at.selectbox(key="f_model").value == "tiny-test"
    assert not [t for t in at.toggle if t.key == "f_minibatch_std"]  # a dcgan-only field is hidden
