"""The downstream probe: freeze a first layer W, fit a linear head on n3 samples of new tasks, report test
accuracy on fresh samples (PAPER.md, "Metrics", downstream).

Features are standardised with the training samples' mean and standard deviation per neuron (so one
regularisation strength fits every feature set), then a head with intercept is fitted, batched over tasks:

* ``ridge``:    min_w (1/n) sum_i (y_i - w^T phi_i)^2 + lam ||w||^2                (closed form, dual)
* ``logistic``: min_w (1/n) sum_i log(1 + exp(-y_i w^T phi_i)) + (lam/2) ||w||^2   (Newton's method)
* ``ridge_loo``: ridge with lam chosen per task from a grid (``lams``, default :data:`LOO_LAMS`) by the
  leave-one-out squared error on the n3 training samples, which ridge gives in closed form:
  e_i = (y_i - yhat_i) / (1 - H_ii), H = K (K + n lam I)^{-1}, K = P P^T (one eigendecomposition per
  task serves every lam). Every feature set then gets the regularisation that suits it.

The intercept is a constant feature and is penalised like the others (labels are balanced, so this costs
nothing measurable).

Feature sets compared at equal m and n3: ``pretrained`` (the trained W), ``random`` (the initial W),
``oracle`` (rows uniform on the sphere of span(M)), and any other W the caller passes.
"""
from __future__ import annotations


import torch

from .threads import one_thread

from ._validate import check_choice, check_float, check_int
from .model import features
from .tasks import Tasks, sample

PROBES = ("ridge", "logistic", "ridge_loo")
LOO_LAMS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)


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
    with one_thread():
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


def fit_ridge_loo(P: torch.Tensor, y: torch.Tensor, lams=LOO_LAMS) -> tuple[torch.Tensor, torch.Tensor]:
    """Ridge head with lam picked per task by leave-one-out squared error, batched.

    ``P: (B, n, k)``, ``y: (B, n)`` -> ``w: (B, k)`` and the chosen ``lam: (B,)``. Ties go to the larger
    lam (the grid is scanned from large to small and only a strict improvement switches).

    One eigendecomposition of the smaller Gram matrix serves every lam: with P^T P = V diag(s) V^T and
    Q = P V (the columns of Q are P's left singular vectors times sqrt(s)), the fit and the hat-matrix
    diagonal are yhat = Q diag(1/(s + n lam)) Q^T y and H_ii = sum_j Q_ij^2 / (s_j + n lam). When n < k
    the same is done with P P^T = U diag(s) U^T and Q = U diag(sqrt(s))."""
    B, n, k = P.shape
    lam_t = torch.tensor(sorted(lams, reverse=True), dtype=P.dtype, device=P.device)          # (L,)
    if n <= k:
        with one_thread():
            s, U = torch.linalg.eigh(P @ P.transpose(1, 2))                                     # (B, n), (B, n, n)
        s = s.clamp_min(0.0)
        Q = U * s.sqrt().unsqueeze(1)
    else:
        with one_thread():
            s, V = torch.linalg.eigh(P.transpose(1, 2) @ P)                                     # (B, k), (B, k, k)
        s = s.clamp_min(0.0)
        Q = P @ V                                                                               # (B, n, k)
    Qy = torch.einsum("bnj,bn->bj", Q, y)                                                       # (B, j)
    inv = 1.0 / (s.unsqueeze(0) + n * lam_t[:, None, None])                                     # (L, B, j)
    yhat = torch.einsum("bij,lbj->lbi", Q, inv * Qy.unsqueeze(0))                               # (L, B, n)
    h = torch.einsum("bij,lbj->lbi", Q.pow(2), inv)                                             # (L, B, n)
    loo = ((y.unsqueeze(0) - yhat) / (1 - h).clamp_min(1e-12)).pow(2).mean(-1)                  # (L, B)
    rows = torch.arange(B, device=P.device)
    best = torch.zeros(B, dtype=torch.long, device=P.device)
    for i in range(1, lam_t.shape[0]):
        best = torch.where(loo[i] < loo[best, rows], torch.full_like(best, i), best)
    lam = lam_t[best]                                                                           # (B,)
    # w = P^T (P P^T + n lam I)^{-1} y = (P^T P + n lam I)^{-1} P^T y, in the eigenbasis of either Gram matrix
    if n <= k:   # Q^T y = sqrt(s) U^T y, so U (U^T y / (s + n lam)) without dividing by sqrt(s)
        Uy = torch.einsum("bnj,bn->bj", U, y)
        w = torch.einsum("bnk,bn->bk", P, torch.einsum("bij,bj->bi", U, Uy * inv[best, rows]))
    else:
        w = torch.einsum("bkj,bj->bk", V, Qy * inv[best, rows])
    return w, lam


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
                   lam: float = 1e-2, lams=LOO_LAMS, return_lam: bool = False):
    """Test accuracy of a linear head on frozen features phi_W for each task in ``tasks``.

    Draws n3 training and ``n_test`` test samples per task (labels with the tasks' noise), returns ``(B,)``
    accuracies measured against the (possibly noisy) test labels. ``method="ridge_loo"`` ignores ``lam``
    and picks it per task from ``lams``; with ``return_lam`` the ``(B,)`` regularisation used is returned
    too, as ``(accuracy, lam)``."""
    check_int("n3", n3, 1)
    check_int("n_test", n_test, 1)
    check_choice("method", method, PROBES)
    check_float("lam", lam, 0.0, lo_open=True)
    if method == "ridge_loo":
        if not lams:
            raise ValueError("lams must be a non-empty list of numbers > 0, got an empty list")
        for i, v in enumerate(lams):
            check_float(f"lams[{i}]", v, 0.0, lo_open=True)
        if n3 < 2:
            raise ValueError(f"n3 must be an integer >= 2 for method 'ridge_loo', got {n3}")
    Xtr, Ytr = sample(M, tasks, n3, generator)
    Xte, Yte = sample(M, tasks, n_test, generator)
    Ptr, Pte = _standardise(features(W, b, Xtr).double(), features(W, b, Xte).double())
    if method == "ridge_loo":
        w, lam_used = fit_ridge_loo(Ptr, Ytr.double(), lams)
    else:
        fit = fit_ridge if method == "ridge" else fit_logistic
        w = fit(Ptr, Ytr.double(), lam)
        lam_used = torch.full((tasks.T,), lam, dtype=torch.float64, device=Ptr.device)
    pred = torch.einsum("bnk,bk->bn", Pte, w)
    acc = ((pred >= 0).double() * 2 - 1 == Yte.double()).double().mean(dim=1)
    return (acc, lam_used) if return_lam else acc


def head_accuracy(F_train: torch.Tensor, y_train: torch.Tensor, F_test: torch.Tensor, y_test: torch.Tensor,
                  method: str = "ridge", lam: float = 1e-2, lams=LOO_LAMS) -> tuple[torch.Tensor, torch.Tensor]:
    """Test accuracy of a linear head fitted on given features (the part of :func:`probe_accuracy` after the
    features are computed), so that one draw of samples and features can serve several n3, widths and first
    layers.

    ``F_train: (B, n, k)`` raw features (standardised here with their own mean and deviation), ``y_train:
    (B, n)``, ``F_test: (B, n_test, k)``, ``y_test: (B, n_test)`` -> ``(accuracy (B,), lam used (B,))``.
    ``method`` and ``lam``/``lams`` as in :func:`probe_accuracy`."""
    check_choice("method", method, PROBES)
    check_float("lam", lam, 0.0, lo_open=True)
    if method == "ridge_loo" and F_train.shape[1] < 2:
        raise ValueError(f"n3 must be an integer >= 2 for method 'ridge_loo', got {F_train.shape[1]}")
    Ptr, Pte = _standardise(F_train.double(), F_test.double())
    if method == "ridge_loo":
        w, lam_used = fit_ridge_loo(Ptr, y_train.double(), lams)
    else:
        w = (fit_ridge if method == "ridge" else fit_logistic)(Ptr, y_train.double(), lam)
        lam_used = torch.full((Ptr.shape[0],), lam, dtype=torch.float64, device=Ptr.device)
    pred = torch.einsum("bnk,bk->bn", Pte, w)
    acc = ((pred >= 0).double() * 2 - 1 == y_test.double()).double().mean(dim=1)
    return acc, lam_used
