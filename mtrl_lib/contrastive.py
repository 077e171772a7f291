"""Claim C1: after one head step, multi-task training is a pseudo-contrastive loss (PAPER.md, "C1 in formulas").

With heads at zero, the correlation loss l(u) = -u, and one head step of size eta_a (steps times m, see
:mod:`mtrl_lib.train`) on n1 samples per task, every head is

    a_t = (eta_a / n1) sum_i y_ti phi_W0(x_ti)                                               (T, m)

and the feature-phase loss with these heads, f = a^T phi / m, is

    L(W) = -(eta_a / (T n1 n2 m)) sum_t sum_{i,j} y_ti y'_tj < phi_W0(x_ti), phi_W(x'_tj) >

whose gradient in W is, with s_t = sum_i y_ti phi_W0(x_ti),

    grad_W L = -(eta_a / (T n1 n2 m)) sum_{t,j} y'_tj (s_t * 1[W x'_tj + b > 0]) x'_tj^T.

In population L(W) = -(eta_a / m) E_{x,x'}[kappa(x, x') <phi_W0(x), phi_W(x')>] with the task kernel
kappa(x, x') = E_t[f_t(M^T x) f_t(M^T x')]; for the linear family kappa = 1 - 2 theta(M^T x, M^T x') / pi.
"""
from __future__ import annotations

import math

import torch

from .model import features
from .tasks import Tasks


def one_step_heads(W0: torch.Tensor, b: torch.Tensor, X1: torch.Tensor, Y1: torch.Tensor, eta_a: float) -> torch.Tensor:
    """a_t = (eta_a / n1) sum_i y_ti phi_W0(x_ti).  ``X1: (T, n1, d)``, ``Y1: (T, n1)`` -> ``(T, m)``."""
    return eta_a / X1.shape[1] * torch.einsum("tn,tnm->tm", Y1, features(W0, b, X1))


def pseudo_contrastive_loss(W, b, W0, X1, Y1, X2, Y2, eta_a: float) -> torch.Tensor:
    """L(W) = -(eta_a / (T n1 n2 m)) sum_t sum_{i,j} y_ti y'_tj <phi_W0(x_ti), phi_W(x'_tj)>  (a scalar)."""
    T, n1, _ = X1.shape
    n2, m = X2.shape[1], W.shape[0]
    s = torch.einsum("tn,tnm->tm", Y1, features(W0, b, X1))
    pair = torch.einsum("tm,tjm,tj->", s, features(W, b, X2), Y2)
    return -eta_a / (T * n1 * n2 * m) * pair


def pseudo_contrastive_grad(W, b, W0, X1, Y1, X2, Y2, eta_a: float) -> torch.Tensor:
    """Closed-form grad_W of :func:`pseudo_contrastive_loss`, ``(m, d)``; no autograd."""
    T, n1, _ = X1.shape
    n2, m = X2.shape[1], W.shape[0]
    s = torch.einsum("tn,tnm->tm", Y1, features(W0, b, X1))           # (T, m)
    active = (X2 @ W.T + b > 0).to(W.dtype)                           # (T, n2, m)
    coef = Y2.unsqueeze(-1) * s.unsqueeze(1) * active                 # (T, n2, m)
    return -eta_a / (T * n1 * n2 * m) * torch.einsum("tjm,tjd->md", coef, X2)


def kappa_empirical(Z1: torch.Tensor, Z2: torch.Tensor, tasks: Tasks) -> torch.Tensor:
    """kappa_T(z, z') = (1/T) sum_t f_t(z) f_t(z') over the given tasks (clean labels).

    ``Z1: (n, r)``, ``Z2: (n', r)`` -> ``(n, n')``."""
    T = tasks.T
    F1 = tasks.clean_labels(Z1.unsqueeze(0).expand(T, *Z1.shape))
    F2 = tasks.clean_labels(Z2.unsqueeze(0).expand(T, *Z2.shape))
    return F1.T.double() @ F2.double() / T


def kappa_matched(Z1: torch.Tensor, Z2: torch.Tensor, tasks: Tasks, partner: Tasks | None = None) -> torch.Tensor:
    """kappa_T(z_i, z'_i) = (1/T) sum_t f_t(z_i) g_t(z'_i) for matched pairs only (the diagonal of
    :func:`kappa_empirical` without the full matrix), with g = f unless ``partner`` tasks are given (the
    kernel of an algorithm whose heads see other labels than its features).

    ``Z1, Z2: (n, r)`` -> ``(n,)``."""
    partner = tasks if partner is None else partner
    total = Z1.new_zeros(Z1.shape[0], dtype=torch.float64)
    step = max(1, 2**22 // max(1, Z1.numel()))            # tasks per chunk: about 4M elements at once
    for s in range(0, tasks.T, step):
        t1, t2 = tasks[s:s + step], partner[s:s + step]
        F1 = t1.clean_labels(Z1.unsqueeze(0).expand(t1.T, *Z1.shape)).double()
        F2 = t2.clean_labels(Z2.unsqueeze(0).expand(t2.T, *Z2.shape)).double()
        total += (F1 * F2).sum(0)
    return total / tasks.T


def angle(Z1: torch.Tensor, Z2: torch.Tensor) -> torch.Tensor:
    """theta(z, z') in [0, pi] for every pair.  ``(n, r), (n', r)`` -> ``(n, n')``."""
    Z1 = Z1.double() / Z1.double().norm(dim=1, keepdim=True)
    Z2 = Z2.double() / Z2.double().norm(dim=1, keepdim=True)
    return torch.arccos((Z1 @ Z2.T).clamp(-1.0, 1.0))


def kappa_linear(Z1: torch.Tensor, Z2: torch.Tensor) -> torch.Tensor:
    """Population kernel of the linear family: kappa(z, z') = 1 - 2 theta(z, z') / pi."""
    return 1.0 - 2.0 * angle(Z1, Z2) / math.pi
