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

the latter a single (m, T n) x (T n, d) matrix product. Tasks are processed in chunks sized from
``memory_budget_gb`` so that memory stays bounded however large T * n * d is. ``tests/test_train.py``
checks both gradients against autograd.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ._validate import check_choice, check_float, check_int
from .losses import LOSSES, loss_grad, loss_value
from .metrics import energy, subspace_error
from .model import init_weights, output_scale
from .progress import progress_bar
from .tasks import FAMILIES, Tasks, chunk_size, draw_tasks, make_generator, random_subspace, sample

HEAD_MODES = ("adapted", "frozen", "zero")
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

    def __post_init__(self):
        check_int("d", self.d, 1)
        check_int("r", self.r, 1, self.d)
        check_int("m", self.m, 1)
        check_int("T", self.T, 1)
        check_choice("family", self.family, FAMILIES)
        if self.family == "quadratic" and self.r < 2:
            raise ValueError(f"r must be >= 2 for the quadratic family, got {self.r}")
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

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def chunk(self) -> int:
        """Tasks per chunk: the largest (chunk, n, max(d, m)) working set that fits about a quarter of the
        memory budget (a round holds X, the pre-activations and their gradient at once)."""
        elem = torch.finfo(self.torch_dtype).bits // 8
        budget = int(self.memory_budget_gb * 2**30 / elem / 4)
        return chunk_size(self.T, max(self.n1, self.n2), max(self.d, self.m), budget)


def stream_seed(seed: int, stream: str) -> int:
    """Independent, named random streams per run: M, the tasks, the init and the data each get their own,
    so that for one seed M and the initial W are the same whatever T is (curves over T are paired)."""
    tag = int.from_bytes(stream.encode(), "little") % (2**31)
    return int(np.random.SeedSequence([int(seed), tag]).generate_state(1)[0])


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


def head_step(W, b, A, X, Y, loss: str, eta_a: float) -> torch.Tensor:
    """One head step for a chunk of tasks: returns a_t - eta_a m grad_{a_t} L_t.  X: (Tc, n, d), A: (Tc, m)."""
    n, m = X.shape[1], W.shape[0]
    phi = torch.relu(torch.baddbmm(b.expand(X.shape[0], 1, m), X, W.T.expand(X.shape[0], *W.T.shape)))
    f = torch.bmm(phi, A.unsqueeze(-1)).squeeze(-1) * output_scale(m)
    g = loss_grad(f, Y, loss) / n
    # m * grad_a = m * (1/m) phi^T g
    return A - eta_a * torch.bmm(g.unsqueeze(1), phi).squeeze(1)


def feature_grad(W, b, A, X, Y, loss: str, T_total: int) -> tuple[torch.Tensor, torch.Tensor]:
    """m * grad_W of (1/T) sum_t L_t restricted to this chunk's tasks, and the chunk's summed loss.

    X: (Tc, n, d), Y: (Tc, n), A: (Tc, m)  ->  (m, d), scalar."""
    Tc, n, d = X.shape
    m = W.shape[0]
    Xf = X.reshape(Tc * n, d)
    pre = torch.addmm(b, Xf, W.T).view(Tc, n, m)
    phi = torch.relu(pre)
    f = torch.bmm(phi, A.unsqueeze(-1)).squeeze(-1) * output_scale(m)
    g = loss_grad(f, Y, loss) / (n * T_total)
    # m * (1/m) * g_ti a_t 1[pre > 0]; the 1/m of the output scale cancels the m of the step convention
    dpre = (g.unsqueeze(-1) * A.unsqueeze(1)).masked_fill_(pre <= 0, 0.0)
    gW = dpre.view(Tc * n, m).T @ Xf
    return gW, loss_value(f, Y, loss).sum() / n


def train(cfg: TrainConfig, *, M: torch.Tensor | None = None, tasks: Tasks | None = None,
          W0: torch.Tensor | None = None, progress: bool | str = False) -> TrainResult:
    """Run alternating multi-task GD for ``cfg.rounds`` rounds and return the result with its trajectory.

    ``M``, ``tasks`` and ``W0`` override the draws from ``cfg.seed`` (to train several models on the same
    ground truth). ``progress``: False, True, or a description for the progress bar.
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
    C = cfg.chunk()
    chunks = [slice(s, min(s + C, cfg.T)) for s in range(0, cfg.T, C)]

    hist = {"round": [], "subspace_error": [], "energy": [], "loss": []}

    def record(k, loss):
        hist["round"].append(k)
        hist["subspace_error"].append(subspace_error(W, M))
        hist["energy"].append(energy(W, M))
        hist["loss"].append(loss)

    record(0, float("nan"))
    bar = progress_bar(range(cfg.rounds), progress, desc=f"train T={cfg.T}")
    for k in bar:
        if cfg.head_mode == "adapted":
            for c in chunks:
                X, Y = sample(M, tasks[c], cfg.n1, data_gen)
                A[c] = head_step(W, b, A[c], X, Y, cfg.loss, cfg.eta_a)
        gW = torch.zeros_like(W)
        total = 0.0
        for c in chunks:
            X, Y = sample(M, tasks[c], cfg.n2, data_gen)
            g, l = feature_grad(W, b, A[c], X, Y, cfg.loss, cfg.T)
            gW += g
            total += float(l)
        if cfg.weight_decay:
            gW += cfg.weight_decay * W
        W -= cfg.eta_W * gW
        if cfg.renorm:
            W /= W.norm(dim=1, keepdim=True).clamp_min(1e-12)
        loss = total / cfg.T
        if not (np.isfinite(loss) and bool(torch.isfinite(W).all()) and bool(torch.isfinite(A).all())):
            raise DivergenceError(
                f"training diverged at round {k + 1} (non-finite loss or weights) with eta_W = {cfg.eta_W:g}, "
                f"eta_a = {cfg.eta_a:g}: lower the step sizes (try eta_W = {cfg.eta_W / 10:g})")
        if (k + 1) % cfg.record_every == 0 or k + 1 == cfg.rounds:
            record(k + 1, loss)
    history = {key: np.asarray(v, dtype=float) for key, v in hist.items()}
    return TrainResult(cfg, M, tasks, W_init, W, b, A, history)
