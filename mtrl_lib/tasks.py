"""The data model: a hidden r-dimensional subspace span(M) of R^d and binary tasks that read x only
through z = M^T x.

Shapes: ``M: (d, r)``; a batch of ``T`` tasks is a :class:`Tasks`; one call of :func:`sample` returns
``X: (T, n, d)`` and ``Y: (T, n)`` for all tasks at once, labels in {-1, +1}.

Families (PAPER.md, "Setting"):

* ``linear``:    f_t(z) = sign(<v_t, z>),   v_t uniform on the unit sphere of R^r;
* ``quadratic``: f_t(z) = sign(z^T A_t z),  A_t = sym(G) - tr(sym(G))/r I, scaled to ||A_t||_F = 1, so that
  E[z^T A_t z] = 0 and the label is even in z (E[y x] = 0: no linear signal at all);
* ``parity`` (r >= 3; beyond the paper, used by the chapter "Baselines and rates"):
  f_t(z) = sign(<u_t1, z> <u_t2, z> <u_t3, z>), (u_t1, u_t2, u_t3) orthonormal, drawn per task (the Q factor of
  a Gaussian r x 3 matrix). Flipping the sign of one <u_tk, z> flips the label, so E[y x] = 0 and
  E[y (x x^T - I)] = 0: the first non-zero Hermite coefficient of the label has degree 3 (information
  exponent 3), and no first- or second-moment statistic sees the task.

``FAMILIES`` are the paper's two families, which every chapter's step-size grid covers; ``ALL_FAMILIES`` adds
``parity``. Tasks, :func:`draw_tasks` and :class:`mtrl_lib.train.TrainConfig` accept all of them.

Label noise flips each label independently with probability ``noise``.
"""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ._validate import check_choice, check_float, check_int

_REBUILD = "run `make install`, or `pip install -e .` in the checkout"
try:
    from . import _normal
except ImportError as e:  # pragma: no cover - a checkout used without installing it
    raise ImportError("mtrl_lib._normal (the compiled Gaussian draw, mtrl_lib/_normal.c) is not built: "
                      + _REBUILD) from e


def _check_build(source: Path, built: str) -> None:
    """Refuse a build of ``_normal`` from other source than ``source`` (an edit not yet compiled would draw
    values that the store would file under the new source's digest)."""
    if source.is_file() and hashlib.sha256(source.read_bytes()).hexdigest() != built:
        raise ImportError(f"mtrl_lib._normal was built from another version of {source.name}: {_REBUILD}")


_check_build(Path(__file__).with_name("_normal.c"), _normal.source_sha256)

FAMILIES = ("linear", "quadratic")
ALL_FAMILIES = FAMILIES + ("parity",)
#: the smallest latent dimension each family is defined for
MIN_R = {"linear": 1, "quadratic": 2, "parity": 3}
#: dimensions of a family's ``params`` tensor: linear (T, r), quadratic (T, r, r), parity (T, 3, r)
PARAM_DIMS = {"linear": 2, "quadratic": 3, "parity": 3}


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A seeded generator on ``device``; every random draw in the library takes one explicitly."""
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(int(seed))
    return g


def random_subspace(d: int, r: int, generator: torch.Generator, dtype=torch.float32) -> torch.Tensor:
    """``M: (d, r)`` with orthonormal columns: the Q factor of a Gaussian (d, r) matrix."""
    check_int("d", d, 1)
    check_int("r", r, 1, d)
    G = torch.randn(d, r, generator=generator, device=generator.device, dtype=torch.float64)
    Q, R = torch.linalg.qr(G)
    # Fix the sign ambiguity of QR so that M is a deterministic function of the draw.
    Q = Q * torch.sign(torch.diagonal(R)).unsqueeze(0)
    return Q.to(dtype)


@dataclass(frozen=True, eq=False)
class Tasks:
    """``T`` tasks of one family. ``params``: ``(T, r)`` for linear, ``(T, r, r)`` for quadratic, ``(T, 3, r)``
    (orthonormal rows u_t1, u_t2, u_t3) for parity."""

    family: str
    params: torch.Tensor
    noise: float = 0.0

    def __post_init__(self):
        check_choice("family", self.family, ALL_FAMILIES)
        check_float("noise", self.noise, 0.0, 0.5)
        want = PARAM_DIMS[self.family]
        if self.params.dim() != want:
            raise ValueError(f"params of a {self.family} family must have {want} dims, got {tuple(self.params.shape)}")
        if self.family == "parity" and self.params.shape[1] != 3:
            raise ValueError(f"params of a parity family must have shape (T, 3, r), got {tuple(self.params.shape)}")

    @property
    def T(self) -> int:
        return self.params.shape[0]

    @property
    def r(self) -> int:
        return self.params.shape[-1]

    def __getitem__(self, idx) -> "Tasks":
        """The tasks selected by a slice or index tensor (kept as a batch)."""
        p = self.params[idx]
        if p.dim() < self.params.dim():
            p = p.unsqueeze(0)
        return Tasks(self.family, p, self.noise)

    def scores(self, Z: torch.Tensor) -> torch.Tensor:
        """Real-valued scores s_t(z) whose sign is the clean label. ``Z: (T, n, r)`` -> ``(T, n)``."""
        P = self.params.to(Z.dtype)
        if self.family == "linear":
            return torch.bmm(Z, P.unsqueeze(-1)).squeeze(-1)       # what einsum("tnr,tr->tn") runs, without its set-up
        if self.family == "parity":
            return torch.bmm(Z, P.transpose(1, 2)).prod(dim=-1)
        return torch.einsum("tnr,trs,tns->tn", Z, P, Z)

    def clean_labels(self, Z: torch.Tensor) -> torch.Tensor:
        """f_t(z) in {-1, +1} (sign(0) is taken as +1, a null event). ``Z: (T, n, r)`` -> ``(T, n)``."""
        s = self.scores(Z)
        return torch.full_like(s, -1.0).masked_fill_(s >= 0, 1.0)      # NaN scores give -1, as s >= 0 is False


def draw_tasks(family: str, T: int, r: int, generator: torch.Generator, noise: float = 0.0,
               dtype=torch.float32) -> Tasks:
    """Draw ``T`` tasks of ``family`` in latent dimension ``r``."""
    check_choice("family", family, ALL_FAMILIES)
    check_int("T", T, 1)
    check_int("r", r, 1)
    dev = generator.device
    if family == "linear":
        v = torch.randn(T, r, generator=generator, device=dev, dtype=torch.float64)
        v = v / v.norm(dim=1, keepdim=True)
        return Tasks(family, v.to(dtype), noise)
    if family == "parity":
        if r < 3:
            raise ValueError(f"r must be >= 3 for the parity family (three orthonormal directions), got {r}")
        G = torch.randn(T, r, 3, generator=generator, device=dev, dtype=torch.float64)
        Q, R = torch.linalg.qr(G)                                   # (T, r, 3) orthonormal columns
        Q = Q * torch.sign(torch.diagonal(R, dim1=1, dim2=2)).unsqueeze(1)
        return Tasks(family, Q.transpose(1, 2).contiguous().to(dtype), noise)
    G = torch.randn(T, r, r, generator=generator, device=dev, dtype=torch.float64)
    A = (G + G.transpose(1, 2)) / 2
    tr = torch.diagonal(A, dim1=1, dim2=2).sum(-1) / r
    A = A - tr[:, None, None] * torch.eye(r, device=dev, dtype=A.dtype)
    if r == 1:
        raise ValueError("r must be >= 2 for the quadratic family (a traceless 1x1 matrix is zero), got 1")
    A = A / A.flatten(1).norm(dim=1)[:, None, None]
    return Tasks(family, A.to(dtype), noise)


#: elements per block of :func:`gaussian_` (256 KB of float32: a block's draw stays in a core's cache)
BLOCK_ELEMENTS = 2**16


@lru_cache(maxsize=4)
def _pool(workers: int, pid: int) -> ThreadPoolExecutor:
    """The draw's threads, per process: a child forked after a draw gets a pool of its own (the parent's
    threads do not exist in the child, and a draw submitted to them would wait forever)."""
    return ThreadPoolExecutor(workers, thread_name_prefix="mtrl-normal")


def _block_seeds(key: int, blocks: int) -> list[int]:
    """64-bit seeds of ``blocks`` blocks, from the draw's ``key`` and the block count (``SeedSequence``)."""
    return [int(s) for s in np.random.SeedSequence([key, blocks]).generate_state(blocks, np.uint64)]


def _blocks(X: torch.Tensor, generator: torch.Generator) -> list[tuple[np.ndarray, int]]:
    """The row blocks of ``X: (rows, d)`` (as NumPy views) and their seeds (draws one key from ``generator``)."""
    if not X.is_contiguous() or X.dim() != 2:
        raise ValueError(f"X must be a contiguous (rows, d) tensor, got shape {tuple(X.shape)}")
    if X.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"X must be float32 or float64, got {X.dtype}")
    rows, d = X.shape
    per = max(1, BLOCK_ELEMENTS // max(1, d))
    key = int(torch.randint(0, 2**63 - 1, (), generator=generator))
    starts = range(0, rows, per)
    view = X.numpy()
    return [(view[s:s + per], seed) for s, seed in zip(starts, _block_seeds(key, len(starts)))]


def _fill(blocks) -> None:
    for x, seed in blocks:
        _normal.fill(x, seed)


def _runs(blocks, workers: int) -> list:
    """``blocks`` cut into ``workers`` contiguous runs (one hand-off per thread)."""
    k = len(blocks)
    return [blocks[k * w // workers:k * (w + 1) // workers] for w in range(workers)]


def gaussian_(X: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Fill ``X: (rows, d)`` (contiguous, float32 or float64) in place with independent N(0, 1) entries; returns
    ``X``.

    On the CPU the draw is split into blocks of whole rows, ``BLOCK_ELEMENTS`` entries each. Each block is
    filled by the compiled generator :mod:`mtrl_lib._normal` (eight xoshiro256++ streams and a Box-Muller
    transform, written so that its values depend on the block's seed alone, never on the CPU; about 1.9 ns per
    sample here, against 3.4 for PyTorch's ``normal_``, which draws its uniforms one at a time from one
    mt19937). The blocks' 64-bit seeds come from one 63-bit key drawn from ``generator`` and the block count
    (``numpy.random.SeedSequence``), and the blocks are drawn on all of PyTorch's threads, so the values depend
    on ``generator`` and the shape only, never on the number of threads (``tests/test_tasks.py``).
    On CUDA, one ``normal_`` call (the device generator is parallel already)."""
    if X.device.type != "cpu":
        return X.normal_(generator=generator)
    blocks = _blocks(X, generator)
    workers = min(torch.get_num_threads(), len(blocks))
    runs = _runs(blocks, workers)
    # the caller's thread draws the first run while the pool draws the others (fill releases the GIL)
    others = [_pool(workers - 1, os.getpid()).submit(_fill, run) for run in runs[1:]] if workers > 1 else []
    _fill(runs[0])
    for f in others:
        f.result()
    return X


def sample(M: torch.Tensor, tasks: Tasks, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Fresh samples for every task at once.

    x ~ N(0, I_d) (drawn by :func:`gaussian_`, as the training loop draws them) and y = f_t(M^T x), each label
    flipped with probability ``tasks.noise``. Returns ``X: (T, n, d)`` and ``Y: (T, n)`` in ``M``'s dtype and
    device.
    """
    check_int("n", n, 1)
    d = M.shape[0]
    X = torch.empty(tasks.T, n, d, device=M.device, dtype=M.dtype)
    gaussian_(X.view(tasks.T * n, d), generator)
    Y = tasks.clean_labels(X @ M)
    if tasks.noise > 0:
        flip = torch.rand(tasks.T, n, generator=generator, device=M.device) < tasks.noise
        Y = torch.where(flip, -Y, Y)
    return X, Y


def chunk_size(T: int, n: int, width: int, budget_elements: int) -> int:
    """How many tasks to process at once so that a ``(chunk, n, width)`` tensor holds at most
    ``budget_elements`` elements (at least one task per chunk)."""
    return max(1, min(T, budget_elements // max(1, n * width)))
