"""The model zoo: one module per paper; importing this package registers every name."""

from ilsvrc.models import alexnet, experiments, googlenet, resnet, senet, speedrun, vgg, vit, zfnet  # noqa: F401  (registration)
from ilsvrc.models.pretrained import create_model  # the registry's, plus weights="torchvision"
from ilsvrc.models.registry import ModelCard, get_card, list_models, register
from ilsvrc.models.torchvision_interop import load_torchvision, torchvision_names

__all__ = ["ModelCard", "create_model", "get_card", "list_models", "load_torchvision", "register", "torchvision_names"]
