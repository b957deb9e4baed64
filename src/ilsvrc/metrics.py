"""Top-1/top-5 error and cross-entropy: the one definition the engine, `evaluate` and the reproductions share.

Scores are (N, classes) logits, log-probabilities or probabilities (top-k only needs their order); labels are
(N,) class indices. Counts stay on the scores' device so a training loop can sum them without a host sync.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def topk_correct(scores: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(top-1 correct, top-5 correct) as 0-d float tensors; top-5 is top-k with k = classes when fewer than 5."""
    k = min(5, scores.shape[1])
    hit = scores.topk(k, dim=1).indices == labels[:, None]
    return hit[:, 0].sum().float(), hit.any(1).sum().float()


def batch_sums(logp: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """[nll sum, top-1 correct, top-5 correct, count] of one batch of log-probabilities, on their device.

    Sums, not means: summed over batches and processes they give exact errors with uneven shards."""
    top1, top5 = topk_correct(logp, labels)
    count = torch.full((), float(labels.numel()), device=logp.device)  # a fill kernel: no host copy
    return torch.stack([F.nll_loss(logp.float(), labels, reduction="sum"), top1, top5, count])


def from_sums(sums: torch.Tensor | list[float]) -> dict[str, float]:
    """{"loss", "top1_error", "top5_error", "count"} from summed `batch_sums`."""
    loss, c1, c5, n = sums.tolist() if isinstance(sums, torch.Tensor) else sums
    n = max(n, 1.0)
    return {"loss": loss / n, "top1_error": 1 - c1 / n, "top5_error": 1 - c5 / n, "count": int(n)}


def errors(probs: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Top-1 and top-5 error (fractions) and mean cross-entropy of class probabilities against labels."""
    top1, top5 = topk_correct(probs, labels)
    n = max(1, labels.numel())
    nll = F.nll_loss(probs.float().clamp_min(1e-12).log(), labels)
    return {"top1_error": 1 - top1.item() / n, "top5_error": 1 - top5.item() / n, "loss": nll.item()}


def top1_error(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 error (fraction) of scores against labels."""
    return 1.0 - topk_correct(scores, labels)[0].item() / max(1, labels.numel())


def class_log_probs(model: nn.Module, x: torch.Tensor, view_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Log of the softmax averaged over crops: x is (B, C, H, W) or (B, K, C, H, W) for K crops.

    view_weights (K,): average the K views' logits with these weights instead, then take the softmax (the
    speed runs' test-time augmentation, `data.views.TTAViews`)."""
    if x.dim() == 5 and view_weights is not None:
        b, k = x.shape[:2]
        logits = model(x.flatten(0, 1)).float().view(b, k, -1)
        return (logits * view_weights.to(logits).view(1, k, 1)).sum(1).log_softmax(-1)
    if x.dim() == 5:
        b, k = x.shape[:2]
        probs = model(x.flatten(0, 1)).float().softmax(-1).view(b, k, -1).mean(1)
        return probs.clamp_min(1e-12).log()
    return model(x).float().log_softmax(-1)
