"""Training-step speed: GAN Studio's DCGAN step against the classic loop, side by side.

Both train the classic DCGAN architecture (width 64, batch norm, BCE, Adam 2e-4/0.5,
batch 64) on the same images in the same process. Rounds alternate between them and the
median of each is compared, so load from elsewhere on the machine hits both alike.

The classic loop is written here plainly, as pytorch/examples/dcgan does it: a DataLoader
over a TensorDataset, Sigmoid + BCELoss, and ``.item()`` logging every step.

Also: sampling latency (64 images per resolution), restoration latency when
``gan_core.restore`` is present, peak memory, and on CUDA the MFU against the GPU's bf16
peak. On CUDA it goes on to ask whether the step is launch-bound: the share of the step's
wall time the GPU spends in kernels, how images/s and MFU grow with the batch, and what
torch.compile and the trainer's CUDA graph of the whole step buy at batch 64.
Section ``stylegan2``: the StyleGAN2 + ADA preset's step against the DCGAN folder recipe's
(images/s and their ratio; on CUDA the StyleGAN2's MFU).
The last line is ``speedup <ratio>`` for the 32 px case.

    python bench/train_speed.py [--rounds 5] [--steps 6] [--out bench/results/train_speed.json]
    python bench/train_speed.py --sections stylegan2   # -> bench/results/train_speed_stylegan2.json

A run of some sections writes ``train_speed_<sections>.json``, so it never replaces the
whole run's file (and the sections it did not run) by default.
"""
from __future__ import annotations

import argparse
import functools
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
from gan_core.runs.rundir import RunDir  # noqa: E402
from gan_core.torch_utils.devices import bf16_supported, pick_device  # noqa: E402
from gan_core.training.trainer import Trainer  # noqa: E402

# Dense bf16 tensor-core peaks from the datasheets, FLOP/s (the H200 has the H100's compute).
BF16_PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12}


def bf16_peak(device: torch.device) -> tuple[float, str]:
    name = torch.cuda.get_device_name(device)
    for key, peak in BF16_PEAK.items():
        if key in name:
            return peak, f"{name} datasheet"
    return matmul_ceiling(device), f"{name} measured matmul (no datasheet figure known)"


@functools.cache  # measured once per run: bf16_peak falls back to it on an unlisted GPU
def matmul_ceiling(device: torch.device, n: int = 8192, repeats: int = 10) -> float:
    """bf16 FLOP/s of one large matrix product on random data: what the card really gives."""
    a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    seconds = timed(lambda: a @ b, repeats, device)
    return 2 * n**3 / seconds


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
def studio_trainer(res: int, nc: int, data: str, root: Path, bf16: bool, device: str,
                   batch: int = 64, tag: str = "", **overrides) -> Trainer:
    cfg = TrainConfig.from_dict(dict(PRESETS["classic"], data=data, resolution=res, channels=nc, bf16=bf16,
                                     device=device, log_every=50, steps=10**6, batch_size=batch, **overrides))
    run = RunDir.create(f"speed-{res}-{int(bf16)}-{batch}{tag}", cfg, root)
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
    if device.type == "cuda":  # the studio's CUDA step is a graph replay; its eager step beside it
        studio_eager = studio_trainer(res, nc, data, root, bf16=True, device="cuda", tag="-eager", cuda_graph=False)
        contenders["studio_eager"] = studio_eager.train_step
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
    if "studio_eager" in contenders:
        result["speedup_eager"] = round(result["studio_eager_images_per_s"] / result["classic_images_per_s"], 2)
    result["sample_64_ms"] = round(sampling_latency_ms(studio), 2)
    if device.type == "cuda":
        flops = step_flops(studio_eager)  # a graph replay dispatches no ops for the counter to see
        result["step_gflop"] = round(flops / 1e9, 2)
        peak, _ = bf16_peak(device)
        result["mfu"] = round(flops * result["studio_images_per_s"] / 64 / peak, 4)
    return result


# ---- StyleGAN2 + ADA against the DCGAN folder recipe -----------------------------------------
def preset_trainer(preset: str, root: Path, device: str, tag: str = "", **overrides) -> Trainer:
    """A trainer with a preset's own values (batch, bf16, ADA ...) on the procedural shapes at
    64 px RGB, which need no system packages (the emoji set needs Debian's font)."""
    cfg = TrainConfig.from_dict(dict(PRESETS[preset], data="shapes", resolution=64, channels=3, device=device,
                                     log_every=50, steps=10**6, eval_every=0, **overrides))
    return Trainer(RunDir.create(f"speed-{preset}{tag}", cfg, root), cfg)


def stylegan2_step(rounds: int, steps: int, device: torch.device, root: Path) -> dict:
    """Images/s of the ``emoji`` preset's step (StyleGAN2 + ADA, batch 32) and of the
    ``dcgan-folder`` recipe's (batch 64) in alternating rounds; their ratio is the number to
    compare across commits and machines. On CUDA also the StyleGAN2's eager step and its MFU."""
    contenders = {"stylegan2": preset_trainer("emoji", root, device.type),
                  "dcgan_folder": preset_trainer("dcgan-folder", root, device.type)}
    if device.type == "cuda":
        contenders["stylegan2_eager"] = preset_trainer("emoji", root, "cuda", tag="-eager", cuda_graph=False)
    for trainer in contenders.values():
        timed(trainer.train_step, 3, device)  # warm-up; the lazy R1 step comes every 16, rounds span it
    per_step: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(rounds):
        for name, trainer in contenders.items():
            per_step[name].append(timed(trainer.train_step, steps, device))
    result = {"data": "shapes", "resolution": 64, "rounds": rounds, "steps_per_round": steps}
    for name, trainer in contenders.items():
        result[f"{name}_images_per_s"] = round(trainer.cfg.batch_size / statistics.median(per_step[name]), 1)
    result["stylegan2_vs_dcgan"] = round(result["stylegan2_images_per_s"] / result["dcgan_folder_images_per_s"], 3)
    if device.type == "cuda":
        eager = contenders["stylegan2_eager"]
        flops = step_flops(eager)
        peak, _ = bf16_peak(device)
        result["stylegan2_step_gflop"] = round(flops / 1e9, 2)
        result["stylegan2_mfu"] = round(flops * result["stylegan2_images_per_s"] / eager.cfg.batch_size / peak, 4)
    return result


# ---- CUDA: is the step launch-bound? -------------------------------------------------------
def images_per_s(fn, batch: int, device: torch.device, rounds: int = 5, round_s: float = 0.3) -> float:
    """Median images/s over ``rounds`` rounds of about ``round_s`` seconds each."""
    steps = max(5, int(round_s / timed(fn, 3, device)))
    return batch / statistics.median(timed(fn, steps, device) for _ in range(rounds))


def kernel_profile(fn, steps: int, device: torch.device) -> dict:
    """GPU kernel time and kernel count per step, from the profiler's device-side events."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize(device)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            fn()
        torch.cuda.synchronize(device)
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    busy_s = sum(e.time_range.elapsed_us() for e in kernels) / 1e6
    return {"kernels_per_step": round(len(kernels) / steps, 1), "gpu_busy_ms_per_step": round(busy_s / steps * 1e3, 3)}


def gpu_step_report(res: int, nc: int, data: str, device: torch.device, root: Path, batches: list[int]) -> dict:
    """Where the time of the studio step goes on CUDA, at growing batch sizes."""
    peak, _ = bf16_peak(device)
    rows = []
    for batch in batches:
        torch.cuda.reset_peak_memory_stats(device)
        eager = studio_trainer(res, nc, data, root, bf16=True, device="cuda", batch=batch, tag="-scale-eager", cuda_graph=False)
        trainer = studio_trainer(res, nc, data, root, bf16=True, device="cuda", batch=batch, tag="-scale")
        fn = trainer.train_step
        try:
            eager_ips = images_per_s(eager.train_step, batch, device)
            ips = images_per_s(fn, batch, device)
        except torch.cuda.OutOfMemoryError:
            rows.append({"batch": batch, "error": "out of GPU memory"})
            break
        flops = step_flops(eager)  # (the flop counter runs the step eagerly: count on the eager twin)
        row = {"batch": batch, "graph": trainer._graph is not None, "images_per_s": round(ips, 1),
               "eager_images_per_s": round(eager_ips, 1), "step_ms": round(batch / ips * 1e3, 3),
               "step_gflop": round(flops / 1e9, 2), "mfu": round(flops * ips / batch / peak, 4),
               "eager_mfu": round(flops * eager_ips / batch / peak, 4)}
        try:
            row |= kernel_profile(fn, 20, device)
            row["gpu_busy_share"] = round(row["gpu_busy_ms_per_step"] / row["step_ms"], 3)
        except Exception as exc:  # noqa: BLE001 - the profiler is a diagnostic, not the benchmark
            row["profile_error"] = f"{type(exc).__name__}: {exc}"[:200]
        row["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
        rows.append(row)
        print(json.dumps({"resolution": res, **row}), flush=True)
        del trainer, eager
    return {"resolution": res, "channels": nc, "rows": rows}


def compiled_variants(res: int, nc: int, data: str, device: torch.device, root: Path) -> dict:
    """Batch-64 studio step four ways: eager, torch.compile (``--compile``), compile's own
    CUDA-graph mode ("reduce-overhead", per module), and the trainer's whole-step graph."""
    out = {}
    variants = {"eager": dict(cuda_graph=False), "compile": dict(compile=True),
                "reduce_overhead": dict(compile=True), "whole_step_graph": {}}
    for label, overrides in variants.items():
        trainer = studio_trainer(res, nc, data, root, bf16=True, device="cuda", tag=f"-variant-{label}", **overrides)
        if label == "reduce_overhead":
            trainer.G_train = torch.compile(trainer.G, mode="reduce-overhead")
            trainer.D_train = torch.compile(trainer.D, mode="reduce-overhead")

        def step(trainer=trainer):
            torch.compiler.cudagraph_mark_step_begin()
            trainer.step_once()

        try:
            start = time.perf_counter()
            timed(step, 5, device)
            out[f"{label}_first_steps_s"] = round(time.perf_counter() - start, 1)
            out[f"{label}_images_per_s"] = round(images_per_s(step, 64, device), 1)
            out[f"{label}_profile"] = kernel_profile(step, 20, device)
            if trainer.G_train is trainer.G and label in ("compile", "reduce_overhead"):
                out[f"{label}_note"] = "compile failed: ran eagerly (see the run's log)"
        except Exception as exc:  # noqa: BLE001 - report, go on
            out[f"{label}_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
        print(json.dumps({"resolution": res, label: {k: v for k, v in out.items() if k.startswith(label)}}), flush=True)
        torch._dynamo.reset()
    return out


def restoration_latency(root: Path) -> dict:
    """One image per method."""
    from gan_core import restore
    from PIL import Image

    from gan_core.inference.generators import load_generator
    from gan_core.training.loop import train

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


SECTIONS = ("compare", "scaling", "compiled", "restoration", "stylegan2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=None, help="steps per round per contender (default 6, on CUDA 60)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=None,
                        help="default: bench/results/train_speed.json, or train_speed_<sections>.json for a subset")
    parser.add_argument("--skip-64", action="store_true")
    parser.add_argument("--batches", type=lambda v: [int(b) for b in v.split(",")], default=[64, 256, 1024, 4096],
                        help="CUDA only: batch sizes for the scaling table")
    parser.add_argument("--sections", type=lambda v: set(v.split(",")), default=set(SECTIONS),
                        help=f"comma-separated subset of {','.join(SECTIONS)} (scaling and compiled run on CUDA only)")
    args = parser.parse_args()
    if args.out is None:
        subset = "" if args.sections >= set(SECTIONS) else "_" + "_".join(sorted(args.sections))
        args.out = Path(f"bench/results/train_speed{subset}.json")
    device = pick_device(args.device)
    args.steps = args.steps or (60 if device.type == "cuda" else 6)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        results = {"machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, {device}",
                   "torch": torch.__version__, "cases": []}
        cases = [(32, 1, "fashion-mnist")] + ([] if args.skip_64 else [(64, 3, "shapes")])
        for res, nc, data in cases if "compare" in args.sections else []:
            r = compare(res, nc, data, args.rounds, args.steps, device, root)
            results["cases"].append(r)
            print(json.dumps(r), flush=True)
        if device.type == "cuda":
            peak, source = bf16_peak(device)
            results["bf16_peak_tflops"] = {"value": round(peak / 1e12, 1), "source": source,
                                           "measured_matmul": round(matmul_ceiling(device) / 1e12, 1)}
            print(json.dumps(results["bf16_peak_tflops"]), flush=True)
            if "scaling" in args.sections:
                results["scaling"] = [gpu_step_report(res, nc, data, device, root, args.batches) for res, nc, data in cases]
            if "compiled" in args.sections:
                results["compiled"] = compiled_variants(32, 1, cases[0][2], device, root)
        if "stylegan2" in args.sections:
            # rounds of whole 16-step cycles, so each holds one lazy R1 step
            results["stylegan2"] = stylegan2_step(args.rounds, 16 * max(1, args.steps // 6), device, root)
            print(json.dumps(results["stylegan2"]), flush=True)
        if "restoration" in args.sections:
            results["restoration"] = restoration_latency(root)
            print(json.dumps(results["restoration"]))
        results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        if device.type == "cuda":
            results["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"peak memory: {results['peak_rss_mb']} MB RSS")
    if results["cases"]:
        print(f"speedup {results['cases'][0]['speedup']}")


if __name__ == "__main__":
    main()
