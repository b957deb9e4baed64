"""Measured peak memory of one real training step (forward, backward, SGD-momentum update).

CUDA: `torch.cuda.max_memory_allocated`, the caching allocator's own peak of live tensor bytes.
CPU: PyTorch keeps no peak counter for CPU memory, and tracemalloc does not see torch's allocations;
the profiler does. With `profile_memory=True` every allocation event carries the allocator's running
total of bytes allocated since profiling began, so the peak during the step is the largest running
total plus the tensors alive before it (weights, buffers, input, labels). This counts tensor memory
only: no allocator caching or fragmentation, no Python objects, no library scratch space allocated
outside PyTorch's allocator. That is the same scope as the estimate, which makes the two comparable.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

from ilsvrc.errors import UserError


def _loss(output, num_classes: int, target: torch.Tensor) -> torch.Tensor:
    if isinstance(output, (tuple, list)):  # GoogLeNet in training: main logits + auxiliary heads (weight 0.3)
        main, *aux = output
        return F.cross_entropy(main, target) + sum(0.3 * F.cross_entropy(a, target) for a in aux)
    return F.cross_entropy(output, target)


def measure_training_step(
    model: nn.Module,
    input_shape: list[int],
    *,
    optimizer_states: int = 1,
    dtype: torch.dtype = torch.float32,
) -> dict:
    """Peak bytes of one training step of a copy of `model` on its own device (the model is not changed)."""
    param = next(itertools.chain(model.parameters(), model.buffers()), None)
    device = param.device if param is not None else torch.device("cpu")
    if device.type == "meta":
        raise UserError("measuring memory needs a model with real weights, not one on the meta device")
    if optimizer_states not in (0, 1):
        raise UserError("the measured step uses SGD with (1) or without (0) momentum; other optimisers are estimates")
    net = copy.deepcopy(model).train()
    x = torch.randn(input_shape, dtype=dtype, device=device)
    with torch.no_grad():  # probe the class count without keeping anything
        probe = net.eval()(x[:1])
        num_classes = (probe[0] if isinstance(probe, (tuple, list)) else probe).shape[-1]
    net.train()
    target = torch.randint(0, num_classes, (input_shape[0],), device=device)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9 if optimizer_states else 0.0)
    before = sum(t.numel() * t.element_size() for t in itertools.chain(net.parameters(), net.buffers()))
    before += x.numel() * x.element_size() + target.numel() * target.element_size()

    def step() -> None:
        _loss(net(x), num_classes, target).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        step()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - start + before
        method = "torch.cuda.max_memory_allocated (live tensors, CUDA caching allocator)"
    else:
        peak = before + _cpu_peak_during(step)
        method = "PyTorch profiler allocation events on CPU (live tensor bytes; no allocator overhead)"
    return {"peak_bytes": int(peak), "bytes_before_step": int(before), "method": method, "device": str(device)}


@contextlib.contextmanager
def _quiet_stderr():
    """Kineto writes start/stop lines to the C-level stderr; keep the CLI's output to what it means."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _cpu_peak_during(fn) -> int:
    """The largest running total of bytes allocated (net of frees) while `fn` runs, from the profiler."""
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    peak = 0
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        event = stack.pop()
        if event.tag == _EventType.Allocation and event.extra_fields.device.type == "cpu":
            peak = max(peak, event.extra_fields.total_allocated)
        stack.extend(event.children)
    return peak
