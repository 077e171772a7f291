"""How much of span(M) a first layer W has learned (PAPER.md, "Metrics").

All functions take ``W: (m, d)`` and ``M: (d, r)`` with orthonormal columns and compute in float64.

* principal cosines: singular values of M^T U, U the top-r right singular vectors of W (descending);
* subspace error:   ||P_M - P_U||_2 = sin of the largest principal angle = sqrt(1 - min cos^2);
* energy:           ||W M||_F^2 / ||W||_F^2 (about r/d for a random W, 1 when every row lies in span(M));
* directions recovered: the number of principal cosines >= 0.9.
"""
from __future__ import annotations

import torch

from .threads import one_thread

RECOVERED_COSINE = 0.9


def top_subspace(W: torch.Tensor, r: int) -> torch.Tensor:
    """``U: (d, r)``, the top-r right singular subspace of W."""
    _, _, Vh = torch.linalg.svd(W.double(), full_matrices=False)
    return Vh[:r].T


def principal_cosines(W: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """Cosines of the principal angles between span(M) and U, shape ``(r,)``, descending, in [0, 1]."""
    r = M.shape[1]
    with one_thread():
        U = top_subspace(W, r)
        c = torch.linalg.svdvals(M.double().T @ U)
    return c.clamp(0.0, 1.0)


def subspace_error(W: torch.Tensor, M: torch.Tensor) -> float:
    """||P_M - P_U||_2 in [0, 1]: 0 perfect, 1 when a direction of span(M) is missing from U."""
    c = principal_cosines(W, M)
    return float(torch.sqrt(torch.clamp(1 - c.min() ** 2, min=0.0)))


def energy(W: torch.Tensor, M: torch.Tensor) -> float:
    """||W M||_F^2 / ||W||_F^2, the share of W's energy inside span(M)."""
    W = W.double()
    with one_thread():
        return float((W @ M.double()).pow(2).sum() / W.pow(2).sum())


def directions_recovered(W: torch.Tensor, M: torch.Tensor, threshold: float = RECOVERED_COSINE) -> int:
    """Number of principal cosines >= ``threshold``."""
    return int((principal_cosines(W, M) >= threshold).sum())


def subspace_error_from_projection(P_U: torch.Tensor, M: torch.Tensor) -> float:
    """||P_M - P_U||_2 computed directly from projection matrices (the definition; used to test the fast path)."""
    P_M = M.double() @ M.double().T
    return float(torch.linalg.matrix_norm(P_M - P_U.double(), ord=2))
