"""BatchLoader: reproducible shuffling, exact mid-epoch resume, DDP sharding without padding for evaluation."""

from __future__ import annotations

import pytest
import torch

from ilsvrc.data import ArrayDataset, BatchLoader


def numbered(n: int) -> ArrayDataset:
    """Image i is filled with i % 256 and labelled i, so every batch says which samples it holds."""
    images = (torch.arange(n) % 256).to(torch.uint8).view(n, 1, 1, 1).expand(n, 2, 2, 3).contiguous()
    return ArrayDataset(images, torch.arange(n), [str(i) for i in range(n)], (0.5,) * 3, (0.25,) * 3, {})


def labels_of(loader) -> list[list[int]]:
    return [y.tolist() for _, y in loader]


def flat(lists) -> list[int]:
    return [v for part in lists for v in part]


def test_batches_are_uint8_nhwc_and_match_their_labels():
    loader = BatchLoader(numbered(37), 8, shuffle=True, seed=3)
    for x, y in loader:
        assert x.dtype == torch.uint8 and x.shape[1:] == (2, 2, 3) and y.dtype == torch.int64
        assert torch.equal(x[:, 0, 0, 0].long(), y % 256)
    assert len(loader) == 5 and len(labels_of(loader)) == 5


def test_same_seed_same_batches_and_each_epoch_a_new_permutation():
    ds = numbered(50)
    a, b = BatchLoader(ds, 7, shuffle=True, seed=1), BatchLoader(ds, 7, shuffle=True, seed=1)
    assert labels_of(a) == labels_of(b)
    first = labels_of(a)
    a.set_epoch(1)
    second = labels_of(a)
    assert first != second
    assert sorted(flat(first)) == sorted(flat(second)) == list(range(50))
    assert labels_of(BatchLoader(ds, 7, shuffle=True, seed=2)) != first
    a.set_epoch(0)
    assert labels_of(a) == first  # the permutation is a pure function of (seed, epoch)


def test_state_dict_resumes_mid_epoch_at_the_next_batch():
    ds = numbered(40)
    full = BatchLoader(ds, 6, shuffle=True, seed=5)
    full.set_epoch(2)
    expected = labels_of(full)
    run = BatchLoader(ds, 6, shuffle=True, seed=5)
    run.set_epoch(2)
    it = iter(run)
    seen = [next(it)[1].tolist() for _ in range(3)]
    state = run.state_dict()
    assert state == {"epoch": 2, "batch": 3}
    resumed = BatchLoader(ds, 6, shuffle=True, seed=5)
    resumed.load_state_dict(state)
    resumed.set_epoch(2)  # the engine may call set_epoch again for the same epoch: the position is kept
    assert seen + labels_of(resumed) == expected
    assert labels_of(resumed) == expected  # the next pass starts the epoch from the beginning


@pytest.mark.parametrize("n", [10, 11, 13])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_eval_shards_cover_every_sample_exactly_once(n, world):
    ds = numbered(n)
    shards = [flat(labels_of(BatchLoader(ds, 4, shuffle=False, rank=r, world_size=world))) for r in range(world)]
    assert sorted(flat(shards)) == list(range(n))  # no padding, no duplicates
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("drop_last", [False, True])
def test_train_shards_yield_the_same_number_of_batches_on_every_rank(drop_last):
    ds = numbered(23)
    world = 3
    loaders = [
        BatchLoader(ds, 4, shuffle=True, seed=9, drop_last=drop_last, rank=r, world_size=world) for r in range(world)
    ]
    counts = {len(labels_of(lo)) for lo in loaders}
    assert len(counts) == 1 and counts == {len(loaders[0])}
    seen = {v for lo in loaders for v in flat(labels_of(lo))}
    if drop_last:  # full batches only, and no sample twice
        assert len(seen) == world * len(loaders[0]) * 4
    else:  # padded by wrapping: every sample is seen
        assert seen == set(range(23))


def test_drop_last_gives_only_full_batches():
    loader = BatchLoader(numbered(30), 8, shuffle=True, drop_last=True)
    assert len(loader) == 3 and all(len(y) == 8 for y in labels_of(loader))
