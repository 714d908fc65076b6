"""Import torchvision safely next to a CPU-only torch build.

PyPI's torchvision wheel is compiled against CUDA torch. Its compiled ops library
fails to load beside the local CPU build of torch, and torchvision's Python code then
registers fake kernels for ``torchvision::nms`` / ``torchvision::qnms`` against op
schemas that do not exist, so ``import torchvision`` raises
``operator torchvision::nms does not exist``. Defining those two schemas first lets the
pure-Python parts (datasets, transforms.v2, utils, models) import and work.

GAN Studio uses no compiled torchvision op. This module is the only place that knows.
Import torchvision as ``from gan_core.torch_utils.vision import torchvision``.
"""
import torch

_GUARD_LIB = None


def _define_missing_schemas() -> None:
    global _GUARD_LIB
    try:
        torch.ops.torchvision.nms.default  # compiled ops loaded fine: nothing to do
        return
    except (AttributeError, RuntimeError):
        pass
    _GUARD_LIB = torch.library.Library("torchvision", "DEF")  # kept alive for the process
    _GUARD_LIB.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _GUARD_LIB.define(
        "qnms(Tensor dets, Tensor scores, float iou_threshold, float scale, int zero_point) -> Tensor"
    )


try:
    import torchvision  # noqa: F401  (works as is on a matching build, CUDA machines included)
except RuntimeError:
    _define_missing_schemas()
    import torchvision  # noqa: F401,E402
