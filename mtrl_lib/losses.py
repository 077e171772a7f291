"""Per-sample losses of the margin u = y f, and their derivative in f.

    logistic     l(u) = log(1 + exp(-u))      dl/df = -y sigmoid(-u)
    correlation  l(u) = -u                    dl/df = -y          (used in the C1 derivation)
    hinge        l(u) = max(0, 1 - u)         dl/df = -y 1[u < 1]
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("logistic", "correlation", "hinge")


def loss_value(f: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """Elementwise loss l(y f); same shape as ``f``. Differentiable (used by the autograd checks)."""
    u = y * f
    if kind == "logistic":
        return F.softplus(-u)
    if kind == "correlation":
        return -u
    if kind == "hinge":
        return torch.clamp(1 - u, min=0)
    raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")


def loss_grad(f: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """Elementwise dl(y f)/df, the analytic derivative used by the training loop."""
    if kind == "logistic":
        return -y * torch.sigmoid(-y * f)
    if kind == "correlation":
        return -y
    if kind == "hinge":
        return -y * (y * f < 1).to(f.dtype)
    raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")
