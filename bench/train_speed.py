"""Training-step speed: GAN Studio's DCGAN step against the classic loop, side by side.

Both train the classic DCGAN architecture (width 64, batch norm, BCE, Adam 2e-4/0.5,
batch 64) on the same images in the same process. Rounds alternate between them and the
median of each is compared, so load from elsewhere on the machine hits both alike.

The classic loop is written here plainly, as pytorch/examples/dcgan does it: a DataLoader
over a TensorDataset, Sigmoid + BCELoss, and ``.item()`` logging every step.

Also: sampling latency (64 images per resolution), restoration latency when
``gan_core.restore`` is present, peak memory, and on CUDA the MFU against bf16 peak.
The last line is ``speedup <ratio>`` for the 32 px case.

    python bench/train_speed.py [--rounds 5] [--steps 6] [--out bench/results/train_speed.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_core.config import PRESETS, TrainConfig  # noqa: E402
from gan_core.rundir import RunDir  # noqa: E402
from gan_core.train import Trainer, bf16_supported, pick_device  # noqa: E402

H100_BF16_PEAK = 989e12  # dense bf16 TFLOP/s of an H100 SXM (H200 has the same compute)


# ---- the classic recipe, written plainly ---------------------------------------------
class ClassicG(nn.Module):
    def __init__(self, nz: int, ngf: int, nc: int, res: int):
        super().__init__()
        n = {32: 3, 64: 4}[res]
        chans = [ngf * 2 ** (n - 1 - i) for i in range(n)]
        layers = [nn.ConvTranspose2d(nz, chans[0], 4, 1, 0, bias=False), nn.BatchNorm2d(chans[0]), nn.ReLU(True)]
        for a, b in zip(chans, chans[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(chans[-1], nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z):
        return self.main(z)


class ClassicD(nn.Module):
    def __init__(self, ndf: int, nc: int, res: int):
        super().__init__()
        n = {32: 3, 64: 4}[res]
        chans = [ndf * 2**i for i in range(n)]
        layers = [nn.Conv2d(nc, chans[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        for a, b in zip(chans, chans[1:]):
            layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, inplace=True)]
        layers += [nn.Conv2d(chans[-1], 1, 4, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, x):
        return self.main(x).view(-1, 1).squeeze(1)


def weights_init(m):
    name = m.__class__.__name__
    if name.find("Conv") != -1:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif name.find("BatchNorm") != -1:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class ClassicLoop:
    """pytorch/examples/dcgan's loop body, step by step."""

    def __init__(self, images: torch.Tensor, res: int, nc: int, device: torch.device):
        self.device, self.nz = device, 100
        self.netG = ClassicG(100, 64, nc, res).to(device)
        self.netD = ClassicD(64, nc, res).to(device)
        self.netG.apply(weights_init)
        self.netD.apply(weights_init)
        self.criterion = nn.BCELoss()
        self.optD = torch.optim.Adam(self.netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optG = torch.optim.Adam(self.netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
        dataset = torch.utils.data.TensorDataset(images.cpu())
        self.loader = torch.utils.data.DataLoader(dataset, batch_size=64, shuffle=True, drop_last=True)
        self.batches = iter(self.loader)
        self.log: list[tuple[float, ...]] = []

    def step(self) -> None:
        try:
            (data,) = next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            (data,) = next(self.batches)
        real = data.to(self.device)
        b = real.size(0)
        self.netD.zero_grad()
        label = torch.full((b,), 1.0, device=self.device)
        output = self.netD(real)
        errD_real = self.criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()
        noise = torch.randn(b, self.nz, 1, 1, device=self.device)
        fake = self.netG(noise)
        label.fill_(0.0)
        output = self.netD(fake.detach())
        errD_fake = self.criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        self.optD.step()
        self.netG.zero_grad()
        label.fill_(1.0)
        output = self.netD(fake)
        errG = self.criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        self.optG.step()
        self.log.append((errD.item(), errG.item(), D_x, D_G_z1, D_G_z2))


# ---- the project's step ------------------------------------------------------------------
def studio_trainer(res: int, nc: int, data: str, root: Path, bf16: bool, device: str) -> Trainer:
    cfg = TrainConfig.from_dict(dict(PRESETS["classic"], data=data, resolution=res, channels=nc, bf16=bf16,
                                     device=device, log_every=50, steps=10**6))
    run = RunDir.create(f"speed-{res}-{int(bf16)}", cfg, root)
    return Trainer(run, cfg)


def timed(fn, steps: int, device: torch.device) -> float:
    """Seconds per step over ``steps`` steps (device synchronised at the ends only)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def step_flops(trainer: Trainer) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        trainer.train_step()
    return float(counter.get_total_flops())


def sampling_latency_ms(trainer: Trainer, n: int = 64, repeats: int = 20) -> float:
    G = trainer.G_ema or trainer.G
    G.eval()
    z = torch.randn(n, trainer.cfg.z_dim, device=trainer.device)
    times = []
    with torch.no_grad():
        for _ in range(repeats + 3):
            t = timed(lambda: G(z), 1, trainer.device)
            times.append(t)
    G.train()
    return statistics.median(times[3:]) * 1000


def compare(res: int, nc: int, data: str, rounds: int, steps: int, device: torch.device, root: Path) -> dict:
    bf16 = bf16_supported(device)
    studio = studio_trainer(res, nc, data, root, bf16=True, device=device.type)
    studio_fp32 = studio_trainer(res, nc, data, root, bf16=False, device=device.type)
    classic = ClassicLoop(studio.task.source.images, res, nc, device)
    contenders = {"classic": classic.step, "studio": studio.train_step, "studio_fp32": studio_fp32.train_step}
    for fn in contenders.values():  # warm-up (allocator, oneDNN/cuDNN kernel choice)
        timed(fn, 2, device)
    per_step: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            per_step[name].append(timed(fn, steps, device))
    result = {"resolution": res, "channels": nc, "data": data, "bf16": bf16, "rounds": rounds, "steps_per_round": steps}
    for name, times in per_step.items():
        result[f"{name}_images_per_s"] = round(64 / statistics.median(times), 1)
    result["speedup"] = round(result["studio_images_per_s"] / result["classic_images_per_s"], 2)
    result["speedup_fp32"] = round(result["studio_fp32_images_per_s"] / result["classic_images_per_s"], 2)
    result["sample_64_ms"] = round(sampling_latency_ms(studio), 2)
    if device.type == "cuda":
        flops = step_flops(studio)
        result["step_gflop"] = round(flops / 1e9, 2)
        result["mfu"] = round(flops * result["studio_images_per_s"] / 64 / H100_BF16_PEAK, 4)
    return result


def restoration_latency(root: Path) -> dict:
    """One image per method, when the restoration module is present."""
    try:
        from gan_core import restore
    except ImportError:
        return {"note": "gan_core.restore not present"}
    from PIL import Image

    from gan_core.sample import load_generator
    from gan_core.train import train

    cfg = TrainConfig.from_dict(dict(PRESETS["shapes"], resolution=32, width=16, steps=20, log_every=10, checkpoint_every=20, threads=0))
    run = RunDir.create("speed-prior", cfg, root)
    train(run)
    loaded = load_generator(run.name, root=root, with_discriminator=True)
    image = Image.new("RGB", (32, 32), (200, 40, 40))
    mask = Image.new("L", (32, 32), 0)
    mask.paste(255, (8, 8, 24, 24))
    out = {}
    for method in ("prior", "biharmonic"):
        start = time.perf_counter()
        restore.inpaint(image, mask, method, loaded if method == "prior" else None)
        out[f"inpaint_{method}_s"] = round(time.perf_counter() - start, 3)
    small = image.resize((8, 8))
    for method in ("prior", "bicubic"):
        start = time.perf_counter()
        restore.superres(small, 4, method, loaded if method == "prior" else None)
        out[f"superres_{method}_s"] = round(time.perf_counter() - start, 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=6, help="steps per round per contender")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path("bench/results/train_speed.json"))
    parser.add_argument("--skip-64", action="store_true")
    args = parser.parse_args()
    device = pick_device(args.device)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        results = {"machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, {device}",
                   "torch": torch.__version__, "cases": []}
        cases = [(32, 1, "fashion-mnist")] + ([] if args.skip_64 else [(64, 3, "shapes")])
        for res, nc, data in cases:
            r = compare(res, nc, data, args.rounds, args.steps, device, root)
            results["cases"].append(r)
            print(json.dumps(r), flush=True)
        results["restoration"] = restoration_latency(root)
        print(json.dumps(results["restoration"]))
        results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        if device.type == "cuda":
            results["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"peak memory: {results['peak_rss_mb']} MB RSS")
    print(f"speedup {results['cases'][0]['speedup']}")


if __name__ == "__main__":
    main()
