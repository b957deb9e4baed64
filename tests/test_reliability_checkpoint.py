"""Checkpoint safety: no code runs on load, a checksum catches corruption, mismatches are named, a full disk
loses nothing. (The command-line view of the same cases is in test_reliability_table.py.)"""

from __future__ import annotations

import ast
import errno
import os
import pickle
from pathlib import Path

import pytest
import torch

from ilsvrc.errors import RunError, UserError
from ilsvrc.models import create_model
from ilsvrc.safety import checksum, load_state_dict_checked
from ilsvrc.train import checkpoint as ckpt_io

SRC = Path(__file__).resolve().parents[1] / "src" / "ilsvrc"


def _calls(tree: ast.AST, dotted: str):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == dotted:
            yield node


def test_every_torch_load_in_the_source_uses_weights_only_true():
    found = 0
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for call in _calls(tree, "torch.load"):
            found += 1
            kw = {k.arg: k.value for k in call.keywords}
            assert isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True, (
                f"{path}:{call.lineno}: torch.load without weights_only=True"
            )
        for name in ("pickle.load", "pickle.loads", "torch.serialization.load"):
            assert not list(_calls(tree, name)), f"{path}: {name} can run code; use a restricted unpickler"
    assert found >= 1  # the scan must see the checkpoint loader itself


class _Marker:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_the_marker_pickle_really_runs_code_when_unpickled_the_unsafe_way(tmp_path):
    """Guards the 'marker never created' checks: the payload they refuse is live."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Marker(marker)))  # on purpose
    assert marker.exists()


def test_a_checkpoint_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"format": ckpt_io.FORMAT, "model": _Marker(marker)}, path)
    with pytest.raises(UserError, match=r"refusing to load checkpoint .*evil\.pt.*posix\.system"):
        ckpt_io.load(path)
    assert not marker.exists()


def minimal_checkpoint(value: float = 1.0) -> dict:
    return {
        "format": ckpt_io.FORMAT,
        "format_version": ckpt_io.FORMAT_VERSION,
        "config": {"model": "resnet20"},
        "num_classes": 2,
        "in_chans": 3,
        "classes": ["a", "b"],
        "input_size": 32,
        "mean": [0.5, 0.5, 0.5],
        "std": [0.25, 0.25, 0.25],
        "model": {"w": torch.full((1000,), value), "fc.bias": torch.zeros(2)},
    }


def test_saved_checkpoints_carry_a_format_version_and_a_checksum_that_catches_edits(tmp_path):
    path = tmp_path / "last.pt"
    ckpt_io.save_atomic(minimal_checkpoint(), path)
    raw = torch.load(path, weights_only=True)
    assert raw["format_version"] == ckpt_io.FORMAT_VERSION and len(raw["checksum"]) == 64
    assert ckpt_io.load(path)["model"]["w"][0] == 1.0
    raw["model"]["w"][3] = 2.0  # one value changed, the stored checksum kept
    torch.save(raw, path)
    with pytest.raises(UserError, match=r"last\.pt: checksum mismatch"):
        ckpt_io.load(path)


def test_checksum_covers_values_dtypes_shapes_and_keys():
    base = minimal_checkpoint()
    variants = [
        {**base, "classes": ["a", "c"]},
        {**base, "model": {"w": torch.full((1000,), 1.0, dtype=torch.float64)}},
        {**base, "model": {"w": torch.full((10, 100), 1.0)}},
        {**base, "model": {"v": torch.full((1000,), 1.0)}},
        {**base, "num_classes": 2.0},
    ]
    digests = {checksum(v) for v in variants}
    assert checksum(base) not in digests and len(digests) == len(variants)
    assert checksum(base) == checksum(minimal_checkpoint())


@pytest.mark.parametrize("stage", ["open", "mid-write"])
def test_a_full_disk_is_one_line_and_the_previous_checkpoint_survives(tmp_path, monkeypatch, stage):
    path = tmp_path / "last.pt"
    ckpt_io.save_atomic(minimal_checkpoint(1.0), path)

    real_save = torch.save

    def full_disk(obj, f, *a, **k):
        if stage == "mid-write":
            f.write(b"PK\x03\x04 partial bytes")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(RunError) as info:
        ckpt_io.save_atomic(minimal_checkpoint(2.0), path)
    monkeypatch.setattr(torch, "save", real_save)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "disk is full" in message
    assert ckpt_io.load(path)["model"]["w"][0] == 1.0  # the previous checkpoint, intact
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left behind


def test_loading_weights_into_another_class_count_names_the_keys_and_shapes():
    state = create_model("resnet20", num_classes=10).state_dict()
    with pytest.raises(UserError) as info:
        load_state_dict_checked(create_model("resnet20", num_classes=5), state, "run/last.pt")
    msg = str(info.value)
    assert msg.startswith("run/last.pt does not fit resnet20")
    assert "fc.weight: checkpoint [10, 64] vs model [5, 64]" in msg and "fc.bias" in msg and "\n" not in msg


def test_loading_weights_into_another_model_names_missing_and_unexpected_keys():
    state = create_model("resnet32", num_classes=10).state_dict()
    with pytest.raises(UserError, match=r"unexpected keys \['layer1\.3\.") as info:
        load_state_dict_checked(create_model("resnet20", num_classes=10), state, "x.pt")
    assert "+" in str(info.value)  # more than three: counted, not listed
    model = create_model("resnet20", num_classes=10)
    load_state_dict_checked(model, create_model("resnet20", num_classes=10).state_dict(), "ok.pt")  # fits: loads
