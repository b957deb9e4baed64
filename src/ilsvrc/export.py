"""Export a trained checkpoint to ONNX (checked against PyTorch with onnxruntime), TorchScript or safetensors.

Every export carries what a user of the file needs without the checkpoint: the class names, the input size, the
normalisation (mean/std), the input layout and range, the model name and the checkpoint it came from. Files are
written to a temporary name in the target folder and renamed over the target only when complete, so a failed or
interrupted export leaves any earlier file untouched.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import stat
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ilsvrc.errors import RunError, UserError
from ilsvrc.safety import check_output_dir, write_error

# Default suffix per format. TorchScript gets its own, so it is never mistaken for a training checkpoint (`.pt`).
FORMATS = {"onnx": ".onnx", "torchscript": ".ts.pt", "safetensors": ".safetensors"}
TORCHSCRIPT_SUFFIXES = (".ts.pt", ".torchscript")
INPUT_NAME = "images"
METADATA_FORMAT = "ilsvrc-export 1"
INPUT_DOC = (
    "float32 (N, C, H, W) RGB (or grey for C=1) images, H = W = input_size; pixel values scaled to [0, 1] "
    "(divide uint8 by 255), then per channel (x - mean) / std with the mean and std in this file's metadata. "
    "Resize the shorter side to eval_resize (when set, else input_size) and centre-crop to input_size first."
)


def export_metadata(ckpt: dict[str, Any], source: str | Path) -> dict[str, str]:
    """String key/values written into every export (ONNX metadata_props, safetensors header, TorchScript extra)."""
    return {
        "format": METADATA_FORMAT,
        "model": ckpt["config"]["model"],
        "model_options": json.dumps(ckpt["config"].get("model_options", {})),
        "classes": json.dumps(ckpt["classes"]),
        "num_classes": str(ckpt["num_classes"]),
        "in_chans": str(ckpt["in_chans"]),
        "mean": json.dumps(list(ckpt["mean"])),
        "std": json.dumps(list(ckpt["std"])),
        "input_size": str(ckpt["input_size"]),
        "eval_resize": json.dumps(ckpt.get("eval_resize")),
        "input_name": INPUT_NAME,
        "input_layout": "NCHW",
        "input_range": "(x / 255 - mean) / std, x in 0..255",
        "output": "logits (N, num_classes); softmax gives class probabilities in the order of 'classes'",
        "source_checkpoint": str(source),
    }


def default_path(checkpoint: str | Path, name: str, to: str) -> Path:
    """Next to the checkpoint (inside a run directory when given one), named after the model."""
    ckpt = Path(checkpoint)
    folder = ckpt if ckpt.is_dir() else ckpt.parent
    return folder / f"{name}{FORMATS[to]}"


def check_target(path: Path, to: str, checkpoint: str | Path) -> None:
    """One line, before any work, for a target that must not be written: not a regular file, the checkpoint itself,
    or a TorchScript name a user would take for a checkpoint."""
    check_output_dir(path.parent)  # a parent that is a file, read-only, ...: one line
    if to == "torchscript" and not path.name.endswith(TORCHSCRIPT_SUFFIXES):
        raise UserError(
            f"--out {path}: name a TorchScript file *.ts.pt or *.torchscript, so it is not taken for a checkpoint"
        )
    if path.exists() or path.is_symlink():
        mode = os.lstat(path).st_mode
        if not stat.S_ISREG(mode):
            raise UserError(f"--out {path} exists and is not a regular file; give a file path to (re)write")
        src = Path(checkpoint)
        if src.exists() and path.resolve() == src.resolve():
            raise UserError(f"--out {path} is the checkpoint being exported; give another file name")


def write_replacing(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file next to `path`, fsync it and rename it over `path`; on any failure or
    interruption the temporary file is removed and `path` is left as it was.

    The exports are serialised to bytes first: torch.jit.save writing to a file aborts the process when the disk
    fills (a C++ exception in a destructor), while a plain Python write raises an OSError we can report."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise write_error(path, err) from None
    finally:
        tmp.unlink(missing_ok=True)


def export(checkpoint: str | Path, to: str, out: str | Path | None = None, check: bool = True) -> dict[str, Any]:
    """Write the model in `to` format; returns {"path", "format", "metadata", and for ONNX "max_abs_diff"}."""
    from ilsvrc.evaluate import load_checkpoint_model

    if to not in FORMATS:
        raise UserError(f"--to must be one of {', '.join(FORMATS)}, got {to!r}")
    model, ckpt = load_checkpoint_model(checkpoint, "cpu")
    path = Path(out) if out else default_path(checkpoint, ckpt["config"]["model"], to)
    check_target(path, to, checkpoint)
    size = ckpt["input_size"]
    example = torch.randn(2, ckpt["in_chans"], size, size, generator=torch.Generator().manual_seed(0))
    metadata = export_metadata(ckpt, checkpoint)
    result: dict[str, Any] = {"path": str(path), "format": to, "metadata": metadata}
    if to == "safetensors":
        from safetensors.torch import save

        data = save({k: v.contiguous() for k, v in model.state_dict().items()}, metadata=metadata)
    elif to == "torchscript":
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.save's deprecation notice
            torch.jit.save(_trace(model, example), buffer, _extra_files={"ilsvrc.json": json.dumps(metadata)})
        data = buffer.getvalue()
    else:
        data = _export_onnx(model, example, metadata)
        if check:
            result["max_abs_diff"] = onnx_parity(model, data, example)
    write_replacing(path, data)
    return result


def _trace(model: torch.nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    with torch.no_grad(), warnings.catch_warnings():
        # TorchScript is deprecated in favour of torch.export but still the format many deployments load;
        # the input-check hook's shape tests trace as constants, which is right for a fixed input size.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        return torch.jit.trace(model, example)


def _export_onnx(model: torch.nn.Module, example: torch.Tensor, metadata: dict[str, str]) -> bytes:
    """The serialised ONNX model (external_data off: one self-contained file), metadata and docs filled in."""
    try:
        import onnx  # noqa: F401  (torch.onnx's exporter builds its model with it)
    except ImportError:
        raise UserError("ONNX export needs the onnx extra: pip install 'ilsvrc[onnx]'") from None
    batch = torch.export.Dim("batch", min=1)
    with torch.no_grad(), warnings.catch_warnings(), _interrupts_stay_interrupts():
        warnings.simplefilter("ignore", (FutureWarning, DeprecationWarning, UserWarning))
        program = torch.onnx.export(
            model,
            (example,),
            input_names=[INPUT_NAME],
            output_names=["logits"],
            dynamic_shapes=({0: batch},),
            dynamo=True,
            verbose=False,
        )
    proto = program.model_proto
    proto.doc_string = f"{metadata['model']} exported by ilsvrc from {metadata['source_checkpoint']}"
    for value in proto.graph.input:
        if value.name == INPUT_NAME:
            value.doc_string = INPUT_DOC
    for value in proto.graph.output:
        value.doc_string = metadata["output"]
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    return proto.SerializeToString()


@contextlib.contextmanager
def _interrupts_stay_interrupts() -> Iterator[None]:
    """Ctrl-C inside torch.onnx.export is often swallowed: it lands in a lazy import, and the exporter then
    retries other capture strategies, which fail on the half-imported module and end in a long report. Record
    the interrupt, and turn whatever the exporter raises afterwards back into a KeyboardInterrupt (the CLI prints
    one line); other exporter failures become one RunError line (--debug shows the exporter's report)."""
    interrupted = False

    def on_sigint(signum: int, frame: Any) -> None:
        nonlocal interrupted
        interrupted = True
        raise KeyboardInterrupt

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if main else None
    try:
        yield
        if interrupted:  # swallowed by a retry that then succeeded: still a stop the user asked for
            raise KeyboardInterrupt
    except Exception as err:
        if interrupted:
            raise KeyboardInterrupt from None
        if os.environ.get("ILSVRC_DEBUG"):
            raise
        first = next((line for line in str(err).splitlines() if line.strip()), type(err).__name__)
        raise RunError(f"ONNX export failed: {first} (--debug shows the exporter's report)") from None
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)


def onnx_parity(model: torch.nn.Module, onnx_model: bytes | Path, example: torch.Tensor, tol: float = 1e-3) -> float:
    """Largest |PyTorch - onnxruntime| logit difference on `example`; RunError above `tol`."""
    import onnxruntime as ort

    source = onnx_model if isinstance(onnx_model, bytes) else str(onnx_model)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: example.numpy()})
    with torch.no_grad():
        want = model(example).float()
    diff = float((torch.from_numpy(got) - want).abs().max())
    if not diff <= tol * max(1.0, float(want.abs().max())):
        raise RunError(f"ONNX output differs from PyTorch by {diff:.3g} (tolerance {tol})")
    return diff
