"""Batches of uint8 tensors from an ArrayDataset: seeded per-epoch shuffling, DDP sharding, exact mid-epoch resume.

Each batch is one indexing operation on the whole (possibly memory-mapped) image array: no per-image Python work.
A data set with `read_batch` (a JPEG pack, jpeg_dataset.py) is asked for each batch instead, one batch ahead.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ilsvrc.data.dataset import ArrayDataset


class BatchLoader:
    """Iterate (images uint8 (B, H, W, C), labels int64 (B,)) batches on the CPU.

    Training (shuffle=True): the epoch's permutation is a pure function of (seed, epoch); it is padded by wrapping
    (or truncated when drop_last) to a multiple of world_size and rank r takes every world_size-th index, so every
    rank yields the same number of batches. Evaluation (shuffle=False): rank r takes a contiguous block, blocks
    cover every sample exactly once with no padding (sizes differ by at most one), so summed counts are exact.
    """

    def __init__(
        self,
        dataset: ArrayDataset,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self._start_batch = 0  # the batch the next iteration starts at (set by load_state_dict)
        self._batch = 0  # batches of the current epoch already yielded
        self.last_indices = np.zeros(0, dtype=np.int64)

    # -------------------------------------------------------------------------------------------- indices
    def _rank_indices(self) -> np.ndarray:
        n = len(self.dataset)
        if not self.shuffle:
            bounds = np.linspace(0, n, self.world_size + 1).round().astype(np.int64)
            return np.arange(bounds[self.rank], bounds[self.rank + 1], dtype=np.int64)
        order = np.random.default_rng([self.seed, self.epoch]).permutation(n)
        if self.world_size > 1:
            if self.drop_last:
                order = order[: n - n % self.world_size]
            else:
                pad = (-n) % self.world_size
                order = np.concatenate([order, order[:pad]]) if pad <= n else np.resize(order, n + pad)
            order = order[self.rank :: self.world_size]
        return order

    def _per_rank(self) -> int:
        n = len(self.dataset)
        if not self.shuffle:
            bounds = np.linspace(0, n, self.world_size + 1).round().astype(np.int64)
            return int(bounds[self.rank + 1] - bounds[self.rank])
        if self.world_size == 1:
            return n
        return n // self.world_size if self.drop_last else -(-n // self.world_size)

    def __len__(self) -> int:
        m = self._per_rank()
        return m // self.batch_size if self.drop_last else -(-m // self.batch_size)

    # -------------------------------------------------------------------------------------------- state
    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose permutation to use; keeps a resumed mid-epoch position for that same epoch."""
        if epoch != self.epoch:
            self.epoch = int(epoch)
            self._start_batch = 0
            self._batch = 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "batch": self._batch}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = int(state["epoch"])
        self._start_batch = self._batch = int(state["batch"])

    # -------------------------------------------------------------------------------------------- iteration
    def batch_generator(self, b: int) -> torch.Generator:
        """The CPU generator for batch `b` of this epoch's crops: a pure function of (seed, epoch, b, rank), so a
        resumed run draws the same crops, whichever thread draws them and however far ahead it reads."""
        state = np.random.SeedSequence([self.seed, self.epoch, b, self.rank]).generate_state(2, np.uint32)
        return torch.Generator().manual_seed(int(state[0]) << 31 ^ int(state[1]))

    def _batch_indices(self, order: np.ndarray, b: int) -> np.ndarray:
        idx = order[b * self.batch_size : (b + 1) * self.batch_size]
        return np.sort(idx) if self.shuffle else idx  # ascending reads; the batch's content is unchanged

    def __iter__(self):
        order = self._rank_indices()
        nb = len(self)
        start, self._start_batch = self._start_batch, 0
        self._batch = start
        if hasattr(self.dataset, "read_batch"):  # decoded per batch (a JPEG pack): read ahead in a thread
            yield from self._read_ahead(order, start, nb)
            return
        images, labels = self.dataset.images, self.dataset.labels
        if images.device.type == "cpu":  # numpy's take is one single-threaded memcpy per row: no thread-pool wake-ups
            images, labels = images.numpy(), labels.numpy()
        for b in range(start, nb):
            idx = self._batch_indices(order, b)
            if isinstance(images, np.ndarray):
                x, y = torch.from_numpy(images.take(idx, axis=0)), torch.from_numpy(labels.take(idx))
            else:
                t = torch.from_numpy(idx).to(images.device)
                x, y = images.index_select(0, t), labels.index_select(0, t)
            self._batch = b + 1
            self.last_indices = idx  # dataset positions of the batch just yielded (per-image augmentation)
            yield x, y

    def _read_ahead(self, order: np.ndarray, start: int, nb: int):
        """Batches from dataset.read_batch, the next one decoding (in its own thread pool) while this one trains."""
        labels = self.dataset.labels

        def read(b: int) -> tuple[torch.Tensor, torch.Tensor]:
            idx = self._batch_indices(order, b)
            gen = self.batch_generator(b) if self.shuffle else None
            return self.dataset.read_batch(idx, gen), labels[torch.from_numpy(idx)]

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ilsvrc-read-ahead") as pool:
            pending = pool.submit(read, start) if start < nb else None
            for b in range(start, nb):
                batch = pending.result()
                pending = pool.submit(read, b + 1) if b + 1 < nb else None
                self._batch = b + 1
                yield batch
