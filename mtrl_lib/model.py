"""The two-layer ReLU network, with a representation shared by all tasks and one linear head per task.

    phi_W(x) = relu(W x + b)            W: (m, d), b: (m,)   shared by every task
    f_t(x)   = a_t^T phi_W(x) / m        a_t: (m,)            heads stacked as A: (T, m)

The 1/m output scaling (mean-field) is our choice and lives only in :data:`OUTPUT_SCALE` use below: with it
the step sizes that work do not depend on the width m.
"""
from __future__ import annotations

import torch

from ._validate import check_float, check_int


def output_scale(m: int) -> float:
    """The factor in f = output_scale(m) * a^T phi (the one place the scaling is set)."""
    return 1.0 / m


def init_weights(m: int, d: int, generator: torch.Generator, bias_scale: float = 0.0,
                 dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of ``W: (m, d)`` uniform on the unit sphere of R^d; ``b: (m,)`` ~ bias_scale * N(0, 1)."""
    check_int("m", m, 1)
    check_int("d", d, 1)
    check_float("bias_scale", bias_scale, 0.0)
    dev = generator.device
    W = torch.randn(m, d, generator=generator, device=dev, dtype=torch.float64)
    W = W / W.norm(dim=1, keepdim=True)
    b = bias_scale * torch.randn(m, generator=generator, device=dev, dtype=torch.float64)
    return W.to(dtype), b.to(dtype)


def oracle_weights(m: int, M: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``W: (m, d)`` whose rows are uniform on the unit sphere of span(M): the best features one can learn."""
    G = torch.randn(m, M.shape[1], generator=generator, device=M.device, dtype=torch.float64)
    G = G / G.norm(dim=1, keepdim=True)
    return (G @ M.double().T).to(M.dtype)


def features(W: torch.Tensor, b: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """phi_W(x) = relu(W x + b).  ``X: (..., n, d)`` -> ``(..., n, m)``."""
    return torch.relu(X @ W.T + b)


def predict(W: torch.Tensor, b: torch.Tensor, A: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """f_t(x_ti) = a_t^T phi_W(x_ti) / m for every task.  ``A: (T, m)``, ``X: (T, n, d)`` -> ``(T, n)``."""
    phi = features(W, b, X)
    return torch.einsum("tnm,tm->tn", phi, A) * output_scale(W.shape[0])
