"""Data: sources in their own formats, the packed format, batch loading and batched augmentation.

ds = load_dataset("path/to/cifar-10-batches-py", "train")      # or None for the bundled Fashion-MNIST
loader = BatchLoader(ds, 128, shuffle=True, seed=0)             # uint8 (B, H, W, C) batches
augment = TrainAugment("pad-crop-flip", 32, ds.mean, ds.std)     # float32 (B, C, 32, 32), on any device
"""

from ilsvrc.data.augment import KINDS, EvalTransform, MultiScaleEval, TrainAugment, ten_crop
from ilsvrc.data.dataset import ArrayDataset, pixel_stats
from ilsvrc.data.layout import detect_format
from ilsvrc.data.loader import BatchLoader
from ilsvrc.data.packed import load_packed, verify_packed
from ilsvrc.data.packing import pack
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
    "detect_format",
    "fetch",
    "list_splits",
    "load_bundled",
    "load_dataset",
    "load_packed",
    "pack",
    "pixel_stats",
    "read_idx",
    "ten_crop",
    "verify_packed",
]
