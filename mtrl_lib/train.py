"""Alternating multi-task gradient descent (PAPER.md, "The algorithm"), batched over tasks.

    init: rows of W on the unit sphere, b fixed, heads a_t = 0 (or frozen random, or zero)
    for k = 0 .. K-1:
        head phase:    fresh n1 samples per task;  a_t <- a_t - eta_a m grad_{a_t} L_t(W, a_t)   for every t
        feature phase: fresh n2 samples per task;  W   <- W   - eta_W m grad_W (1/T) sum_t L_t(W, a_t)
                       (+ weight decay; optional renormalisation of the rows of W to the unit sphere)

Step sizes are multiplied by m (the mean-field convention that goes with f = a^T phi / m): then one head
step from zero gives a_t = (eta_a / n1) sum_i y_ti phi(x_ti) exactly as in PAPER.md, and the step sizes
that work do not depend on the width m.

Gradients are analytic (one pass, no autograd graph): with u = y f and g_ti = l'(f_ti) / n,

    grad_{a_t} L_t = (1/m) sum_i g_ti phi(x_ti)                                    (T, m)
    grad_W  L      = (1/(T m)) sum_{t,i} g_ti (a_t * 1[W x_ti + b > 0]) x_ti^T        (m, d)

``tests/test_train.py`` checks both against autograd.

How a round is computed (the hot loop of every chapter; see the Performance page):

* batched over tasks: the samples of all tasks of a chunk are one ``(Tc n, d)`` matrix, so a phase is one
  large matrix product ``X [W^T | M]`` (features and, in the extra columns, the latent coordinates
  ``z = M^T x`` that give the labels: sampling is fused with the forward pass, X is read once), a few
  in-place elementwise passes, batched matrix-vector products for ``f`` and the head update, and for the
  feature phase one ``(m, Tc n) x (Tc n, d)`` product accumulated in place into grad_W;
* no autograd graph and no needless copies: X is drawn in place into a buffer allocated once per run,
  the pre-activations are overwritten by the features, then by the mask times the heads (phi > 0 exactly
  when W x + b > 0), and the per-sample factor g is folded into whichever of X or the mask is smaller;
* head phase and feature phase run chunk by chunk (W is fixed during a round, so the feature phase of a
  chunk may follow its own head phase), with ``Tc`` from ``memory_budget_gb`` (:meth:`TrainConfig.chunk`):
  every tensor train() holds, the buffers above included, fits the budget however large T n d is.

For one chunk (the default whenever the run fits the budget) the random stream is the same as drawing
``X1, Y1`` then ``X2, Y2`` with :func:`mtrl_lib.tasks.sample`. A different chunking draws the same
distribution in another order, so a run is reproducible for a given seed and ``memory_budget_gb``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ._validate import check_choice, check_float, check_int
from .losses import LOSSES, loss_grad, loss_value
from .metrics import energy, subspace_error
from .model import init_weights, output_scale
from .progress import progress_bar
from .threads import one_thread
from .tasks import ALL_FAMILIES, MIN_R, Tasks, chunk_size, draw_tasks, gaussian_, make_generator, random_subspace

HEAD_MODES = ("adapted", "frozen", "zero")
# Negative controls (tests and chapters use them to show that a verdict fails for a run that cannot learn):
# "shuffled_labels": every label is a fair coin independent of x, in both phases (nothing to learn);
# "swapped_heads": the head phase of task t uses the labels of task t+1 (mod T), so each head is fitted to
# another task than the one it predicts in the feature phase (a broken algorithm).
CONTROLS = ("none", "shuffled_labels", "swapped_heads")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss or weight."""


def resolve_device(device: str) -> torch.device:
    check_choice("device", device.split(":")[0], ("cpu", "cuda"))
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device must be 'cpu' on this machine (no CUDA device is available), got {device!r}")
    return torch.device(device)


@dataclass(frozen=True)
class TrainConfig:
    """Everything one multi-task training run depends on. Validated on construction."""

    d: int = 100
    r: int = 5
    m: int = 200
    T: int = 20
    family: str = "linear"
    noise: float = 0.0
    n1: int = 50
    n2: int = 50
    rounds: int = 300
    eta_a: float = 10.0
    eta_W: float = 0.1
    loss: str = "logistic"
    weight_decay: float = 0.0
    renorm: bool = True
    head_mode: str = "adapted"
    head_norm: float = 1.0
    bias_scale: float = 0.0
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    memory_budget_gb: float = 1.0
    record_every: int = 1
    control: str = "none"

    def __post_init__(self):
        check_int("d", self.d, 1)
        check_int("r", self.r, 1, self.d)
        check_int("m", self.m, 1)
        check_int("T", self.T, 1)
        check_choice("family", self.family, ALL_FAMILIES)
        if self.r < MIN_R[self.family]:
            raise ValueError(f"r must be >= {MIN_R[self.family]} for the {self.family} family, got {self.r}")
        check_float("noise", self.noise, 0.0, 0.5)
        check_int("n1", self.n1, 1)
        check_int("n2", self.n2, 1)
        check_int("rounds", self.rounds, 0)
        check_float("eta_a", self.eta_a, 0.0)
        check_float("eta_W", self.eta_W, 0.0)
        check_choice("loss", self.loss, LOSSES)
        check_float("weight_decay", self.weight_decay, 0.0)
        if not isinstance(self.renorm, bool):
            raise ValueError(f"renorm must be True or False, got {self.renorm!r}")
        check_choice("head_mode", self.head_mode, HEAD_MODES)
        check_float("head_norm", self.head_norm, 0.0)
        check_float("bias_scale", self.bias_scale, 0.0)
        check_int("seed", self.seed, 0)
        resolve_device(self.device)
        check_choice("dtype", self.dtype, tuple(DTYPES))
        check_float("memory_budget_gb", self.memory_budget_gb, 0.0, lo_open=True)
        check_int("record_every", self.record_every, 1)
        check_choice("control", self.control, CONTROLS)

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def chunk(self) -> int:
        """Tasks per chunk: the most whose working set (:meth:`working_set`) fits ``memory_budget_gb``
        (at least one)."""
        elem = torch.finfo(self.torch_dtype).bits // 8
        budget = int(self.memory_budget_gb * 2**30) // elem
        fixed, per_task = self._footprint()
        return chunk_size(self.T, 1, per_task, budget - fixed)

    def working_set(self, chunk: int | None = None) -> int:
        """Elements held at once by :func:`train` with ``chunk`` tasks per chunk (default :meth:`chunk`):
        the sample buffer X, the pre-activation buffer, per-sample vectors and the per-run state."""
        fixed, per_task = self._footprint()
        return fixed + (self.chunk() if chunk is None else chunk) * per_task

    def _footprint(self) -> tuple[int, int]:
        """(elements independent of the chunk, elements per task of a chunk)."""
        d, m, r, T = self.d, self.m, self.r, self.T
        n = max(self.n1, self.n2) if self.head_mode == "adapted" else self.n2
        width = padded_width(m + r)
        # per sample: a row of X (d), of [W x + b | M^T x] (width), and about 16 scalars (f, g, labels, loss,
        # scores, noise flips and their temporaries)
        per_task = n * (d + width + 16)
        # [W^T | M]; W, its initial copy, grad_W and the metrics' float64 SVD of W (copy and factors, counted
        # as 12 m d in all); heads A (T, m) with the finiteness check's temporaries; M and the task parameters
        fixed = d * width + 12 * m * d + 3 * T * m + T * r * r + 4 * d * r
        return fixed, per_task


def padded_width(k: int) -> int:
    """Columns of the fused product ``X [W^T | M | 0]``: m + r rounded up to a multiple of 8, which keeps the
    BLAS kernels on their fast path (an odd width such as 205 runs the product about twice as slowly)."""
    return -(-k // 8) * 8


def stream_seed(seed: int, stream: str) -> int:
    """Independent, named random streams per run: M, the tasks, the init and the data each get their own,
    so that for one seed M and the initial W are the same whatever T is (curves over T are paired). Distinct
    names give distinct streams (``tests/test_train.py``)."""
    raw = stream.encode()
    tag = int.from_bytes(raw, "little")
    # The whole name counts. The first version kept only the low 31 bits of ``tag``, i.e. the first four
    # characters, so "c5-probe-10" and "c5-probe-20" shared a stream. Names of at most five bytes (M, tasks,
    # init, heads, data: the draws of every training run) keep the entropy they had, so their streams and every
    # chapter's training runs are unchanged; a longer name adds its full value, so no two names collide.
    entropy = [int(seed), tag % (2**31)] + ([tag] if len(raw) > 5 else [])
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


@dataclass
class TrainResult:
    """Output of :func:`train`. ``history`` holds per-round arrays (recorded every ``record_every`` rounds,
    plus round 0 and the last): ``round``, ``subspace_error``, ``energy``, ``loss`` (feature-phase loss)."""

    config: TrainConfig
    M: torch.Tensor
    tasks: Tasks
    W0: torch.Tensor
    W: torch.Tensor
    b: torch.Tensor
    A: torch.Tensor
    history: dict = field(default_factory=dict)


def setup(cfg: TrainConfig) -> tuple[torch.Tensor, Tasks, torch.Tensor, torch.Tensor]:
    """Draw ``M``, the ``T`` tasks and the initial ``W, b`` of a run from their own streams."""
    dev, dt = resolve_device(cfg.device), cfg.torch_dtype
    M = random_subspace(cfg.d, cfg.r, make_generator(stream_seed(cfg.seed, "M"), dev), dt)
    tasks = draw_tasks(cfg.family, cfg.T, cfg.r, make_generator(stream_seed(cfg.seed, "tasks"), dev), cfg.noise, dt)
    W, b = init_weights(cfg.m, cfg.d, make_generator(stream_seed(cfg.seed, "init"), dev), cfg.bias_scale, dt)
    return M, tasks, W, b


def init_heads(cfg: TrainConfig, T: int, device, dtype) -> torch.Tensor:
    """``A: (T, m)``: zero for ``adapted`` and ``zero``; for ``frozen``, Gaussian directions scaled to
    ||a_t|| = head_norm * sqrt(m) (so head_norm is the root-mean-square entry of a_t)."""
    if cfg.head_mode != "frozen":
        return torch.zeros(T, cfg.m, device=device, dtype=dtype)
    g = make_generator(stream_seed(cfg.seed, "heads"), device)
    A = torch.randn(T, cfg.m, generator=g, device=device, dtype=torch.float64)
    A = A / A.norm(dim=1, keepdim=True) * cfg.head_norm * cfg.m**0.5
    return A.to(dtype)


def _predict(phi: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """f_ti = a_t^T phi_ti / m as (Tc, n). Written as a batched row-vector times matrix, (1, m) x (m, n): the
    BLAS kernel for that shape is several times faster than the batched matrix-vector (n, m) x (m, 1)."""
    return torch.bmm(A.unsqueeze(1), phi.transpose(1, 2)).squeeze(1) * output_scale(phi.shape[2])


def _head_update(phi: torch.Tensor, A: torch.Tensor, Y: torch.Tensor, loss: str, eta_a: float) -> None:
    """A <- A - eta_a m grad_A, in place.  phi: (Tc, n, m) features (any strides), A: (Tc, m), Y: (Tc, n)."""
    n, m = phi.shape[1], phi.shape[2]
    f = _predict(phi, A)
    g = loss_grad(f, Y, loss) * (eta_a / n)
    # m * grad_a = m * (1/m) phi^T g: a batched (1, n) x (n, m) product added in place into A
    A.unsqueeze(1).baddbmm_(g.unsqueeze(1), phi, alpha=-1.0)


def _feature_accumulate(phi: torch.Tensor, X: torch.Tensor, A: torch.Tensor, Y: torch.Tensor, loss: str,
                        T_total: int, gW: torch.Tensor, clobber_x: bool) -> torch.Tensor:
    """gW += m grad_W of (1/T_total) sum_t L_t over this chunk's tasks; returns the chunk's summed loss / n.

    phi: (Tc, n, m) features, overwritten (by the mask times the heads); X: (Tc, n, d), overwritten only when
    ``clobber_x`` (the training buffers); A: (Tc, m); gW: (m, d) accumulator."""
    Tc, n, m = phi.shape
    f = _predict(phi, A)
    total = loss_value(f, Y, loss).sum() / n
    g = loss_grad(f, Y, loss) * (1.0 / (n * T_total))
    # m * (1/m) * g_ti a_t 1[pre > 0]; the 1/m of the output scale cancels the m of the step convention.
    # phi > 0 exactly where pre > 0, so the mask times the heads is written in place over phi, in one pass
    # (threshold_backward: a_t where phi > 0, else 0; the same values as phi.gt_(0).mul_(a_t) in half the time)
    dpre = torch.ops.aten.threshold_backward.grad_input(A.unsqueeze(1).expand_as(phi), phi, 0, grad_input=phi)
    if clobber_x and X.shape[-1] <= m:
        X.mul_(g.unsqueeze(-1))           # fold g into the smaller operand
    else:
        dpre.mul_(g.unsqueeze(-1))
    gW.addmm_(dpre.flatten(0, 1).T, X.flatten(0, 1))
    return total


def _features(W, b, X) -> torch.Tensor:
    """relu(X W^T + b) as (Tc, n, m), computed as one (Tc n, d) x (d, m) product."""
    Tc, n, d = X.shape
    return torch.addmm(b, X.reshape(Tc * n, d), W.T).relu_().view(Tc, n, W.shape[0])


def head_step(W, b, A, X, Y, loss: str, eta_a: float) -> torch.Tensor:
    """One head step for a chunk of tasks: returns a_t - eta_a m grad_{a_t} L_t.  X: (Tc, n, d), A: (Tc, m).

    (The training loop calls the same kernel on its own buffers, in place.)"""
    A = A.clone()
    _head_update(_features(W, b, X), A, Y, loss, eta_a)
    return A


def feature_grad(W, b, A, X, Y, loss: str, T_total: int) -> tuple[torch.Tensor, torch.Tensor]:
    """m * grad_W of (1/T) sum_t L_t restricted to this chunk's tasks, and the chunk's summed loss.

    X: (Tc, n, d), Y: (Tc, n), A: (Tc, m)  ->  (m, d), scalar.  X is left untouched."""
    gW = W.new_zeros(W.shape)
    total = _feature_accumulate(_features(W, b, X), X, A, Y, loss, T_total, gW, clobber_x=False)
    return gW, total


class Round:
    """The buffers of one training run and its round, sized once from the chunk (see the module docstring).

    ``step(W, A, data_gen)`` runs one round: the head phase (in place on ``A``, when ``adapted``) and the
    feature phase, chunk by chunk, and returns ``(grad_W, summed loss / n2)`` (``grad_W`` is ``m`` times the
    gradient, the training convention; the buffer is reused by the next call). ``draw`` (for tests) replaces
    the Gaussian draw: ``draw(phase, start, stop, out)`` fills ``out: (stop - start, n, d)`` in place.

    ``sampler`` (optional; data sets other than the Gaussian model, e.g. :mod:`mtrl_lib.real_data`) replaces
    both the draw and the latent coordinates: ``sampler(phase, start, stop, n, generator)`` returns
    ``X: (stop - start, n, d)`` and ``Z: (stop - start, n, k)``, the coordinates the tasks read, and the labels
    are ``tasks.clean_labels(Z)``, so label noise and the controls apply unchanged. ``M`` then only serves the
    recorded metrics. Without a sampler the Gaussian path runs exactly as before."""

    def __init__(self, cfg: TrainConfig, M: torch.Tensor, tasks: Tasks, b: torch.Tensor, chunk: int | None = None,
                 draw=None, sampler=None):
        self.cfg, self.tasks, self.draw, self.sampler = cfg, tasks, draw, sampler
        # the tasks whose labels the head phase sees (another task's under the "swapped_heads" control)
        self.head_tasks = tasks
        if cfg.control == "swapped_heads":
            self.head_tasks = Tasks(tasks.family, tasks.params.roll(-1, 0), tasks.noise)
        dev, dt = M.device, M.dtype
        d, r, m = cfg.d, cfg.r, cfg.m
        self.adapted = cfg.head_mode == "adapted"
        self.C = cfg.chunk() if chunk is None else int(chunk)
        self.chunks = [(s, min(s + self.C, cfg.T)) for s in range(0, cfg.T, self.C)]
        n = max(cfg.n1, cfg.n2) if self.adapted else cfg.n2
        rows = min(self.C, cfg.T) * n
        width = padded_width(m + r)
        self.X = torch.empty(rows, d, device=dev, dtype=dt)
        self.P = torch.empty(rows, width, device=dev, dtype=dt)
        self.WM = torch.zeros(d, width, device=dev, dtype=dt)
        self.WM[:, m:m + r] = M
        self.bias = None
        if bool((b != 0).any()):
            self.bias = torch.zeros(width, device=dev, dtype=dt)
            self.bias[:m] = b
        self.gW = torch.empty(m, d, device=dev, dtype=dt)

    def _sample_features(self, phase: int, s: int, e: int, n: int, gen):
        """Fresh samples for tasks s:e and, in one product, their features and labels."""
        Tc, d, m, r = e - s, self.cfg.d, self.cfg.m, self.cfg.r
        X = self.X[:Tc * n]
        if self.sampler is not None:
            Xs, Z = self.sampler(phase, s, e, n, gen)
            X.copy_(Xs.reshape(Tc * n, d))
        elif self.draw is None:
            gaussian_(X, gen)
        else:
            self.draw(phase, s, e, X.view(Tc, n, d))
        P = self.P[:Tc * n]
        if self.bias is None:
            torch.mm(X, self.WM, out=P)
        else:
            torch.addmm(self.bias, X, self.WM, out=P)
        tasks = self.head_tasks if phase == 0 else self.tasks
        if (s, e) != (0, tasks.T):   # one chunk (the common case) needs no sliced copy of the tasks
            tasks = tasks[s:e]
        if self.cfg.control == "shuffled_labels":
            Y = torch.randint(0, 2, (Tc, n), generator=gen, device=X.device).to(X.dtype).mul_(2).sub_(1)
        else:
            Y = tasks.clean_labels(P[:, m:m + r].unflatten(0, (Tc, n)) if self.sampler is None else Z)
        if tasks.noise > 0:
            flip = torch.rand(Tc, n, generator=gen, device=X.device) < tasks.noise
            Y = torch.where(flip, -Y, Y)
        # the labels are read by now, so ReLU runs over the whole contiguous buffer, one vectorised pass (the
        # latent columns are not read again): faster than over the strided feature columns alone
        phi = P.relu_()[:, :m].unflatten(0, (Tc, n))
        return X.view(Tc, n, d), phi, Y

    def step(self, W: torch.Tensor, A: torch.Tensor, gen) -> tuple[torch.Tensor, torch.Tensor]:
        cfg, m = self.cfg, self.cfg.m
        self.WM[:, :m].copy_(W.T)
        gW = self.gW.zero_()
        total = torch.zeros((), device=W.device, dtype=W.dtype)
        for s, e in self.chunks:
            Ac = A[s:e]
            if self.adapted:
                _, phi, Y = self._sample_features(0, s, e, cfg.n1, gen)
                _head_update(phi, Ac, Y, cfg.loss, cfg.eta_a)
            X, phi, Y = self._sample_features(1, s, e, cfg.n2, gen)
            total += _feature_accumulate(phi, X, Ac, Y, cfg.loss, cfg.T, gW, clobber_x=True)
        return gW, total

    def update(self, W: torch.Tensor, A: torch.Tensor, gen) -> tuple[float, bool]:
        """One full round in place on ``W`` and ``A``: :meth:`step`, then W <- W - eta_W (grad_W + weight
        decay) and the optional row renormalisation. Returns the feature-phase loss (mean over tasks) and
        whether the loss, W and A are all finite, in one device-to-host transfer."""
        cfg = self.cfg
        gW, total = self.step(W, A, gen)
        if cfg.weight_decay:
            gW.add_(W, alpha=cfg.weight_decay)
        W.sub_(gW, alpha=cfg.eta_W)
        if cfg.renorm:
            W.div_(W.norm(dim=1, keepdim=True).clamp_min_(1e-12))
        # one reduction: the sum is finite exactly when every term is (a sum of finite entries that overflows
        # is counted as divergence too, which it is)
        loss, check = torch.stack([total / cfg.T, total + W.sum() + A.sum()]).tolist()
        return loss, math.isfinite(check)


def round_metrics(W: torch.Tensor, M: torch.Tensor) -> tuple[float, float]:
    """(subspace error, energy) of :mod:`mtrl_lib.metrics`, both from one float64 Gram matrix W^T W: its top-r
    eigenvectors span the top-r right singular subspace of W, and its trace is ||W||_F^2. About 3 times faster
    than the SVD (the trajectory is recorded every round); equal to the definitions to rounding error
    (``tests/test_bench.py``). Falls back to them when W has fewer rows than r."""
    r = M.shape[1]
    if W.shape[0] < r:
        return subspace_error(W, M), energy(W, M)
    with one_thread():                     # same bits whatever the process's thread count (mtrl_lib.threads)
        Wd, Md = W.double(), M.double()
        G = Wd.T @ Wd
        U = torch.linalg.eigh(G)[1][:, -r:]
        c = torch.linalg.svdvals(Md.T @ U).clamp(0.0, 1.0)
        err = torch.sqrt(torch.clamp(1 - c.min() ** 2, min=0.0))
        en = (Wd @ Md).pow(2).sum() / torch.diagonal(G).sum()
        return tuple(torch.stack([err, en]).tolist())


def train(cfg: TrainConfig, *, M: torch.Tensor | None = None, tasks: Tasks | None = None,
          W0: torch.Tensor | None = None, progress: bool | str = False, sampler=None) -> TrainResult:
    """Run alternating multi-task GD for ``cfg.rounds`` rounds and return the result with its trajectory.

    ``M``, ``tasks`` and ``W0`` override the draws from ``cfg.seed`` (to train several models on the same
    ground truth). ``progress``: False, True, or a description for the progress bar. ``sampler`` (optional)
    draws the minibatches and the coordinates the tasks read from a data set instead of the Gaussian model
    (see :class:`Round`; e.g. :class:`mtrl_lib.real_data.FiniteSampler`); it draws from the run's "data"
    stream.
    Raises :class:`DivergenceError` if a loss or weight becomes non-finite.
    """
    dev, dt = resolve_device(cfg.device), cfg.torch_dtype
    M0, tasks0, Winit, b = setup(cfg)
    M = M0 if M is None else M.to(dev, dt)
    tasks = tasks0 if tasks is None else tasks
    if tasks.T != cfg.T:
        raise ValueError(f"tasks has T = {tasks.T} tasks but the configuration says T = {cfg.T}")
    W = (Winit if W0 is None else W0.to(dev, dt)).clone()
    W_init = W.clone()
    A = init_heads(cfg, cfg.T, dev, dt)
    data_gen = make_generator(stream_seed(cfg.seed, "data"), dev)
    rnd = Round(cfg, M, tasks, b, sampler=sampler)

    hist = {"round": [], "subspace_error": [], "energy": [], "loss": []}

    def record(k, loss):
        err, en = round_metrics(W, M)
        hist["round"].append(k)
        hist["subspace_error"].append(err)
        hist["energy"].append(en)
        hist["loss"].append(loss)

    record(0, float("nan"))
    bar = progress_bar(range(cfg.rounds), progress, desc=f"train T={cfg.T}")
    for k in bar:
        loss, ok = rnd.update(W, A, data_gen)
        if not ok:
            raise DivergenceError(
                f"training diverged at round {k + 1} (non-finite loss or weights) with eta_W = {cfg.eta_W:g}, "
                f"eta_a = {cfg.eta_a:g}: lower the step sizes (try eta_W = {cfg.eta_W / 10:g})")
        if (k + 1) % cfg.record_every == 0 or k + 1 == cfg.rounds:
            record(k + 1, loss)
    history = {key: np.asarray(v, dtype=float) for key, v in hist.items()}
    return TrainResult(cfg, M, tasks, W_init, W, b, A, history)


def trajectory_unit(seed: int, **config) -> dict:
    """A unit (:mod:`mtrl_lib.units`): one run of ``train(TrainConfig(seed=seed, **config))`` reduced to its
    recorded trajectory, ``{"round", "subspace_error", "energy", "loss"}`` (arrays over the records)."""
    res = train(TrainConfig(seed=seed, **config))
    return {k: v for k, v in res.history.items()}
