"""Baselines for learning span(M) (beyond the paper): what a method other than the two-layer network gets from
the same samples. Used by the chapter "Baselines and rates".

Every estimator below sees ``n`` fresh samples per task, x ~ N(0, I_d), y = f_t(M^T x) (:mod:`mtrl_lib.tasks`),
and returns an estimate of span(M) as ``U: (d, r)`` with orthonormal columns (or, for the linear
representation, ``B: (r, d)``); :func:`mtrl_lib.metrics.subspace_error` scores either (the top-r right
singular subspace of ``U^T`` or ``B`` is their row span).

* **First moment.**  g_t = (1/n) sum_i y_ti x_ti,  G = [g_1; ...; g_T]  (T, d).
  Writing x = M z + x_perp with x_perp independent of y and of mean zero, E[g_t] = M E[y z]: that is
  sqrt(2/pi) M v_t for ``linear``, and 0 for ``quadratic`` (y even in z) and ``parity`` (flipping one of the
  three coordinates flips y). The estimate is the span of the top-r
  right singular vectors of G.
* **Second moment.**  S_t = (1/n) sum_i y_ti (x_ti x_ti^T - I)  (d, d).
  E[S_t] = M B_t M^T with B_t = E[y (z z^T - I_r)] (r, r): non-zero for ``quadratic``, 0 for ``linear`` (y odd,
  x x^T - I even) and ``parity``. The B_t have no common sign (for ``quadratic``, A_t and -A_t are equally
  likely, so sum_t S_t -> 0 as T grows): a plain sum cancels. The squares do not:

      Q = sum_t S_t^2,   E[S_t^2] = (1 - 1/n) M B_t^2 M^T + ((d + 1)/n) I      (labels +-1, n samples per task)

  (chapter 6's equation b-moment2-mean: the cross terms of two samples give (1 - 1/n) M B_t^2 M^T, and a
  sample with itself gives E[y^2 (x x^T - I)^2] / n = E[(||x||^2 - 2) x x^T + I] / n = ((d + 1)/n) I, since
  y^2 = 1 and E[||x||^2 x x^T] = (d + 2) I; ``tests/test_chapter_06.py`` checks it by simulation). Each B_t^2 is
  positive semi-definite, so sum_t B_t^2 has rank r as soon as the tasks' B_t together span R^r, whatever
  their signs; the noise adds exactly ((d + 1)/n) I per task in expectation (not d/n: the diagonal's fourth
  moment counts), a multiple of the identity that leaves the eigenvectors of the mean unchanged, and shrinks
  the signal by 1 - 1/n. Around that mean, the noise of Q is what the estimate has to beat. The estimate is the
  top-r eigenvectors of Q (the top-r left singular vectors of the d x (T d) matrix [S_1, ..., S_T], computed
  as those of Q).
* **Linear representation.** A shared B (r, d) with rows orthonormal and one head a_t in R^r per task,
  predicting f_t(x) = a_t^T B x / r, trained by the alternating algorithm of :mod:`mtrl_lib.train` with
  the same loss, the same fresh samples per phase and the same step convention (steps times the width, here r):

      head phase:    a_t <- a_t - eta_a r grad_{a_t} L_t(B, a_t)   = a_t - (eta_a / n1) sum_i l'(f_ti) B x_ti
      feature phase: B   <- B   - eta_W r grad_B (1/T) sum_t L_t    = B - (eta_W / (T n2)) sum_{t,i} l'(f_ti) a_t x_ti^T
                     then B^T = Q R (QR with diag(R) > 0), B <- Q^T

  The last step is the linear counterpart of the network's row renormalisation (which also leaves the heads
  as they are): it keeps the rows of B orthonormal, where rows renormalised one by one would all turn to the
  top direction. Gram-Schmidt with positive diagonal keeps each row close to where the step left it, so the
  heads stay meaningful from one round to the next. This is linear multi-task representation learning by
  alternating gradient descent; a linear predictor can only use E[y x], so it fails on the even and
  degree-3 families.
* **Random features** are the network's initial W (no estimator; :func:`mtrl_lib.train.setup`).

Controls (as in :mod:`mtrl_lib.train`): ``"shuffled_labels"`` replaces every label by a fair coin independent
of x; ``"swapped_heads"`` fits the linear representation's head of task t to the labels of task t+1 (mod T).
:func:`moments` has no heads and ignores ``"swapped_heads"``; a :class:`Moments` fed by
:func:`train_linear_rep` (``on_block``) sees the blocks as that run draws them, head-phase labels included.
"""
from __future__ import annotations

import torch

from ._validate import check_choice, check_float, check_int
from .losses import LOSSES, loss_grad
from .metrics import subspace_error
from .tasks import Tasks, sample
from .threads import one_thread
from .train import CONTROLS

def _labels_control(Y: torch.Tensor, control: str, generator: torch.Generator) -> torch.Tensor:
    """``Y`` unchanged, or fair coins of the same shape under ``"shuffled_labels"``."""
    if control != "shuffled_labels":
        return Y
    return torch.randint(0, 2, Y.shape, generator=generator, device=Y.device).to(Y.dtype).mul_(2).sub_(1)


class Moments:
    """Running sums for the first- and second-moment estimators, fed block by block with :meth:`add`.

    :meth:`result` returns ``G: (T, d)``, g_t = (1/n) sum_i y_ti x_ti, and ``S: (T, d, d)``,
    S_t = (1/n) sum_i y_ti (x_ti x_ti^T - I) (None unless ``second``), both in float64; n is the number of
    samples per task added so far."""

    def __init__(self, T: int, d: int, device, second: bool = True):
        self.G = torch.zeros(T, d, dtype=torch.float64, device=device)
        self.S = torch.zeros(T, d, d, dtype=torch.float64, device=device) if second else None
        self.ysum = torch.zeros(T, dtype=torch.float64, device=device)
        self.n = 0

    def add(self, X: torch.Tensor, Y: torch.Tensor) -> None:
        """One block, ``X: (T, k, d)``, ``Y: (T, k)``: its sums in the samples' dtype, accumulated in float64."""
        XY = X * Y.unsqueeze(-1)
        self.G += XY.sum(dim=1).double()
        if self.S is not None:
            self.S += torch.bmm(XY.transpose(1, 2), X).double()
            self.ysum += Y.sum(dim=1).double()
        self.n += X.shape[1]

    def result(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.n == 0:
            raise ValueError("Moments.result needs at least one block of samples")
        if self.S is None:
            return self.G / self.n, None
        d = self.G.shape[1]
        S = self.S - self.ysum[:, None, None] * torch.eye(d, dtype=self.S.dtype, device=self.S.device)
        return self.G / self.n, S / self.n


def moments(M: torch.Tensor, tasks: Tasks, blocks, generator: torch.Generator, second: bool = True,
            control: str = "none") -> tuple[torch.Tensor, torch.Tensor | None]:
    """The moments (:class:`Moments`) of fresh samples drawn block by block with :func:`mtrl_lib.tasks.sample`:
    ``blocks`` lists the samples per task of each draw, so every task gets ``sum(blocks)`` samples."""
    blocks = [check_int(f"blocks[{i}]", k, 1) for i, k in enumerate(blocks)]
    if not blocks:
        raise ValueError("blocks must be a non-empty list of sample counts, got an empty list")
    check_choice("control", control, CONTROLS)
    acc = Moments(tasks.T, M.shape[0], M.device, second)
    for k in blocks:
        X, Y = sample(M, tasks, k, generator)
        acc.add(X, _labels_control(Y, control, generator))
    return acc.result()


def first_moment_subspace(G: torch.Tensor, r: int) -> torch.Tensor:
    """``U: (d, r)``: the top-r right singular vectors of ``G: (T, d)`` (with T < r, the rest of the
    basis is whatever the SVD returns: the estimate cannot hold more than T directions)."""
    check_int("r", r, 1, G.shape[1])
    with one_thread():
        _, _, Vh = torch.linalg.svd(G.double(), full_matrices=True)
    return Vh[:r].T


def second_moment_subspace(S: torch.Tensor, r: int) -> torch.Tensor:
    """``U: (d, r)``: the top-r eigenvectors of Q = sum_t S_t^2 for ``S: (T, d, d)`` symmetric."""
    check_int("r", r, 1, S.shape[-1])
    with one_thread():
        Q = torch.einsum("tij,tjk->ik", S.double(), S.double())
        _, V = torch.linalg.eigh((Q + Q.T) / 2)
    return V[:, -r:].flip(1)


def _orthonormalise(B: torch.Tensor) -> None:
    """In place: B^T = Q R with diag(R) > 0 (Gram-Schmidt on the rows of ``B: (r, d)``), then B <- Q^T."""
    with one_thread():
        Q, R = torch.linalg.qr(B.T)
    s = torch.sign(torch.diagonal(R))
    s[s == 0] = 1
    B.copy_((Q * s).T)


def _phase(M, tasks, B, A, n, generator, loss, control, on_block):
    """Fresh samples, their linear features h = B x and the loss derivative at f = a^T h / r.
    Returns ``X: (T, n, d)``, ``H: (T, n, r)``, ``g: (T, n)`` with g_ti = l'(f_ti)."""
    X, Y = sample(M, tasks, n, generator)
    Y = _labels_control(Y, control, generator)
    if on_block is not None:
        on_block(X, Y)
    H = X @ B.T
    f = torch.bmm(H, A.unsqueeze(-1)).squeeze(-1) / B.shape[0]
    return X, H, loss_grad(f, Y, loss)


def train_linear_rep(M: torch.Tensor, tasks: Tasks, B0: torch.Tensor, *, n1: int, n2: int, rounds: int,
                     eta_a: float, eta_W: float, generator: torch.Generator, loss: str = "logistic",
                     control: str = "none", record_every: int = 1, on_block=None) -> tuple[torch.Tensor, dict]:
    """The linear representation trained by alternating GD (module docstring), batched over tasks.

    ``B0: (r, d)`` initial representation (orthonormalised first). Each phase draws its samples with
    :func:`mtrl_lib.tasks.sample` (n1 then n2 per task and round, the order in which the network's training
    loop draws them); ``on_block(X, Y)``, if given, sees every block as drawn (e.g. :meth:`Moments.add`, so that
    one pass over the samples serves several estimators). Returns the final ``B: (r, d)`` and
    ``{"round": [...], "subspace_error": [...]}`` recorded every ``record_every`` rounds (plus 0 and the last)."""
    for name, v in (("n1", n1), ("n2", n2), ("record_every", record_every)):
        check_int(name, v, 1)
    check_int("rounds", rounds, 0)
    check_float("eta_a", eta_a, 0.0)
    check_float("eta_W", eta_W, 0.0)
    check_choice("loss", loss, LOSSES)
    check_choice("control", control, CONTROLS)
    head_tasks = Tasks(tasks.family, tasks.params.roll(-1, 0), tasks.noise) if control == "swapped_heads" else tasks
    B = B0.to(M.dtype).clone()
    A = torch.zeros(tasks.T, B.shape[0], dtype=M.dtype, device=M.device)
    _orthonormalise(B)
    hist = {"round": [0], "subspace_error": [subspace_error(B, M)]}
    for k in range(1, rounds + 1):
        _, H, g = _phase(M, head_tasks, B, A, n1, generator, loss, control, on_block)
        A -= eta_a / n1 * torch.bmm(g.unsqueeze(1), H).squeeze(1)                      # (T, r)
        X, _, g = _phase(M, tasks, B, A, n2, generator, loss, control, on_block)
        V = torch.bmm(g.unsqueeze(1), X).squeeze(1)                                    # (T, d): sum_i g_ti x_ti
        B -= eta_W / (tasks.T * n2) * (A.T @ V)                                        # sum_t a_t (...)^T
        _orthonormalise(B)
        if not (torch.isfinite(B).all() and torch.isfinite(A).all()):
            raise FloatingPointError(f"linear representation diverged at round {k} "
                                     f"(eta_a = {eta_a:g}, eta_W = {eta_W:g})")
        if k % record_every == 0 or k == rounds:
            hist["round"].append(k)
            hist["subspace_error"].append(subspace_error(B, M))
    return B, hist
