"""Export a trained checkpoint to ONNX (checked against PyTorch with onnxruntime), TorchScript or safetensors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch

from ilsvrc.errors import RunError, UserError
from ilsvrc.safety import check_output_dir

FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "safetensors": ".safetensors"}


def export(checkpoint: str | Path, to: str, out: str | Path | None = None, check: bool = True) -> dict[str, Any]:
    """Write the model in `to` format; returns {"path", "format", and for ONNX "max_abs_diff"}."""
    from ilsvrc.evaluate import load_checkpoint_model

    if to not in FORMATS:
        raise UserError(f"--to must be one of {', '.join(FORMATS)}, got {to!r}")
    model, ckpt = load_checkpoint_model(checkpoint, "cpu")
    name = ckpt["config"]["model"]
    path = Path(out) if out else Path(checkpoint).with_suffix("").with_name(f"{name}{FORMATS[to]}")
    if Path(checkpoint).is_dir() and not out:
        path = Path(checkpoint) / f"{name}{FORMATS[to]}"
    check_output_dir(path.parent)  # a parent that is a file: one line, before any work
    path.parent.mkdir(parents=True, exist_ok=True)
    size = ckpt["input_size"]
    example = torch.randn(2, ckpt["in_chans"], size, size, generator=torch.Generator().manual_seed(0))
    metadata = {
        "model": name,
        "classes": json.dumps(ckpt["classes"]),
        "mean": json.dumps(ckpt["mean"]),
        "std": json.dumps(ckpt["std"]),
        "input_size": str(size),
        "eval_resize": str(ckpt.get("eval_resize")),
        "model_options": json.dumps(ckpt["config"].get("model_options", {})),
    }
    result: dict[str, Any] = {"path": str(path), "format": to}
    if to == "safetensors":
        from safetensors.torch import save_file

        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(path), metadata=metadata)
    elif to == "torchscript":
        with torch.no_grad(), warnings.catch_warnings():
            # TorchScript is deprecated in favour of torch.export but still the format many deployments load;
            # the input-check hook's shape tests trace as constants, which is right for a fixed input size.
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            scripted = torch.jit.trace(model, example)
            torch.jit.save(scripted, str(path), _extra_files={"ilsvrc.json": json.dumps(metadata)})
    else:
        _export_onnx(model, example, path)
        if check:
            result["max_abs_diff"] = onnx_parity(model, path, example)
    return result


def _export_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise UserError("ONNX export needs the onnx extra: pip install 'ilsvrc[onnx]'") from None
    batch = torch.export.Dim("batch", min=1)
    with torch.no_grad():
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=["images"],
            output_names=["logits"],
            dynamic_shapes=({0: batch},),
            dynamo=True,
            external_data=False,
        )


def onnx_parity(model: torch.nn.Module, path: Path, example: torch.Tensor, tol: float = 1e-3) -> float:
    """Largest |PyTorch - onnxruntime| logit difference on `example`; RunError above `tol`."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: example.numpy()})
    with torch.no_grad():
        want = model(example).float()
    diff = float((torch.from_numpy(got) - want).abs().max())
    if not diff <= tol * max(1.0, float(want.abs().max())):
        raise RunError(f"ONNX output differs from PyTorch by {diff:.3g} (tolerance {tol})")
    return diff
