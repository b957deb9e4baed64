"""ilsvrc: the ImageNet (ILSVRC) classification lineage, from AlexNet to ViT, to see, train, measure and reproduce."""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "create_model": "ilsvrc.models",
    "list_models": "ilsvrc.models",
    "get_card": "ilsvrc.models",
    "load_torchvision": "ilsvrc.models",
    "summarize": "ilsvrc.analysis",
}


# Subpackages reachable as attributes after a bare `import ilsvrc` (e.g. `ilsvrc.models.load_torchvision`).
_SUBPACKAGES = {"models", "analysis", "data", "train", "evaluate", "predict", "export", "reproduce", "bench"}


def __getattr__(name: str):
    # Imported on first use so `import ilsvrc` (and `ilsvrc --help`) does not pay for torch.
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f"ilsvrc.{name}")
    raise AttributeError(f"module 'ilsvrc' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
