"""Data sets: built-ins, imported sets, folders and zips of images, clip sets, and inpainting masks.

The public data API, gathered: ``from gan_core import data`` then ``data.load_dataset(...)``."""
from gan_core.data.catalogue import (describe_requirements, download_builtin, folder_split_sizes, list_datasets,
                                     split_sizes)
from gan_core.data.images import (
                                  CIFAR10_CLASSES,
                                  DIGIT_CLASSES,
                                  FASHION_CLASSES,
                                  DatasetInfo,
                                  ImageSet,
                                  clear_cache,
                                  find_fashion,
                                  load_dataset,
                                  match_channels,
                                  read_idx,
)
from gan_core.data.importer import (
                                  BUILTIN_DATASETS,
                                  REPORT_FILE,
                                  DatasetError,
                                  ImportReport,
                                  Limits,
                                  data_root,
                                  import_dataset,
)
from gan_core.data.shapes import SHAPE_CLASSES, make_shapes, render_shape, render_shapes
from gan_core.data.trash import TrashedSet, delete_dataset, restore_dataset, trashed_datasets

__all__ = ["BUILTIN_DATASETS", "CIFAR10_CLASSES", "DIGIT_CLASSES", "FASHION_CLASSES", "REPORT_FILE", "SHAPE_CLASSES",
           "DatasetError", "DatasetInfo", "ImageSet", "ImportReport", "Limits", "clear_cache", "data_root",
           "delete_dataset", "describe_requirements", "download_builtin", "find_fashion", "folder_split_sizes",
           "import_dataset",
           "list_datasets", "load_dataset", "make_shapes", "match_channels", "read_idx", "render_shape",
           "render_shapes", "restore_dataset", "split_sizes", "trashed_datasets", "TrashedSet"]
