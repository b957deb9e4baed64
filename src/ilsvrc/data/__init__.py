"""Data: sources in their own formats, the packed format, batch loading and batched augmentation.

ds = load_dataset("path/to/cifar-10-batches-py", "train")      # or None for the bundled Fashion-MNIST
loader = BatchLoader(ds, 128, shuffle=True, seed=0)             # uint8 (B, H, W, C) batches
augment = TrainAugment("pad-crop-flip", 32, ds.mean, ds.std)     # float32 (B, C, 32, 32), on any device

One resampler for decoding (resample.resize_shorter / center_square) and one for training crops
(augment.resample_windows, with random_resized_crop_boxes drawing Inception windows); a JPEG-payload pack loads as
a jpeg_dataset.JpegDataset that BatchLoader reads a batch at a time.
"""

from ilsvrc.data.augment import (
    KINDS,
    EvalTransform,
    MultiScaleEval,
    TrainAugment,
    random_resized_crop_boxes,
    resample_windows,
    ten_crop,
)
from ilsvrc.data.dataset import ArrayDataset, pixel_stats
from ilsvrc.data.layout import detect_format
from ilsvrc.data.loader import BatchLoader
from ilsvrc.data.packed import load_packed, verify_packed
from ilsvrc.data.packing import pack
from ilsvrc.data.resample import center_square, resize_shorter
from ilsvrc.data.sources import FASHION_CLASSES, fetch, list_splits, load_bundled, load_dataset, read_idx
from ilsvrc.data.views import AlternatingFlip, TTAViews

__all__ = [
    "FASHION_CLASSES",
    "KINDS",
    "AlternatingFlip",
    "ArrayDataset",
    "BatchLoader",
    "EvalTransform",
    "MultiScaleEval",
    "TTAViews",
    "TrainAugment",
    "center_square",
    "detect_format",
    "fetch",
    "list_splits",
    "load_bundled",
    "load_dataset",
    "load_packed",
    "pack",
    "pixel_stats",
    "random_resized_crop_boxes",
    "read_idx",
    "resample_windows",
    "resize_shorter",
    "ten_crop",
    "verify_packed",
]
