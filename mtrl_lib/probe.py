"""The downstream probe: freeze a first layer W, fit a linear head on n3 samples of new tasks, report test
accuracy on fresh samples (PAPER.md, "Metrics", downstream).

Features are standardised with the training samples' mean and standard deviation per neuron (so one
regularisation strength fits every feature set), then a head with intercept is fitted, batched over tasks:

* ``ridge``:    min_w (1/n) sum_i (y_i - w^T phi_i)^2 + lam ||w||^2                (closed form, dual)
* ``logistic``: min_w (1/n) sum_i log(1 + exp(-y_i w^T phi_i)) + (lam/2) ||w||^2   (Newton's method)

Feature sets compared at equal m and n3: ``pretrained`` (the trained W), ``random`` (the initial W),
``oracle`` (rows uniform on the sphere of span(M)), and any other W the caller passes.
"""
from __future__ import annotations

import torch

from ._validate import check_choice, check_float, check_int
from .model import features
from .tasks import Tasks, sample

PROBES = ("ridge", "logistic")


def _standardise(P_train: torch.Tensor, P_test: torch.Tensor):
    mu = P_train.mean(dim=1, keepdim=True)
    sd = P_train.std(dim=1, keepdim=True).clamp_min(1e-6)
    ones = lambda P: torch.ones(*P.shape[:2], 1, dtype=P.dtype, device=P.device)
    z = lambda P: torch.cat([(P - mu) / sd, ones(P)], dim=-1)
    return z(P_train), z(P_test)


def _spd_solve(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Solve A X = B for symmetric positive definite ``A: (..., k, k)`` by Cholesky.

    Every system here is SPD (a Gram or Hessian matrix plus lam I, lam > 0). Cholesky is also the safe
    choice on the pinned CPU build: its batched LU solve (``torch.linalg.solve``) hangs or fails with
    "Pivots given to lu_solve must all be greater or equal to 1" for some batch sizes (e.g. 10 systems of
    size 150-200) when torch runs on 2 threads."""
    L = torch.linalg.cholesky(A)
    return torch.cholesky_solve(B, L)


def fit_ridge(P: torch.Tensor, y: torch.Tensor, lam: float) -> torch.Tensor:
    """Ridge head, batched over tasks.  ``P: (B, n, k)``, ``y: (B, n)`` -> ``w: (B, k)``.

    Uses the dual form w = P^T (P P^T + n lam I)^{-1} y (n3 is usually smaller than m)."""
    B, n, k = P.shape
    if n <= k:
        K = P @ P.transpose(1, 2) + n * lam * torch.eye(n, dtype=P.dtype, device=P.device)
        alpha = _spd_solve(K, y.unsqueeze(-1))
        return (P.transpose(1, 2) @ alpha).squeeze(-1)
    G = P.transpose(1, 2) @ P + n * lam * torch.eye(k, dtype=P.dtype, device=P.device)
    return _spd_solve(G, P.transpose(1, 2) @ y.unsqueeze(-1)).squeeze(-1)


def fit_logistic(P: torch.Tensor, y: torch.Tensor, lam: float, iters: int = 25) -> torch.Tensor:
    """L2-regularised logistic head by Newton's method, batched.  ``P: (B, n, k)``, ``y: (B, n)`` -> ``(B, k)``.

    The objective is strictly convex for lam > 0, so Newton converges quadratically from w = 0."""
    B, n, k = P.shape
    w = torch.zeros(B, k, dtype=P.dtype, device=P.device)
    eye = torch.eye(k, dtype=P.dtype, device=P.device)
    for _ in range(iters):
        u = y * torch.einsum("bnk,bk->bn", P, w)
        s = torch.sigmoid(-u)                                   # -dl/du
        grad = -torch.einsum("bnk,bn->bk", P, y * s) / n + lam * w
        D = s * (1 - s)
        H = torch.einsum("bnk,bn,bnj->bkj", P, D, P) / n + lam * eye
        w = w - _spd_solve(H, grad.unsqueeze(-1)).squeeze(-1)
    return w


def probe_accuracy(W: torch.Tensor, b: torch.Tensor, M: torch.Tensor, tasks: Tasks, n3: int,
                   generator: torch.Generator, n_test: int = 2000, method: str = "ridge",
                   lam: float = 1e-2) -> torch.Tensor:
    """Test accuracy of a linear head on frozen features phi_W for each task in ``tasks``.

    Draws n3 training and ``n_test`` test samples per task (labels with the tasks' noise), returns ``(B,)``
    accuracies measured against the (possibly noisy) test labels."""
    check_int("n3", n3, 1)
    check_int("n_test", n_test, 1)
    check_choice("method", method, PROBES)
    check_float("lam", lam, 0.0, lo_open=True)
    Xtr, Ytr = sample(M, tasks, n3, generator)
    Xte, Yte = sample(M, tasks, n_test, generator)
    Ptr, Pte = _standardise(features(W, b, Xtr).double(), features(W, b, Xte).double())
    w = fit_ridge(Ptr, Ytr.double(), lam) if method == "ridge" else fit_logistic(Ptr, Ytr.double(), lam)
    pred = torch.einsum("bnk,bk->bn", Pte, w)
    return ((pred >= 0).double() * 2 - 1 == Yte.double()).double().mean(dim=1)
