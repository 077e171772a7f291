r"""The population limit (n1, n2 -> infinity) of the algorithm of :mod:`mtrl_lib.train`, solved for the
``linear`` family with the correlation loss and zero bias, and iterated in a reduced state.

Setting and notation (chapter 2): x ~ N(0, I_d); M (d, r) with orthonormal columns; task t labels
y = sign(<v_t, M^T x>) = sign(u_t^T x) with u_t = M v_t a unit vector (V = [v_1 .. v_T]^T, (T, r)), each label
flipped with probability p (``noise``); the network f_t(x) = a_t^T relu(W x) / m, rows w_k of W (m, d), heads
A = [a_1 .. a_T]^T (T, m); step sizes multiplied by m (the training convention); the correlation loss
l(y f) = -y f; bias b = 0. The population replaces every sample mean of a phase by its expectation.

**The identities (exact).** Write relu(s) = (s + |s|)/2 and 1[s > 0] = (1 + sign s)/2. Under x -> -x the label
y flips while |w^T x| and sign(w^T x) x do not change, so y |w^T x| and y sign(w^T x) x have mean zero, and
E[y x] = kappa sqrt(2/pi) u with kappa = 1 - 2p. Hence, for any w (not only unit) and theta the angle between
w and u,

    E[y relu(w^T x)]      = kappa ||w|| cos(theta) / sqrt(2 pi) = kappa <w, u> / sqrt(2 pi),        (p1)
    E[y 1[w^T x > 0] x]   = kappa u / sqrt(2 pi).                                                   (p2)

The arc-cosine terms (pi - theta) that appear in E[relu(w^T x) relu(w'^T x)] cancel here: (p2) does not depend
on w at all. (p1) and (p2) with kappa = 1 are chapter 2's equation c2-identities.

**The population round (exact).** With the correlation loss l'(f) = -y, so m grad_{a_t} L_t = -E[y phi(x)] and
m grad_W L = -(1/T) sum_t a_t (.) E[y 1[W x > 0] x^T] (row k scaled by a_tk). By (p1) and (p2), one round of
train.py (head phase, then feature phase with the updated heads, weight decay lambda, renormalisation) is

    a_t  <-  a_t + (eta_a kappa / sqrt(2 pi)) W u_t                          (adapted heads)        (p3)
    W    <-  (1 - eta_W lambda) W + (eta_W kappa / (T sqrt(2 pi))) sum_t a_t u_t^T                  (p4)
    w_k  <-  w_k / ||w_k||                                                   (when renorm)          (p5)

From zero heads, one round is chapter 2's power step c2-power: W <- W + (eta_a eta_W kappa^2 / 2 pi) M Sigma_T
M^T W with Sigma_T = (1/T) sum_t v_t v_t^T. Later rounds use the accumulated heads: a_t is the sum of (p3) over
all earlier rounds, so the step grows with the round. Frozen heads skip (p3); zero heads leave W alone but
for the weight decay. Under the shuffled-labels control kappa = 0 in both phases (nothing moves); under
swapped heads (p3) reads u_{t+1} instead of u_t.

**The reduced state (exact).** Split every row w_k = M z_k + s_k p_k, z_k = M^T w_k in R^r, s_k >= 0 and p_k a
unit vector orthogonal to span(M) (s_k = 0 and p_k = 0 when w_k lies in span(M)). The update (p4) adds a
vector of span(M) to every row and rescales it; (p5) rescales it. So p_k never changes, p_k = p_k^(0), and
with Z = W M (m, r), s = (s_k) (m,) and S = diag(s):

    A  <-  A + (eta_a kappa / sqrt(2 pi)) V Z^T                                                     (p6)
    Z  <-  (1 - eta_W lambda) Z + (eta_W kappa / (T sqrt(2 pi))) A^T V,   s <- (1 - eta_W lambda) s   (p7)
    (z_k, s_k)  <-  (z_k, s_k) / sqrt(||z_k||^2 + s_k^2)                   (when renorm)            (p8)

The dynamics (p6)-(p8) live in R^(m x r) x R^m x R^(T x m); the ambient dimension d enters only through the
initial condition (||z_k^(0)||^2 is about r/d).

**The metrics of the reduced state.** The energy needs (Z, s) only: ||W M||_F^2 / ||W||_F^2 = ||Z||_F^2 /
(||Z||_F^2 + ||s||^2). The subspace error does not. With P = [p_1 .. p_m]^T,

    W^T W = M Z^T Z M^T + M Z^T S P + P^T S Z M^T + P^T S^2 P,                                     (p9)

and its top-r eigenspace depends on the Gram matrix G_0 = P P^T (m, m) of the out-of-span directions, not on
their norms alone: if every p_k were the same vector, the out-of-span energy ||s||^2 would sit on one direction,
which can then outrank a weak direction of span(M); if the p_k are orthonormal, it is spread over m directions.
G_0 is constant (p_k = p_k^(0)), so it is computed once at initialisation: take any F (m, q) with F F^T = G_0
(q = rank G_0 <= min(m, d - r); here F = U Sigma from the SVD P = U Sigma N^T, N (d, q) orthonormal and
orthogonal to M). Then with B = [M | N] (orthonormal columns, B^T M = [I_r; 0])

    W = W~ B^T,   W~ = [Z | S F]  (m, r + q),                                                       (p10)

and since B is an isometry, the top-r right singular subspace of W is B times that of W~, and the principal
cosines with span(M) are those of W~ with span(e_1 .. e_r): the singular values of the first r rows of W~'s top-r
right singular vectors. So the iteration tracks (Z, s, A) exactly and reads the subspace error from (p10); no
full m x d W is carried (the cost per round does not depend on d). For a random init with m << d,
G_0 = I + O(1/sqrt(d)) off the diagonal and the norms s nearly suffice; with m > d - r (chapter 2's sizes) G_0
has rank d - r < m and is far from I. We always use the exact G_0.

**Which limit this is.** The population is n1, n2 -> infinity at a fixed number of rounds. Under the correlation
loss adapted heads are sums of (p3) over the rounds, so they grow without bound and the power step grows with
the round; the iteration then drives the share of the weakest eigen-direction of Sigma_T inside span(M)
towards zero relative to the strongest (it stays positive, so the population error still falls to 0 when
Sigma_T has full rank). A finite-sample run whose gradient noise exceeds that share loses the direction; the
sample size at which the runs follow the population therefore grows with the round budget, and the two
limits (n -> infinity, rounds -> infinity) need not commute. Frozen heads have a fixed step, and the
population converges to a fixed point, row by row: w_k -> g_k / ||g_k|| with g_k = sum_t a_tk u_t (wherever
g_k != 0, and with renorm and no weight decay, the angle from w_k to g_k obeys
tan phi <- sin phi / (cos phi + c ||g_k||), c = eta_W kappa / (T sqrt(2 pi))).

**Beyond the correlation loss.** For the logistic loss (train.py's default) l'(f) = -y sigmoid(-y f(x)) with
f(x) = a_t^T relu(W x) / m, so every expectation depends on the joint law of all m pre-activations W x: it is an
integral over span(M) + span(rows of W) (dimension up to r + q), not over the 2- or 3-dimensional span of
(w_k, u_t, one direction). The gradient of row k then has components along every other row, so the p_k rotate
and the reduction (p6)-(p8) fails; what survives is that W stays in span(M) + span(P^(0)), i.e. the state W~ of
(p10) is still exact, but its expectations are (r + q)-dimensional integrals: no quadrature reaches them, and
Monte Carlo is not a population. This module therefore solves the correlation loss only and refuses the others.

What is computed here:

* :func:`relu_moment`, :func:`gate_moment`: the closed forms (p1), (p2); :func:`relu_moment_quadrature`,
  :func:`gate_moment_quadrature`: the same expectations by exact 2-d integration in span(w, u) (polar
  coordinates, Gauss-Legendre between the kinks of the integrand), an independent check;
* :func:`population`: the reduced iteration (p6)-(p8) with the metrics from (p10), from the draws of a
  :class:`~mtrl_lib.train.TrainConfig` (same M, tasks, initial W and heads as :func:`mtrl_lib.train.train`);
* :func:`head_grad`, :func:`feature_grad`: the population gradients m grad_{a_t} L_t and m grad_W L of the
  round (p3)-(p4) on a full W, from either set of moments;
* :func:`full_population`: the same population round on the full m x d matrix W with the expectations from the
  quadrature and the metrics of :mod:`mtrl_lib.metrics` (for tests at small d);
* :func:`population_unit`: a unit of :mod:`mtrl_lib.units` (the recorded trajectory), as
  :func:`mtrl_lib.train.trajectory_unit`;
* :func:`paired` and its unit :func:`paired_unit` (chapter 8): a finite run (``train``, step for step) beside its
  population on one seed, with :func:`subspace_distance` between their top-r subspaces (a metric, unlike the
  difference of two subspace errors), :func:`span_ratio` (sigma_r / sigma_1 of W's part inside span(M), which the
  subspace error does not see) and the heads' size, every recorded round; optionally with the head phase of both
  stopped once the population's error reaches a level.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from .metrics import energy, subspace_error
from .tasks import Tasks
from .threads import one_thread
from .train import TrainConfig, init_heads, setup

SQRT_2PI = math.sqrt(2.0 * math.pi)
#: Gauss-Legendre nodes per smooth piece of the angular integrals (the pieces are analytic: 24 nodes give
#: the integrals to rounding error)
QUAD_NODES = 24


def check_supported(cfg: TrainConfig) -> None:
    """Refuse, in one line, a configuration whose population this module does not solve exactly."""
    if cfg.family != "linear":
        raise ValueError(f"family must be 'linear' for the population dynamics (closed forms exist only for "
                         f"sign(<v_t, M^T x>) labels), got {cfg.family!r}")
    if cfg.loss != "correlation":
        raise ValueError(f"loss must be 'correlation' for the population dynamics (for {cfg.loss!r} the "
                         f"expectations are (r + m)-dimensional integrals: see mtrl_lib.population), "
                         f"got {cfg.loss!r}")
    if cfg.bias_scale != 0:
        raise ValueError(f"bias_scale must be 0 for the population dynamics, got {cfg.bias_scale}")


def label_factor(cfg: TrainConfig) -> float:
    """kappa = E[y sign(u^T x) | x] = 1 - 2 noise; 0 under the shuffled-labels control (labels are coins)."""
    return 0.0 if cfg.control == "shuffled_labels" else 1.0 - 2.0 * cfg.noise


# ------------------------------------------------------------------------------------ the identities

def relu_moment(W: torch.Tensor, U: torch.Tensor, kappa: float = 1.0) -> torch.Tensor:
    """(p1): E[y relu(w_k^T x)] for y = sign(u_t^T x) (flipped w.p. p, kappa = 1 - 2p), as ``(m, T)``.

    ``W: (m, d)`` any rows, ``U: (T, d)`` unit rows. Written with the angle: ||w|| cos(theta) / sqrt(2 pi)."""
    norms = W.norm(dim=1, keepdim=True)
    cos = (W @ U.T) / norms.clamp_min(1e-300)
    return kappa * norms * cos / SQRT_2PI


def gate_moment(W: torch.Tensor, U: torch.Tensor, kappa: float = 1.0) -> torch.Tensor:
    """(p2): E[y 1[w_k^T x > 0] x] as ``(m, T, d)``: kappa u_t / sqrt(2 pi) for every row (w-independent)."""
    return (kappa / SQRT_2PI) * U.unsqueeze(0).expand(W.shape[0], *U.shape)


def _plane(W: np.ndarray, U: np.ndarray):
    """Per pair (k, t): e1 = w_k / ||w_k||, e2 the unit vector of u_t orthogonal to e1 (any unit vector
    orthogonal to e1 when u_t is parallel to it: its coefficient integrates to zero), and the angle alpha of
    u_t in the (e1, e2) plane. Shapes (m, 1, d), (m, T, d), (m, T)."""
    e1 = (W / np.linalg.norm(W, axis=1, keepdims=True))[:, None, :]
    c = np.einsum("kd,td->kt", e1[:, 0], U)
    rest = U[None, :, :] - c[..., None] * e1
    sn = np.linalg.norm(rest, axis=-1)
    # fallback e2 for parallel pairs: the coordinate axis least aligned with e1, made orthogonal to it
    axis = np.eye(W.shape[1])[np.argmin(np.abs(e1[:, 0]), axis=1)][:, None, :]
    alt = axis - (axis * e1).sum(-1, keepdims=True) * e1
    alt = alt / np.linalg.norm(alt, axis=-1, keepdims=True)
    e2 = np.where(sn[..., None] > 1e-12, rest / np.maximum(sn, 1e-300)[..., None], alt)
    return e1, e2, np.arctan2(sn, c)


def _angular_integrals(alpha: np.ndarray) -> np.ndarray:
    """(1/2pi) int_0^{2pi} sign(cos(th - alpha)) 1[cos th > 0] (cos th, sin th) dth per angle, ``(..., 2)``,
    by Gauss-Legendre on each interval between the kinks th = pi/2, 3pi/2, alpha +- pi/2 (mod 2 pi)."""
    kinks = np.stack([np.full_like(alpha, np.pi / 2), np.full_like(alpha, 3 * np.pi / 2),
                      np.mod(alpha + np.pi / 2, 2 * np.pi), np.mod(alpha - np.pi / 2, 2 * np.pi)], -1)
    edges = np.sort(np.concatenate([np.zeros_like(alpha)[..., None], kinks,
                                    np.full_like(alpha, 2 * np.pi)[..., None]], -1), -1)
    x, w = np.polynomial.legendre.leggauss(QUAD_NODES)
    lo, hi = edges[..., :-1, None], edges[..., 1:, None]            # (..., 5, 1)
    th = (lo + hi) / 2 + (hi - lo) / 2 * x                          # (..., 5, nodes)
    wt = (hi - lo) / 2 * w
    g = np.sign(np.cos(th - alpha[..., None, None])) * (np.cos(th) > 0)
    out = np.stack([(wt * g * np.cos(th)).sum((-2, -1)), (wt * g * np.sin(th)).sum((-2, -1))], -1)
    return out / (2 * np.pi)


def relu_moment_quadrature(W: np.ndarray, U: np.ndarray, kappa: float = 1.0) -> np.ndarray:
    """E[y relu(w_k^T x)] as ``(m, T)`` by exact 2-d integration: in polar coordinates x = R (cos th e1 +
    sin th e2) + (orthogonal part, independent and irrelevant), E[R] = sqrt(pi / 2) and the integrand is
    ||w|| R sign(cos(th - alpha)) relu(cos th)."""
    _, _, alpha = _plane(W, U)
    return kappa * np.linalg.norm(W, axis=1)[:, None] * math.sqrt(np.pi / 2) * _angular_integrals(alpha)[..., 0]


def gate_moment_quadrature(W: np.ndarray, U: np.ndarray, kappa: float = 1.0) -> np.ndarray:
    """E[y 1[w_k^T x > 0] x] as ``(m, T, d)`` by exact 2-d integration in span(w_k, u_t) (the components
    orthogonal to it have mean zero: they are independent of the rest and centred)."""
    e1, e2, alpha = _plane(W, U)
    I = _angular_integrals(alpha) * math.sqrt(np.pi / 2)
    return kappa * (I[..., 0:1] * e1 + I[..., 1:2] * e2)


# ------------------------------------------------------------------------------ the reduced iteration

@dataclass
class PopulationResult:
    """Output of :func:`population`: ``history`` as :class:`mtrl_lib.train.TrainResult` (``round``,
    ``subspace_error``, ``energy``, ``loss``: the population feature-phase loss), and the final reduced state:
    ``Z: (m, r)``, ``s: (m,)``, heads ``A: (T, m)``; ``P: (m, d)`` the constant unit out-of-span directions
    p_k (zero rows where w_k^(0) lies in span(M)); :meth:`W` rebuilds the full first layer."""

    config: TrainConfig
    M: torch.Tensor
    tasks: Tasks
    Z: torch.Tensor
    s: torch.Tensor
    A: torch.Tensor
    P: torch.Tensor
    history: dict = field(default_factory=dict)

    def W(self) -> torch.Tensor:
        """The first layer W = Z M^T + S P (row k = M z_k + s_k p_k), as ``(m, d)`` float64."""
        return self.Z @ self.M.T + self.s[:, None] * self.P


def split_rows(W: torch.Tensor, M: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(Z, s, P)``: Z = W M (m, r), s_k = ||w_k - M z_k||, P the unit out-of-span directions (m, d)."""
    Z = W @ M
    perp = W - Z @ M.T
    s = perp.norm(dim=1)
    P = torch.where(s[:, None] > 1e-12, perp / s.clamp_min(1e-300)[:, None], torch.zeros_like(perp))
    return Z, torch.where(s > 1e-12, s, torch.zeros_like(s)), P


def gram_factor(P: torch.Tensor) -> torch.Tensor:
    """F (m, q) with F F^T = P P^T (= G_0), q = the numerical rank: F = U Sigma from the SVD of P (p10)."""
    with one_thread():
        U, sv, _ = torch.linalg.svd(P, full_matrices=False)
    keep = sv > sv.max().clamp_min(1e-300) * 1e-12 if sv.numel() else sv > 0
    return U[:, keep] * sv[keep]


def reduced_metrics(Z: torch.Tensor, s: torch.Tensor, F: torch.Tensor) -> tuple[float, float]:
    """(subspace error, energy) of W from the reduced state, by (p10): the top-r right singular vectors of
    W~ = [Z | S F], whose first r coordinates are span(M). The same eigen-route as
    :func:`mtrl_lib.train.round_metrics` (top-r eigenvectors of W~^T W~)."""
    r = Z.shape[1]
    Wt = torch.cat([Z, s[:, None] * F], dim=1)
    with one_thread():
        if Wt.shape[0] < r:                      # fewer rows than r: SVD (as the metrics' fallback)
            Vh = torch.linalg.svd(Wt, full_matrices=True)[2]
            U = Vh[:r].T
        else:
            U = torch.linalg.eigh(Wt.T @ Wt)[1][:, -r:]
        c = torch.linalg.svdvals(U[:r]).clamp(0.0, 1.0)
        err = torch.sqrt(torch.clamp(1 - c.min() ** 2, min=0.0))
        en = Z.pow(2).sum() / Wt.pow(2).sum()
    return float(err), float(en)


def _draws(cfg: TrainConfig, M, tasks, W0):
    """M, tasks, W0 and the initial heads in float64, from the config's streams as train() draws them."""
    cfg64 = replace(cfg, dtype="float64")
    M0, tasks0, Winit, _ = setup(cfg64)
    M = (M0 if M is None else M).double()
    tasks = tasks0 if tasks is None else tasks
    if tasks.T != cfg.T:
        raise ValueError(f"tasks has T = {tasks.T} tasks but the configuration says T = {cfg.T}")
    W = (Winit if W0 is None else W0).double().clone()
    A = init_heads(cfg64, cfg.T, W.device, torch.float64)
    return M, tasks, W, A


def population(cfg: TrainConfig, *, M: torch.Tensor | None = None, tasks: Tasks | None = None,
               W0: torch.Tensor | None = None) -> PopulationResult:
    """The population trajectory of ``cfg`` (n1, n2 -> infinity), iterated in the reduced state (p6)-(p8),
    float64, vectorised over tasks; metrics every ``record_every`` rounds from (p10).

    Same M, tasks, initial W and heads as ``train(cfg)`` (their own streams; ``M``, ``tasks``, ``W0`` override
    them as in :func:`mtrl_lib.train.train`); ``n1``, ``n2``, ``dtype`` and ``memory_budget_gb`` play no part.
    Raises ``ValueError`` for a configuration this module does not solve (:func:`check_supported`)."""
    check_supported(cfg)
    M, tasks, W, A = _draws(cfg, M, tasks, W0)
    V = tasks.params.double().to(W.device)                          # (T, r), unit rows: u_t = M v_t
    V_head = V.roll(-1, 0) if cfg.control == "swapped_heads" else V
    kappa = label_factor(cfg)
    Z, s, P = split_rows(W, M)
    F = gram_factor(P)
    hist = {"round": [], "subspace_error": [], "energy": [], "loss": []}

    def record(k, loss):
        err, en = reduced_metrics(Z, s, F)
        hist["round"].append(k)
        hist["subspace_error"].append(err)
        hist["energy"].append(en)
        hist["loss"].append(loss)

    record(0, float("nan"))
    c_head = cfg.eta_a * kappa / SQRT_2PI
    c_feat = cfg.eta_W * kappa / (cfg.T * SQRT_2PI)
    shrink = 1.0 - cfg.eta_W * cfg.weight_decay
    m = cfg.m
    for k in range(cfg.rounds):
        if cfg.head_mode == "adapted":
            A = A + c_head * (V_head @ Z.T)                                   # (p6)
        # feature-phase loss: (1/T) sum_t E[-y f_t] = -(kappa / (T m sqrt(2 pi))) sum_t a_t^T Z v_t, by (p1)
        loss = float(-(kappa / (cfg.T * m * SQRT_2PI)) * (A * (V @ Z.T)).sum())
        Z = shrink * Z + c_feat * (A.T @ V)                                   # (p7)
        s = shrink * s
        if cfg.renorm:                                                        # (p8)
            norm = torch.sqrt(Z.pow(2).sum(1) + s.pow(2)).clamp_min(1e-12)
            Z, s = Z / norm[:, None], s / norm
        if (k + 1) % cfg.record_every == 0 or k + 1 == cfg.rounds:
            record(k + 1, loss)
    history = {key: np.asarray(v, dtype=float) for key, v in hist.items()}
    return PopulationResult(cfg, M, tasks, Z, s, A, P, history)


def head_grad(W: torch.Tensor, U: torch.Tensor, kappa: float, relu=None) -> torch.Tensor:
    """m grad_{a_t} L_t of the population correlation loss, ``(T, m)``: -E[y relu(W x)] per task, by (p1)
    (or by ``relu``, e.g. :func:`relu_moment_quadrature`). ``W: (m, d)``, ``U: (T, d)``."""
    return -_moment(relu or relu_moment, W, U, kappa).T


def feature_grad(W: torch.Tensor, A: torch.Tensor, U: torch.Tensor, kappa: float, gate=None) -> torch.Tensor:
    """m grad_W (1/T) sum_t L_t of the population correlation loss, ``(m, d)``:
    -(1/T) sum_t a_tk E[y 1[w_k^T x > 0] x], by (p2) (or by ``gate``). ``A: (T, m)``."""
    G = _moment(gate or gate_moment, W, U, kappa)                       # (m, T, d)
    return -torch.einsum("tk,ktd->kd", A, G) / U.shape[0]


def _moment(fn, W, U, kappa):
    """Call a moment in torch or, for the quadrature (NumPy), through NumPy and back."""
    if fn in (relu_moment_quadrature, gate_moment_quadrature):
        return torch.from_numpy(fn(W.numpy(), U.numpy(), kappa))
    return fn(W, U, kappa)


def full_population(cfg: TrainConfig, moments: str = "quadrature") -> tuple[dict, torch.Tensor, torch.Tensor]:
    """The population round (p3)-(p5) on the full ``W: (m, d)`` (float64), with the expectations from the 2-d
    quadrature (``moments="quadrature"``, not the closed forms; or ``"closed"``) and the metrics of
    :mod:`mtrl_lib.metrics` (the definitions, by SVD): the independent check of the reduction. Cost about
    m T d quadratures per round: small d only. Returns ``(history, W, A)``."""
    check_supported(cfg)
    relu, gate = ((relu_moment_quadrature, gate_moment_quadrature) if moments == "quadrature"
                  else (relu_moment, gate_moment))
    M, tasks, W, A = _draws(cfg, None, None, None)
    U = tasks.params.double() @ M.T                                  # (T, d) the unit u_t
    U_head = U.roll(-1, 0) if cfg.control == "swapped_heads" else U
    kappa = label_factor(cfg)
    hist = {"round": [0], "subspace_error": [subspace_error(W, M)], "energy": [energy(W, M)],
            "loss": [float("nan")]}
    for k in range(cfg.rounds):
        if cfg.head_mode == "adapted":                                      # (p3)
            A = A - cfg.eta_a * head_grad(W, U_head, kappa, relu)
        loss = float((A * head_grad(W, U, kappa, relu)).sum()) / (cfg.T * cfg.m)
        W = W - cfg.eta_W * (feature_grad(W, A, U, kappa, gate) + cfg.weight_decay * W)   # (p4)
        if cfg.renorm:                                                      # (p5)
            W = W / W.norm(dim=1, keepdim=True).clamp_min(1e-12)
        if (k + 1) % cfg.record_every == 0 or k + 1 == cfg.rounds:
            hist["round"].append(k + 1)
            hist["subspace_error"].append(subspace_error(W, M))
            hist["energy"].append(energy(W, M))
            hist["loss"].append(loss)
    return {key: np.asarray(v, dtype=float) for key, v in hist.items()}, W, A


def population_unit(seed: int, **config) -> dict:
    """A unit (:mod:`mtrl_lib.units`): the population trajectory of ``TrainConfig(seed=seed, **config)``,
    ``{"round", "subspace_error", "energy", "loss"}`` (as :func:`mtrl_lib.train.trajectory_unit`)."""
    return dict(population(TrainConfig(seed=seed, **config)).history)


# ------------------------------------------------------------- a finite run beside its population (chapter 8)

def top_subspace(W: torch.Tensor, r: int) -> torch.Tensor:
    """``(d, r)`` orthonormal basis of the top-r right singular subspace of ``W: (m, d)`` (float64, one thread):
    the top-r eigenvectors of W^T W, the route of :func:`mtrl_lib.train.round_metrics`."""
    with one_thread():
        Wd = W.double()
        return torch.linalg.eigh(Wd.T @ Wd)[1][:, -r:]


def subspace_distance(W1: torch.Tensor, W2: torch.Tensor, r: int) -> float:
    """||P_1 - P_2||_2 between the top-r right singular subspaces of ``W1`` and ``W2`` (both ``(m, d)``): the sine
    of the largest principal angle between them, sqrt(1 - c_min^2) with c_min the smallest principal cosine. The
    subspace error is this distance with ``W2``'s subspace replaced by span(M). A metric on r-dimensional
    subspaces (the triangle inequality holds), so a run's distance from its population measures the part of the
    run that the population does not explain, where the difference of two subspace errors does not."""
    U1, U2 = top_subspace(W1, r), top_subspace(W2, r)
    with one_thread():
        c = torch.linalg.svdvals(U1.T @ U2).clamp(0.0, 1.0)
        return float(torch.sqrt(torch.clamp(1 - c.min() ** 2, min=0.0)))


def span_ratio(Z: torch.Tensor) -> float:
    """sigma_r / sigma_1 of ``Z = W M`` (m, r), the part of W inside span(M) in M's coordinates: 1 when W weighs
    every direction of span(M) alike, near 0 when it has nearly collapsed onto fewer than r of them. The
    subspace error cannot see this ratio: a W whose weakest in-span direction is 1e-6 of its strongest has error 0
    as long as nothing outside span(M) outweighs that direction."""
    with one_thread():
        sv = torch.linalg.svdvals(Z.double())
        return float(sv[-1] / sv[0].clamp_min(1e-300))


def paired(cfg: TrainConfig, head_stop: float = 0.0) -> dict:
    """A finite-sample run and its population, side by side on one seed, with the distance between them.

    The finite run is ``train(cfg)`` step for step (same draws, same :class:`mtrl_lib.train.Round`, same recorded
    metrics, to the bit: ``tests/test_population.py``); the population is :func:`population`'s iteration
    (p6)-(p8) from the same M, tasks, initial W and heads. ``head_stop`` > 0 (adapted heads only) stops the head
    phase of both, for good, after the first round that leaves the population's subspace error at or below
    ``head_stop``: from then on the heads stay as they are and only W trains (the run then draws no head-phase
    samples). 0 stops nothing. Every ``record_every`` rounds (and at round 0 and the last) it records, as arrays
    over the records:

    * ``round``; the run's ``subspace_error``, ``energy``, ``loss`` (as :func:`mtrl_lib.train.trajectory_unit`);
    * ``pop_subspace_error``, ``pop_energy`` (as :func:`population_unit`);
    * ``distance``: :func:`subspace_distance` between the run's W and the population's W = Z M^T + S P;
    * ``span_ratio``, ``pop_span_ratio``: :func:`span_ratio` of the run's W M and of the population's Z;
    * ``head_rms``, ``pop_head_rms``: the root-mean-square head entry ||A||_F / sqrt(T m) of each;

    and ``stop_round``: the round after which the heads stopped (-1 when they never did).

    Raises ``ValueError`` for a configuration :func:`population` does not solve, and
    :class:`mtrl_lib.train.DivergenceError` as ``train`` does."""
    from .tasks import make_generator
    from .train import DivergenceError, Round, resolve_device, round_metrics, stream_seed

    check_supported(cfg)
    if head_stop < 0:
        raise ValueError(f"head_stop must be a number >= 0, got {head_stop!r}")
    # the finite run, as train(cfg)
    dev = resolve_device(cfg.device)
    M, tasks, W, b = setup(cfg)
    W = W.clone()
    A = init_heads(cfg, cfg.T, dev, cfg.torch_dtype)
    data_gen = make_generator(stream_seed(cfg.seed, "data"), dev)
    rnd = Round(cfg, M, tasks, b)
    # the population, as population(cfg)
    Mp, tasks_p, Wp, Ap = _draws(cfg, None, None, None)
    V = tasks_p.params.double().to(Wp.device)
    V_head = V.roll(-1, 0) if cfg.control == "swapped_heads" else V
    kappa = label_factor(cfg)
    Z, s, P = split_rows(Wp, Mp)
    F = gram_factor(P)
    c_head = cfg.eta_a * kappa / SQRT_2PI
    c_feat = cfg.eta_W * kappa / (cfg.T * SQRT_2PI)
    shrink = 1.0 - cfg.eta_W * cfg.weight_decay
    Md = M.double()
    adapted, stop_round = cfg.head_mode == "adapted", -1
    keys = ("round", "subspace_error", "energy", "loss", "pop_subspace_error", "pop_energy", "distance",
            "span_ratio", "pop_span_ratio", "head_rms", "pop_head_rms")
    hist = {k: [] for k in keys}

    def record(k, loss):
        err, en = round_metrics(W, M)
        perr, pen = reduced_metrics(Z, s, F)
        Wpop = Z @ Mp.T + s[:, None] * P
        vals = (k, err, en, loss, perr, pen, subspace_distance(W, Wpop, cfg.r), span_ratio(W.double() @ Md),
                span_ratio(Z), float(A.double().pow(2).mean().sqrt()), float(Ap.pow(2).mean().sqrt()))
        for key, v in zip(keys, vals):
            hist[key].append(v)

    record(0, float("nan"))
    for k in range(cfg.rounds):
        loss, ok = rnd.update(W, A, data_gen)
        if not ok:
            raise DivergenceError(
                f"training diverged at round {k + 1} (non-finite loss or weights) with eta_W = {cfg.eta_W:g}, "
                f"eta_a = {cfg.eta_a:g}: lower the step sizes (try eta_W = {cfg.eta_W / 10:g})")
        if adapted:                                                           # (p6)
            Ap = Ap + c_head * (V_head @ Z.T)
        Z = shrink * Z + c_feat * (Ap.T @ V)                                  # (p7)
        s = shrink * s
        if cfg.renorm:                                                        # (p8)
            norm = torch.sqrt(Z.pow(2).sum(1) + s.pow(2)).clamp_min(1e-12)
            Z, s = Z / norm[:, None], s / norm
        if (k + 1) % cfg.record_every == 0 or k + 1 == cfg.rounds:
            record(k + 1, loss)
        if adapted and head_stop and reduced_metrics(Z, s, F)[0] <= head_stop:
            adapted, rnd.adapted, stop_round = False, False, k + 1
    out = {key: np.asarray(v, dtype=float) for key, v in hist.items()}
    out["stop_round"] = stop_round
    return out


def paired_unit(seed: int, head_stop: float = 0.0, **config) -> dict:
    """A unit (:mod:`mtrl_lib.units`): :func:`paired` for ``TrainConfig(seed=seed, **config)``, every recorded
    array of it (chapter 8's unit: the run, its population and the distance between them)."""
    return paired(TrainConfig(seed=seed, **config), head_stop=head_stop)
