"""The e2e suite: its CIFAR subset is real CIFAR in CIFAR's own format, and the whole suite runs end to end."""

from __future__ import annotations

import pytest
import torch

from ilsvrc.bench.e2e import PLAIN_LOOP, run_e2e, write_cifar_subset
from ilsvrc.data import load_dataset
from ilsvrc.data.sources import read_cifar_batch
from ilsvrc.errors import UserError


def test_cifar_subset_holds_the_first_images_in_cifar_format(shared_data, tmp_path):
    source = shared_data / "cifar10" / "cifar-10-batches-py"
    out = write_cifar_subset(source, tmp_path / "c", train=40, test=7)
    train, test = load_dataset(str(out), "train"), load_dataset(str(out), "val")
    names = [
        n.decode("latin1") if isinstance(n, bytes) else n
        for n in read_cifar_batch(source / "batches.meta")["label_names"]
    ]
    assert len(train) == 40 and len(test) == 7 and train.classes == names
    # the source's first 40 rows of data_batch_1 (3,072 bytes each, channel-major), read without the loader
    first = read_cifar_batch(source / "data_batch_1")
    pixels = torch.as_tensor(first["data"][:40]).reshape(40, 3, 32, 32).permute(0, 2, 3, 1)  # -> N, H, W, C
    assert torch.equal(torch.as_tensor(train.images), pixels)
    assert torch.equal(torch.as_tensor(train.labels), torch.as_tensor(list(first["labels"][:40])))


def test_e2e_without_data_is_a_one_line_error():
    with pytest.raises(UserError, match="--cifar"):
        run_e2e(None, None)
    assert PLAIN_LOOP.is_file()


@pytest.mark.slow
def test_e2e_suite_times_all_three_arms_on_a_tiny_cifar_subset(shared_data):  # ~1-2 minutes: 6 processes
    res = run_e2e(
        str(shared_data / "cifar10" / "cifar-10-batches-py"),
        None,
        pairs=1,
        cifar_images=256,
        cifar_test=32,
        epochs=0.5,
        log=lambda line: None,
    )
    (row,) = res["rows"]
    assert set(row["median_wall_s"]) == {"ilsvrc", "ilsvrc-fp32", "plain"}
    assert all(w > 0 for w in row["median_wall_s"].values())
    assert row["speedup"]["ilsvrc"] == pytest.approx(row["median_wall_s"]["plain"] / row["median_wall_s"]["ilsvrc"])
    assert res["machine"]["commit"] is not None and len(res["load_average_before"]) == 3
