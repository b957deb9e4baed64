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


def __getattr__(name: str):
    # Imported on first use so `import ilsvrc` (and `ilsvrc --help`) does not pay for torch.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ilsvrc' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
