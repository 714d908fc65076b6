"""Repair images with what was trained: fill masked holes, raise the resolution (and the baselines)."""
from gan_core.restore.images import (
                                     DEMO_IMAGES,
                                     Progress,
                                     RestoreError,
                                     dataset_image,
                                     degrade_for_demo,
                                     enlarge,
                                     from_array,
                                     from_tensor,
                                     is_grey,
                                     open_image,
                                     poisson_blend,
                                     psnr,
                                     resize_mask,
                                     ssim,
                                     to_array,
                                     to_mode,
                                     to_tensor,
                                     wipe,
)
from gan_core.restore.repair import (
                                     IMAGE_SUFFIXES,
                                     INPAINT_METHODS,
                                     SUPERRES_METHODS,
                                     RestoreResult,
                                     compose_fill,
                                     fitting_runs,
                                     inpaint,
                                     load_for,
                                     run_fits,
                                     superres,
)

__all__ = ["DEMO_IMAGES", "IMAGE_SUFFIXES", "INPAINT_METHODS", "SUPERRES_METHODS", "Progress", "RestoreError",
           "RestoreResult", "compose_fill", "dataset_image", "degrade_for_demo", "enlarge", "fitting_runs", "from_array",
           "from_tensor", "inpaint", "is_grey", "load_for", "open_image", "poisson_blend", "psnr", "resize_mask",
           "run_fits", "ssim", "superres", "to_array", "to_mode", "to_tensor", "wipe"]
