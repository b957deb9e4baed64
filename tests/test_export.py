"""Export: ONNX checked against PyTorch with onnxruntime, TorchScript and safetensors round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ilsvrc.data.dataset import ArrayDataset
from ilsvrc.evaluate import load_checkpoint_model
from ilsvrc.export import export
from ilsvrc.train import TrainConfig, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("export")
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(32) % 4
    images = (torch.rand(32, 16, 16, 3, generator=g) * 200).to(torch.uint8)
    ds = ArrayDataset(images, labels, ["a", "b", "c", "d"], (0.5,) * 3, (0.3,) * 3)
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


def test_onnx_matches_pytorch_in_onnxruntime(checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")
    import numpy as np
    import onnxruntime as ort

    res = export(checkpoint, "onnx", tmp_path / "m.onnx")
    assert res["max_abs_diff"] < 1e-3
    model, _ = load_checkpoint_model(checkpoint)
    x = torch.randn(5, 3, 16, 16)  # another batch size than the export example: the batch axis is dynamic
    session = ort.InferenceSession(res["path"], providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        want = model(x).numpy()
    assert np.abs(got - want).max() < 1e-3


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_and_safetensors_round_trip(checkpoint, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file

    model, _ = load_checkpoint_model(checkpoint)
    x = torch.randn(2, 3, 16, 16)
    ts = export(checkpoint, "torchscript", tmp_path / "m.pt")
    loaded = torch.jit.load(ts["path"])
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-5)
    st = export(checkpoint, "safetensors", tmp_path / "m.safetensors")
    state = load_file(st["path"])
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    with safe_open(st["path"], "pt") as f:
        assert f.metadata()["model"] == "resnet20"
