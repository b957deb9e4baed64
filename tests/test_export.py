"""Export: ONNX checked against PyTorch with onnxruntime and self-describing, TorchScript and safetensors round trips,
predict from an ONNX file's own metadata, and exports that never leave a broken file where a good one was."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from ilsvrc.cli import main
from ilsvrc.data.dataset import ArrayDataset
from ilsvrc.errors import RunError, UserError
from ilsvrc.evaluate import load_checkpoint_model
from ilsvrc.export import INPUT_NAME, export
from ilsvrc.predict import predict
from ilsvrc.train import TrainConfig, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("export")
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(32) % 4
    images = (torch.rand(32, 16, 16, 3, generator=g) * 200).to(torch.uint8)
    ds = ArrayDataset(images, labels, ["a", "b", "c", "d"], (0.5, 0.4, 0.3), (0.3, 0.2, 0.25))
    cfg = TrainConfig(
        model="resnet20",
        recipe="quick",
        epochs=1,
        batch_size=16,
        out=str(root / "run"),
        progress=False,
        tensorboard=False,
    )
    train(cfg, ds, ds)
    return root / "run" / "checkpoints" / "last.pt"


@pytest.fixture(scope="module")
def onnx_file(checkpoint, tmp_path_factory) -> Path:
    pytest.importorskip("onnxruntime")
    res = export(checkpoint, "onnx", tmp_path_factory.mktemp("onnx") / "m.onnx")
    assert res["max_abs_diff"] < 1e-3
    return Path(res["path"])


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    from PIL import Image

    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    paths = []
    for i, (h, w) in enumerate([(40, 30), (16, 16), (23, 57)]):
        paths.append(root / f"p{i}.png")
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(paths[-1])
    return paths


def test_onnx_matches_pytorch_in_onnxruntime(checkpoint, onnx_file):
    import onnxruntime as ort

    model, _ = load_checkpoint_model(checkpoint)
    x = torch.randn(5, 3, 16, 16)  # another batch size than the export example: the batch axis is dynamic
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        want = model(x).numpy()
    assert np.abs(got - want).max() < 1e-3


def test_onnx_file_describes_itself(checkpoint, onnx_file):
    import onnx

    proto = onnx.load(str(onnx_file))
    meta = {p.key: p.value for p in proto.metadata_props}
    ckpt = torch.load(checkpoint, weights_only=True)
    assert json.loads(meta["classes"]) == ["a", "b", "c", "d"]
    assert json.loads(meta["mean"]) == pytest.approx(list(ckpt["mean"]))
    assert json.loads(meta["std"]) == pytest.approx(list(ckpt["std"]))
    assert (meta["model"], meta["input_size"], meta["in_chans"], meta["input_layout"]) == (
        "resnet20",
        "16",
        "3",
        "NCHW",
    )
    assert meta["source_checkpoint"] == str(checkpoint)
    (inp,) = proto.graph.input
    assert inp.name == INPUT_NAME == meta["input_name"]
    assert "mean" in inp.doc_string and "255" in inp.doc_string
    assert "resnet20" in proto.doc_string


def test_predict_from_onnx_alone_matches_the_checkpoint(checkpoint, onnx_file, photos, tmp_path):
    # The ONNX file travels alone: copied away from the run, it still names classes and normalises its input.
    alone = tmp_path / "elsewhere" / "model.onnx"
    alone.parent.mkdir()
    alone.write_bytes(onnx_file.read_bytes())
    want = predict(checkpoint, photos, top=4)
    got = predict(alone, photos, top=4)
    for w, g in zip(want, got, strict=True):
        assert [name for name, _ in g["top"]] == [name for name, _ in w["top"]]
        assert [p for _, p in g["top"]] == pytest.approx([p for _, p in w["top"]], abs=1e-4)
    assert sum(p for _, p in got[0]["top"]) == pytest.approx(1.0, abs=1e-5)


def test_predict_refuses_onnx_without_metadata(onnx_file, photos, tmp_path):
    import onnx

    proto = onnx.load(str(onnx_file))
    del proto.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(proto, str(bare))
    with pytest.raises(UserError, match="no ilsvrc metadata"):
        predict(bare, photos[:1])


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_and_safetensors_round_trip(checkpoint, photos, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file

    model, _ = load_checkpoint_model(checkpoint)
    x = torch.randn(2, 3, 16, 16)
    ts = export(checkpoint, "torchscript", tmp_path / "m.ts.pt")
    extra = {"ilsvrc.json": ""}
    loaded = torch.jit.load(ts["path"], _extra_files=extra)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-5)
    assert json.loads(json.loads(extra["ilsvrc.json"])["classes"]) == ["a", "b", "c", "d"]
    # predict recognises TorchScript and says what it is (not a pickle "that could run code")
    with pytest.raises(UserError, match="TorchScript export") as err:
        predict(ts["path"], photos[:1])
    assert "unpickled" not in str(err.value)
    with pytest.raises(UserError, match="is a TorchScript export"):
        load_checkpoint_model(ts["path"])  # evaluate and export say what it is too
    with pytest.raises(UserError, match=r"\.ts\.pt or \*\.torchscript"):
        export(checkpoint, "torchscript", tmp_path / "m.pt")
    st = export(checkpoint, "safetensors", tmp_path / "m.safetensors")
    state = load_file(st["path"])
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    with safe_open(st["path"], "pt") as f:
        meta = f.metadata()
    assert meta["model"] == "resnet20" and json.loads(meta["classes"]) == ["a", "b", "c", "d"]
    assert json.loads(meta["std"]) == pytest.approx([0.3, 0.2, 0.25], rel=1e-3)
    with pytest.raises(UserError, match="is a safetensors export"):
        predict(st["path"], photos[:1])


def test_default_names_next_to_the_run(checkpoint):
    run = checkpoint.parents[1]
    res = export(run, "torchscript")
    assert Path(res["path"]) == run / "resnet20.ts.pt"
    Path(res["path"]).unlink()


def test_failed_export_keeps_the_earlier_file(checkpoint, tmp_path, monkeypatch):
    import ilsvrc.export as ex

    target = tmp_path / "m.safetensors"
    export(checkpoint, "safetensors", target)
    good = target.read_bytes()

    def disk_full(fd):  # the data is half on disk in the temporary file when the disk fills
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ex.os, "fsync", disk_full)
    with pytest.raises(RunError, match="disk is full"):
        ex.export(checkpoint, "safetensors", target)
    assert target.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # no temporary file left


def test_export_refuses_non_regular_targets(checkpoint, tmp_path):
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="not a regular file"):
        export(checkpoint, "safetensors", fifo)
    with pytest.raises(UserError, match="not a regular file"):
        export(checkpoint, "safetensors", "/dev/null")
    assert Path("/dev/null").is_char_device()
    with pytest.raises(UserError, match="is the checkpoint being exported"):
        export(checkpoint, "safetensors", checkpoint)


def test_export_under_ulimit_f_keeps_the_earlier_file(checkpoint, tmp_path):
    # A real write failure (RLIMIT_FSIZE: the kernel refuses the write past 64 KiB), not an injected one.
    import subprocess
    import sys

    target = tmp_path / "m.ts.pt"
    target.write_bytes(b"earlier good file")
    code = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536)); "
        "from ilsvrc.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", code, "export", str(checkpoint), "--to", "torchscript", "--out", str(target)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "cannot write" in proc.stderr
    assert target.read_bytes() == b"earlier good file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ts.pt"]


def test_cli_predict_with_onnx(onnx_file, photos, capsys):
    assert main(["predict", str(onnx_file), str(photos[0]), "--top", "2", "--format", "json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert len(result["top"]) == 2 and result["top"][0][0] in "abcd"


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height pixels (8-bit RGB) with a tiny compressed body: a decompression bomb."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    body = zlib.compress(b"\0" * 1024)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def test_predict_refuses_hostile_images_in_one_line(checkpoint, tmp_path, capsys):
    bomb = _png_header_only(tmp_path / "bomb.png", 30_000, 30_000)  # 900 M pixels in 60 bytes
    maxval0 = tmp_path / "max0.ppm"
    maxval0.write_bytes(b"P6\n4 4\n0\n" + bytes(48))
    for image in (bomb, maxval0, tmp_path):
        assert main(["predict", str(checkpoint), str(image)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(image) in err, err


def test_ctrl_c_inside_the_onnx_exporter_stays_an_interrupt(checkpoint, tmp_path, monkeypatch, capsys):
    # torch.onnx.export catches what a Ctrl-C breaks (a half-imported module) and retries, ending in a long report;
    # this stand-in does the same: the interrupt must still reach the user as one "interrupted" line.
    import signal

    pytest.importorskip("onnx")

    def exporter_that_swallows(*args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)  # the user's Ctrl-C, delivered inside the exporter
        except BaseException:  # what the exporter's capture strategies do
            raise RuntimeError("partially initialized module 'torch._dynamo' has no attribute 'utils'") from None

    monkeypatch.setattr("torch.onnx.export", exporter_that_swallows)
    target = tmp_path / "m.onnx"
    target.write_bytes(b"earlier good file")
    assert main(["export", str(checkpoint), "--to", "onnx", "--out", str(target)]) == 130
    assert capsys.readouterr().err == "ilsvrc export: interrupted\n"
    assert target.read_bytes() == b"earlier good file" and sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]

    def exporter_that_fails(*args, **kwargs):
        raise RuntimeError("Failed to export the model with torch.export.\n" + "detail line\n" * 80)

    monkeypatch.setattr("torch.onnx.export", exporter_that_fails)
    assert main(["export", str(checkpoint), "--to", "onnx", "--out", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ONNX export failed: Failed to export the model" in err
