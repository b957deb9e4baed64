"""`ilsvrc train`: train a model with a paper's recipe (or a config file), on one process or under torchrun.

The flags are generated from TrainConfig's field declarations (name, type, help, group), so a new field gets
its flag and its help in one place.
"""

from __future__ import annotations

import argparse
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

_GROUP_TITLES = {
    "data": "data and model",
    "optimizer": "optimizer (unset: from the recipe)",
    "schedule": "length and learning-rate schedule",
    "augment": "augmentation",
    "eval": "evaluation",
    "run": "how the run executes",
}


def _flag(f: Any) -> str:
    return "--" + f.metadata.get("flag", f.name).replace("_", "-")


def _argument(f: Any, hint: Any) -> dict[str, Any]:
    """argparse keyword arguments for one TrainConfig field, from its type and metadata (default None: unset)."""
    from ilsvrc.train.config import _DEFAULTS, DEFAULT_RECIPE, RECIPES

    meta = f.metadata
    text = meta["help"]
    if f.name == "recipe":
        text += (
            f": {', '.join(RECIPES)} (default: a named MODEL's own paper recipe, fitted to --epochs/--max-steps; "
            f"with no MODEL, {DEFAULT_RECIPE})"
        )
    elif "generic" in meta and _DEFAULTS.get(f.name) is not None:
        text += " (default: the recipe's)"
    elif f.default not in (None, False, True) and not callable(f.default):
        text += f" (default {f.default})"
    kw: dict[str, Any] = {"help": text, "default": None, "dest": f.name}
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    base = typing.get_origin(args[0]) or args[0]
    if "choices" in meta:
        kw["choices"] = list(meta["choices"])
    if f.name == "channels_last":
        kw.update(nargs="?", const="on")  # a bare --channels-last (the old switch) means on
    elif base is bool:
        kw["action"] = argparse.BooleanOptionalAction
    elif base is tuple:
        sub = typing.get_args(args[0])
        kw.update(type=float, nargs="+" if Ellipsis in sub else len(sub))
    else:
        kw["type"] = base
    if "metavar" in meta:
        kw["metavar"] = meta["metavar"]
    return kw


def register(subparsers: argparse._SubParsersAction) -> None:
    from ilsvrc.train.config import DEFAULT_MODEL, DEFAULT_RECIPE, TrainConfig

    p = subparsers.add_parser(
        "train",
        help="train a model with a paper's recipe (no arguments: the default model on the bundled data)",
        description="Train MODEL on --data with --recipe. With no arguments: "
        f"{DEFAULT_MODEL} on the bundled Fashion-MNIST with the '{DEFAULT_RECIPE}' recipe (a few minutes on 2 CPU "
        "cores). Multi-process: torchrun --nproc_per_node=N -m ilsvrc train ...",
    )
    p.add_argument("model", nargs="?", help=f"registered model name (default {DEFAULT_MODEL}; see 'ilsvrc models')")
    p.add_argument("--config", help="YAML file of TrainConfig fields; command-line flags override it")
    groups = {name: p.add_argument_group(title) for name, title in _GROUP_TITLES.items()}
    hints = typing.get_type_hints(TrainConfig)
    for f in fields(TrainConfig):
        if f.metadata.get("cli", True):
            groups[f.metadata["group"]].add_argument(_flag(f), **_argument(f, hints[f.name]))
    groups["data"].add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model option for create_model, e.g. --option shortcut=B (repeatable)",
    )
    groups["run"].add_argument("--amp", action="store_true", help="old spelling of --precision bf16")
    p.set_defaults(func=run)


def _parse_option(text: str) -> tuple[str, object]:
    import yaml

    from ilsvrc.errors import UserError

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UserError(f"--option wants KEY=VALUE, got {text!r}")
    try:
        return key, yaml.safe_load(value)
    except (yaml.YAMLError, RecursionError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"--option {key}: {value!r} is not a plain YAML value ({first})") from None


def _values(args: argparse.Namespace) -> dict[str, Any]:
    """TrainConfig values: the config file, then the saved run (on --resume), then the flags given."""
    from ilsvrc.errors import UserError
    from ilsvrc.train.config import TrainConfig, load_yaml

    explicit: dict[str, Any] = {}
    if args.model:
        explicit["model"] = args.model
    for f in fields(TrainConfig):
        if f.metadata.get("cli", True) and getattr(args, f.name) is not None:
            explicit[f.name] = getattr(args, f.name)
    if args.option:
        explicit["model_options"] = dict(map(_parse_option, args.option))
    if args.amp:
        explicit["amp"] = True
    values = load_yaml(args.config) if args.config else {}
    if explicit.get("resume") or (values.get("resume") and explicit.get("resume") is not False):
        out = explicit.get("out") or values.get("out")
        if not out:
            raise UserError("--resume needs --out DIR (the run to continue)")
        values = {**values, **_saved_config(Path(out))}
    if "model_options" in explicit:
        explicit["model_options"] = {**values.get("model_options", {}), **explicit["model_options"]}
    merged = {**values, **explicit}
    if "recipe" not in merged and "model" in explicit:  # a named model trains with its paper's recipe
        from ilsvrc.train.config import recipe_for

        merged["recipe"] = recipe_for(explicit["model"])
    return merged


def _saved_config(out: Path) -> dict[str, Any]:
    """The saved run's config (config.yaml, else the checkpoint's) without its run-control fields."""
    from ilsvrc.train.config import load_yaml
    from ilsvrc.train.setup import RUN_CONTROL

    path = out / "config.yaml"
    if path.is_file():
        saved = load_yaml(path)
    else:
        from ilsvrc.train.checkpoint import load

        last = out / "checkpoints" / "last.pt"
        saved = load(last)["config"] if last.is_file() else {}
    return {k: v for k, v in saved.items() if k not in RUN_CONTROL}


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    # OpenMP threads that spin while waiting make a CPU run several times slower when other processes share the
    # cores (measured 6.7 s vs 0.9 s per resnet20 step on a loaded 2-core VM); sleeping waits cost little when idle.
    # It only takes effect before torch is first imported; a value in the environment wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from ilsvrc.train import Interrupted, TrainConfig, train

    try:
        result = train(TrainConfig.from_dict(_values(args)))
    except Interrupted as stop:  # a clean stop with a checkpoint saved is not an error
        print(f"ilsvrc train: {stop}", file=sys.stderr, flush=True)
        return stop.exit_code
    s = result.summary
    if s["world_size"] > 1 and int(os.environ.get("RANK", "0")) != 0:
        return 0
    lines = [
        f"{s['model']} / {s['recipe']}: {s['steps']} steps ({s['epochs']:.2f} epochs) in {s['wall_s']:.0f} s, "
        f"{s['images_per_s']:.0f} images/s on {s['device']} x {s['world_size']} ({s['precision']}, "
        f"{s['threads']} threads), final lr {s['final_lr']:.3g}",
    ]
    if s["val_top1_error"] is not None:
        lines.append(
            f"validation: top-1 error {100 * s['val_top1_error']:.2f}% "
            f"(accuracy {100 * (1 - s['val_top1_error']):.2f}%)"
            f", top-5 error {100 * s['val_top5_error']:.2f}% on {s['val_images']} images"
        )
    if s.get("reached_target"):
        lines.append(
            f"ended at the training-error target (--stop-at-train-error): step {s['steps']} of {s['total_steps']}"
        )
    elif not s["finished"]:
        lines.append(f"stopped at step {s['steps']} of {s['total_steps']}; continue with --resume --out {s['out']}")
    files = "report.md, curves.png" if (Path(s["out"]) / "curves.png").is_file() else "report.md"
    lines.append(f"saved to {s['out']} ({files}, checkpoints/best.pt)")
    print("\n".join(lines), file=sys.stdout, flush=True)
    return 0
