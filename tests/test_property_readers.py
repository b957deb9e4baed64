"""Property tests: the IDX, CIFAR and packed readers and the config parser, fed generated input.

The property everywhere: a reader either returns data whose labels are valid class indices, or raises UserError
(one line, naming the file). Any other exception is a crash a user would see as a traceback.
"""

from __future__ import annotations

import json
import math
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ilsvrc.data import load_dataset, read_idx
from ilsvrc.data.packed import load_packed
from ilsvrc.data.sources import read_cifar_batch
from ilsvrc.errors import UserError
from ilsvrc.train.config import TrainConfig, load_yaml

FAST = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
SLOWER = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


def one_line(err: UserError) -> None:
    assert str(err) and "\n" not in str(err).strip(), repr(str(err))


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


# ---------------------------------------------------------------------------------------------- IDX

idx_dims = st.lists(st.integers(0, 6), min_size=0, max_size=4)


@st.composite
def idx_bytes(draw) -> bytes:
    """Mostly near-valid IDX files (right magic, random dims, data a little short or long), some pure noise."""
    if draw(st.booleans()) and draw(st.booleans()):
        return draw(st.binary(max_size=64))
    dims = draw(idx_dims)
    dtype = draw(st.sampled_from([0x08, 0x08, 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF]))
    zeros = draw(st.sampled_from([b"\x00\x00", b"\x00\x00", b"\x01\x00", b"\x00\x07"]))
    header = zeros + bytes([dtype, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    n = math.prod(dims) if dims else 0
    delta = draw(st.sampled_from([0, 0, 0, -1, 1, -n]))
    return header + bytes(draw(st.integers(0, 255)) for _ in range(max(0, n + delta)))


@FAST
@given(data=idx_bytes())
def test_read_idx_returns_an_array_of_the_header_shape_or_a_user_error(scratch, data):
    path = scratch / "x-images-idx3-ubyte"
    path.write_bytes(data)
    try:
        arr = read_idx(path)
    except UserError as err:
        one_line(err)
        assert str(path) in str(err)
        return
    assert arr.dtype == np.uint8
    assert tuple(arr.shape) == tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(data[3]))


@SLOWER
@given(
    n=st.integers(0, 5),
    labels=st.lists(st.integers(0, 255), min_size=0, max_size=6),
    fashion=st.booleans(),
    side=st.integers(0, 4),
)
def test_idx_folder_labels_are_class_indices_or_a_user_error(scratch, n, labels, fashion, side):
    folder = scratch / ("fashion-idx" if fashion else "digits-idx") / f"{n}-{len(labels)}-{side}-{sum(labels)}"
    folder.mkdir(parents=True, exist_ok=True)
    images = np.zeros((n, side, side), dtype=np.uint8)
    for split in ("train", "t10k"):
        (folder / f"{split}-images-idx3-ubyte").write_bytes(
            bytes([0, 0, 8, 3]) + np.array(images.shape, ">i4").tobytes() + images.tobytes()
        )
        (folder / f"{split}-labels-idx1-ubyte").write_bytes(
            bytes([0, 0, 8, 1]) + np.array([len(labels)], ">i4").tobytes() + bytes(labels)
        )
    try:
        ds = load_dataset(folder, "train")
    except UserError as err:
        one_line(err)
        return
    assert len(ds) == n == len(labels)
    assert all(0 <= y < len(ds.classes) for y in ds.labels.tolist())


# ---------------------------------------------------------------------------------------------- CIFAR

plain = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=True) | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


@FAST
@given(obj=plain, protocol=st.integers(0, pickle.HIGHEST_PROTOCOL), cut=st.integers(0, 3))
def test_read_cifar_batch_takes_any_pickle_or_bytes_without_crashing(scratch, obj, protocol, cut):
    data = pickle.dumps(obj, protocol=protocol)
    data = data[: len(data) - cut] if cut else data
    path = scratch / "data_batch_1"
    path.write_bytes(data)
    try:
        out = read_cifar_batch(path)
    except UserError as err:
        one_line(err)
        assert str(path) in str(err)
        return
    assert isinstance(out, dict)


@FAST
@given(data=st.binary(max_size=200))
def test_read_cifar_batch_takes_random_bytes(scratch, data):
    path = scratch / "data_batch_2"
    path.write_bytes(data)
    try:
        read_cifar_batch(path)
    except UserError as err:
        one_line(err)


@SLOWER
@given(
    n=st.integers(0, 4),
    rows=st.integers(0, 4),
    width=st.sampled_from([3072, 3072, 3071, 0]),
    labels=st.one_of(st.lists(st.integers(-3, 12), max_size=5), plain),
    names=st.one_of(st.lists(st.text(max_size=3), min_size=1, max_size=4), plain),
)
def test_cifar_folder_labels_are_class_indices_or_a_user_error(scratch, n, rows, width, labels, names):
    folder = scratch / f"cifar-{abs(hash((n, rows, width, repr(labels), repr(names))))}"
    folder.mkdir(exist_ok=True)
    batch = {"data": np.zeros((rows, width), dtype=np.uint8), "labels": labels}
    for name in ("data_batch_1", "test_batch"):
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names}))
    try:
        ds = load_dataset(folder, "train")
    except UserError as err:
        one_line(err)
        return
    assert len(ds) == rows == len(labels)
    assert all(0 <= y < len(ds.classes) for y in ds.labels.tolist())


# ---------------------------------------------------------------------------------------------- packed

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=10,
)


@st.composite
def packed_folder(draw) -> tuple[dict | object, np.ndarray, np.ndarray]:
    count = draw(st.integers(0, 4))
    classes = draw(st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=3))
    meta: dict = {
        "format": "ilsvrc-packed",
        "version": 1,
        "split": "train",
        "count": count,
        "size": 2,
        "channels": 3,
        "classes": classes,
        "mean": [0.5, 0.5, 0.5],
        "std": [0.2, 0.2, 0.2],
    }
    for key in draw(st.lists(st.sampled_from(sorted(meta)), max_size=2)):  # break a field or two
        if draw(st.booleans()):
            meta.pop(key, None)
        else:
            meta[key] = draw(json_values)
    if draw(st.integers(0, 9)) == 0:
        meta = draw(json_values)
    n_img = draw(st.sampled_from([count, count, count + 1]))
    shape = draw(st.sampled_from([(n_img, 2, 2, 3), (n_img, 2, 2, 3), (n_img, 4), (n_img, 2, 2, 1)]))
    dtype = draw(st.sampled_from([np.uint8, np.uint8, np.float32]))
    labels = np.array(draw(st.lists(st.integers(-2, 5), min_size=count, max_size=count + 1)), dtype=np.int64)
    return meta, np.zeros(shape, dtype=dtype), labels


@SLOWER
@given(case=packed_folder())
def test_load_packed_gives_valid_labels_or_a_user_error(scratch, case):
    meta, images, labels = case
    folder = scratch / "packed"
    folder.mkdir(exist_ok=True)
    (folder / "meta.json").write_text(json.dumps(meta))
    np.save(folder / "images.npy", images)
    np.save(folder / "labels.npy", labels)
    try:
        ds = load_packed(folder)
    except UserError as err:
        one_line(err)
        return
    assert ds.images.ndim == 4 and len(ds.images) == len(ds.labels)
    assert all(0 <= y < len(ds.classes) for y in ds.labels.tolist())


# ---------------------------------------------------------------------------------------------- config

FIELDS = [f for f in TrainConfig.__dataclass_fields__ if f not in ("out", "data", "resume", "progress")]
value = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 1000), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["resnet20", "quick", "sgd", "cosine", "pad-crop-flip", "cpu", "x", ""]),
    st.lists(st.floats(-1, 2), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)  # fmt: skip


@FAST
@given(d=st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=4), value, max_size=5))
def test_train_config_from_any_mapping_is_valid_or_a_user_error(d):
    try:
        cfg = TrainConfig.from_dict(d).resolve()
    except UserError as err:
        one_line(err)
        return
    again = TrainConfig.from_dict(cfg.to_dict())  # what a checkpoint stores must load back
    assert again.to_dict() == cfg.to_dict()


@FAST
@given(text=st.text(max_size=80) | st.builds(yaml.safe_dump, st.dictionaries(st.sampled_from(FIELDS), value)))
def test_yaml_config_text_is_valid_or_a_user_error(scratch, text):
    path = scratch / "config.yaml"
    path.write_text(text)
    try:
        TrainConfig.from_dict(load_yaml(path))
    except UserError as err:
        one_line(err)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=60))
def test_yaml_config_bytes_are_valid_or_a_user_error(scratch, data):
    path = scratch / "config-bytes.yaml"
    path.write_bytes(data)
    try:
        TrainConfig.from_dict(load_yaml(path))
    except UserError as err:
        one_line(err)


# ---------------------------------------------------------------------------------------------- checkpoints

plain = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
FIELDS = ["config", "num_classes", "in_chans", "classes", "input_size", "eval_resize", "mean", "std", "model", "ema"]


@pytest.fixture(scope="module")
def good_checkpoint() -> dict:

    from ilsvrc.models import create_model
    from ilsvrc.train import checkpoint as ckpt_io

    return {
        "format": ckpt_io.FORMAT,
        "format_version": ckpt_io.FORMAT_VERSION,
        "config": {"model": "resnet20", "model_options": {}},
        "num_classes": 3,
        "in_chans": 3,
        "classes": ["a", "b", "c"],
        "input_size": 32,
        "eval_resize": None,
        "mean": [0.5] * 3,
        "std": [0.25] * 3,
        "model": {k: v.clone() for k, v in create_model("resnet20", num_classes=3).state_dict().items()},
        "ema": None,
        "history": [],
    }


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(field=st.sampled_from(FIELDS), value=plain, where=st.sampled_from(["replace", "inside"]))
def test_a_checkpoint_with_any_field_replaced_loads_into_a_model_or_is_one_user_error(
    scratch, good_checkpoint, field, value, where
):
    """Every field a caller reads, replaced by any plain value (or with one added inside it, e.g.
    config.model_options.num_classes): either load + model + transform + forward work, or one UserError."""
    import torch

    from ilsvrc.evaluate import eval_transform, load_checkpoint_model
    from ilsvrc.safety import checksum

    ckpt = {**good_checkpoint, "config": {**good_checkpoint["config"], "model_options": {}}}
    old = ckpt[field]
    if where == "replace":
        ckpt[field] = value
    elif field == "config":
        ckpt["config"]["model_options"] = value if isinstance(value, dict) else {"num_classes": value}
    elif isinstance(old, dict):  # one more entry: a weight that is not a tensor, say
        ckpt[field] = {**old, "fc.extra": value}
    elif isinstance(old, list):
        ckpt[field] = [*old[:-1], value]  # the last entry replaced
    else:
        ckpt[field] = [old, value]
    ckpt["checksum"] = checksum({k: v for k, v in ckpt.items() if k != "checksum"})
    path = scratch / "ckpt.pt"
    torch.save(ckpt, path)
    try:
        model, loaded = load_checkpoint_model(path)
        x = eval_transform(loaded)(torch.zeros(1, 40, 40, loaded["in_chans"], dtype=torch.uint8))
        assert model(x).shape == (1, loaded["num_classes"])
    except UserError as err:
        one_line(err)
