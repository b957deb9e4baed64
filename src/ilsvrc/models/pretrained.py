"""torchvision's published ImageNet-1k weights for the zoo names that share torchvision's layout.

The weights come through torchvision's weights API (`torchvision.models.get_model_weights`): its URL, its
file name (which carries the first hex digits of the file's sha256), its preprocessing and its published
accuracy. Files live in torch.hub's cache, `$TORCH_HOME/hub/checkpoints` (default `~/.cache/torch`), the
same folder torchvision itself uses, so weights downloaded by either are shared. A file found there is
hash-checked before it is loaded (torch.hub checks only what it downloads itself), and loaded with
`weights_only=True`. Offline, the error names the file, where to get it and the folder to put it in.
"""

from __future__ import annotations

import hashlib
import urllib.error
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from ilsvrc.errors import UserError
from ilsvrc.models import registry
from ilsvrc.models.torchvision_interop import load_torchvision

# ilsvrc name -> torchvision builder, for every name whose layout *and strides* are torchvision's (the v1
# bottleneck ResNets share the layout but stride differently, so torchvision's weights would mislead there).
PRETRAINED = {
    "alexnet_tv": "alexnet",
    **{f"vgg{d}{bn}": f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    "resnet18": "resnet18",
    "resnet34": "resnet34",
    "resnet50_v1_5": "resnet50",
    "resnet101_v1_5": "resnet101",
    "resnet152_v1_5": "resnet152",
    "vit_b16": "vit_b_16",
}
DEFAULT_TAG = "IMAGENET1K_V1"  # the original release; the later V2 recipes are not the papers'


@dataclass(frozen=True)
class Pretrained:
    """One set of published weights: where it comes from, how its inputs were prepared, what it scores."""

    name: str  # ilsvrc model name
    tag: str  # torchvision's weights enum member, e.g. IMAGENET1K_V1
    url: str
    resize_size: int  # shorter side resized to this before the centre crop (pixels)
    crop_size: int  # square centre crop fed to the net (pixels)
    interpolation: str  # "bilinear" or "bicubic"
    mean: tuple[float, float, float]  # per channel, on inputs scaled to [0, 1]
    std: tuple[float, float, float]
    top1: float  # published ImageNet-1k validation accuracy, percent (single 224 crop)
    top5: float

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[1]

    @property
    def crop_pct(self) -> float:
        return self.crop_size / self.resize_size


def parse_weights(spec: str) -> str:
    """'torchvision' or 'torchvision:TAG' -> TAG; anything else is a one-line error."""
    source, _, tag = spec.partition(":")
    if source != "torchvision":
        raise UserError(f"--weights {spec!r}: the only source is 'torchvision' (or 'torchvision:IMAGENET1K_V2')")
    return tag or DEFAULT_TAG


def weights_info(name: str, tag: str = DEFAULT_TAG) -> Pretrained:
    """The published weights `tag` of ilsvrc model `name`, from torchvision's weights registry."""
    from torchvision.models import get_model_weights

    registry.get_card(name)  # unknown names get the registry's did-you-mean error
    if name not in PRETRAINED:
        have = ", ".join(PRETRAINED)
        raise UserError(f"torchvision publishes no ImageNet weights for {name}; these have them: {have}")
    enum = get_model_weights(PRETRAINED[name])
    if tag not in enum.__members__:
        raise UserError(f"torchvision has no weights {tag!r} for {name}; it has {', '.join(enum.__members__)}")
    weights = enum[tag]
    prep = weights.transforms()
    scores = weights.meta["_metrics"]["ImageNet-1K"]
    return Pretrained(
        name=name,
        tag=tag,
        url=weights.url,
        resize_size=int(prep.resize_size[0]),
        crop_size=int(prep.crop_size[0]),
        interpolation=prep.interpolation.value,
        mean=tuple(prep.mean),
        std=tuple(prep.std),
        top1=float(scores["acc@1"]),
        top5=float(scores["acc@5"]),
    )


def cache_dir() -> Path:
    """torch.hub's weights folder: $TORCH_HOME/hub/checkpoints."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_file(info: Pretrained, download: bool = True) -> Path:
    """The hash-checked local file of `info`, downloaded into the cache first when missing and allowed."""
    path = cache_dir() / info.file_name
    match = torch.hub.HASH_REGEX.search(info.file_name)
    prefix = match.group(1) if match else ""
    where = f"put {info.file_name} (from {info.url}) in {cache_dir()} (set TORCH_HOME to move that folder)"
    if not path.is_file():
        if not download:
            raise UserError(f"{info.name}: torchvision weights not found; {where}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(info.url, str(path), hash_prefix=prefix or None, progress=True)
        except (urllib.error.URLError, OSError, RuntimeError) as err:  # offline, refused, or a bad hash
            raise UserError(f"{info.name}: cannot download torchvision weights ({err}); {where}") from None
        return path
    if prefix and not _sha256(path).startswith(prefix):
        raise UserError(f"{path} is not torchvision's file (sha256 does not start {prefix}); delete it, then {where}")
    return path


def load_state_dict(name: str, tag: str = DEFAULT_TAG, download: bool = True) -> dict[str, torch.Tensor]:
    """torchvision's published state_dict for `name` (keys in torchvision's names, which are ilsvrc's)."""
    path = weights_file(weights_info(name, tag), download=download)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file that still had the right name and hash prefix
        reason = type(err).__name__
        raise UserError(f"{path}: not a loadable state_dict ({reason}); delete it and fetch it again") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path}: not a state_dict of tensors")
    return state


def create_model(
    name: str, num_classes: int | None = None, in_chans: int = 3, weights: str | None = None, **options
) -> nn.Module:
    """`registry.create_model`, plus `weights="torchvision"` (or "torchvision:TAG") for published weights.

    With weights and a class count other than 1000, the backbone is loaded and the classifier is new
    (randomly initialised, as for fine-tuning). `in_chans` must be 3 with weights.
    """
    if weights is None:
        return registry.create_model(name, num_classes=num_classes, in_chans=in_chans, **options)
    tag = parse_weights(weights)
    if in_chans != 3:
        raise UserError(f"{name}: torchvision's weights take 3-channel images, not in_chans={in_chans}")
    state = load_state_dict(name, tag)
    if options:  # the published layout with the caller's switches (dropout, ...): the weights must still fit
        model = registry.create_model(name, num_classes=1000, in_chans=3, **options)
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            first = str(err).splitlines()[1:2] or [str(err)]
            raise UserError(f"{name} with {options}: torchvision's weights do not fit ({first[0].strip()})") from None
    else:
        model = load_torchvision(name, state)
    if num_classes is not None and num_classes != 1000:
        model = _new_head(model, name, num_classes, options)
    model.pretrained = weights_info(name, tag)
    return model


def _new_head(model: nn.Module, name: str, num_classes: int, options: dict) -> nn.Module:
    """Replace the 1000-way classifier with a fresh `num_classes`-way one (the rest keeps its weights)."""
    fresh = registry.create_model(name, num_classes=num_classes, **options)
    shapes = {k: v.shape for k, v in fresh.state_dict().items()}
    kept = {k: v for k, v in model.state_dict().items() if shapes.get(k) == v.shape}
    fresh.load_state_dict(kept, strict=False)
    return fresh


@cache
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ILSVRC-2012 WordNet ids in class-index order (sorted, as the devkit numbers them)."""
    text = resources.files("ilsvrc.models").joinpath("imagenet/wnids.txt").read_text()
    return tuple(text.split())


@cache
def imagenet_classes() -> tuple[str, ...]:
    """Human-readable names of the 1000 classes, in class-index order (torchvision's list)."""
    from torchvision.models import ResNet18_Weights

    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def imagenet_indices(class_names: list[str] | tuple[str, ...]) -> list[int] | None:
    """For class names that are all ILSVRC wnids (Imagenette's folders are), their indices among the 1000 logits.

    Evaluating ImageNet weights on such a subset restricts the 1000 logits to these columns, in this order (a
    common check). None when any name is not a wnid of the 1000 classes.
    """
    position = {w: i for i, w in enumerate(imagenet_wnids())}
    if not class_names or any(c not in position for c in class_names):
        return None
    return [position[c] for c in class_names]
