"""`--optimizer muon`: Muon on conv filters, Nesterov SGD on the rest (ilsvrc.train.muon). A whole run and its
resume are tested with the other speed-run pieces in test_cifar_fast_pieces.py."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ilsvrc.errors import UserError
from ilsvrc.models import create_model
from ilsvrc.train import TrainConfig
from ilsvrc.train.muon import MuonSGD, orthogonalize
from ilsvrc.train.optim import build_optimizer, set_lr

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_orthogonalize_keeps_the_singular_vectors_and_flattens_the_singular_values():
    gen = torch.Generator().manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(16, 16, generator=gen))
    v, _ = torch.linalg.qr(torch.randn(72, 16, generator=gen))
    spread = torch.logspace(0, -2, 16)  # singular values 1 ... 0.01: a lopsided gradient
    for matrix in (u @ torch.diag(spread) @ v.T, (u @ torch.diag(spread) @ v.T).T):  # wide and tall
        out = orthogonalize(matrix, steps=5)
        assert out.shape == matrix.shape
        s = torch.linalg.svdvals(out)
        assert s.min() > 0.5 and s.max() < 1.5  # flattened from a 100x spread to within [0.5, 1.5]
        # the same singular vectors: out is (nearly) a positive multiple of U V^T, ordered as before
        polar = (u @ v.T) if matrix.shape[0] == 16 else (u @ v.T).T
        assert F.cosine_similarity(out.flatten(), polar.flatten(), dim=0) > 0.95
    fewer = torch.linalg.svdvals(orthogonalize(u @ torch.diag(spread) @ v.T, steps=1))
    assert fewer.max() / fewer.min() > 10  # one iteration is not enough: the iterations do the work


def test_a_muon_step_fixes_each_filter_banks_norm_and_moves_it_by_about_lr():
    conv = torch.nn.Conv2d(8, 32, 3)
    with torch.no_grad():
        conv.weight.mul_(7.0)  # any starting norm: the step resets it to sqrt(32)
    opt = MuonSGD([{"params": [conv.weight], "muon": True}, {"params": [conv.bias]}], lr=0.1, momentum=0.0)
    conv(torch.randn(4, 8, 6, 6)).square().sum().backward()
    bias = conv.bias.detach().clone()
    grad = conv.bias.grad.clone()
    before = conv.weight.detach().clone()
    opt.step()
    moved = conv.weight.detach() - before * math.sqrt(32) / before.norm()
    # orthogonalised: singular values near 1, so the step's size is lr x about sqrt(rank) = 0.1 x sqrt(32)
    assert 0.5 * 0.1 * math.sqrt(32) < moved.norm() < 1.5 * 0.1 * math.sqrt(32)
    assert torch.allclose(conv.bias, bias - 0.1 * grad)  # the other group: plain SGD, lr 0.1, no momentum
    assert math.isclose((conv.weight - moved).norm().item(), math.sqrt(32), rel_tol=1e-4)
    with pytest.raises(ValueError, match="conv filters"):
        MuonSGD([{"params": [torch.nn.Linear(3, 4).weight], "muon": True}], lr=0.1, momentum=0.9)


def test_build_optimizer_gives_the_filters_to_muon_and_the_rest_to_the_recipes_sgd():
    net = create_model("speedrun_cifar", widths=(8, 16, 16))
    cfg = TrainConfig(recipe="cifar-fast", model="speedrun_cifar", optimizer="muon", muon_lr=0.3).resolve()
    opt = build_optimizer(net, cfg, torch.device("cpu"))
    (muon,) = [g for g in opt.param_groups if g["muon"]]
    filters = [p for p in net.parameters() if p.ndim == 4 and p.requires_grad]
    assert len(filters) == 6 and [id(p) for p in muon["params"]] == [id(p) for p in filters]
    assert muon["momentum"] == cfg.muon_momentum == 0.6 and muon["weight_decay"] == 0.0
    others = [p for g in opt.param_groups if not g["muon"] for p in g["params"]]
    assert {id(net.whiten.bias), id(net.fc.weight)} <= {id(p) for p in others}
    assert not any(p.ndim == 4 for p in others)
    assert all(g["momentum"] == 0.85 for g in opt.param_groups if not g["muon"])
    peak = cfg.lr * cfg.batch_size / cfg.lr_batch
    set_lr(opt, peak)
    assert math.isclose(muon["lr"], 0.3)  # muon_lr at the schedule's peak, whatever the batch
    set_lr(opt, peak / 2)
    assert math.isclose(muon["lr"], 0.15)  # and the schedule's shape


@pytest.mark.parametrize("kw, words", [(dict(muon_lr=-1), "muon_lr"), (dict(muon_momentum=1.0), "muon_momentum")])
def test_bad_muon_values_are_one_line_errors(kw, words):
    with pytest.raises(UserError, match=words) as err:
        TrainConfig(optimizer="muon", **kw).resolve()
    assert "\n" not in str(err.value)


def test_cifar_muon_is_cifar_fast_with_muon_on_the_filters():
    fast = TrainConfig(recipe="cifar-fast", model="speedrun_cifar").resolve().to_dict()
    muon = TrainConfig(recipe="cifar-muon", model="speedrun_cifar").resolve().to_dict()
    assert {k for k in fast if fast[k] != muon[k]} == {"recipe", "optimizer", "schedule", "lookahead_every"}
    assert (muon["optimizer"], muon["schedule"], muon["lookahead_every"]) == ("muon", "linear", 0)
    assert (muon["muon_lr"], muon["muon_momentum"], muon["warmup_epochs"]) == (0.24, 0.6, 0)
