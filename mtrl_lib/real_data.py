"""Real data (beyond the paper): the digit images that ship with scikit-learn, binary tasks built from their
classes, minibatches drawn from a finite training set, and the baselines a real-data comparison needs.

* **Data.** ``sklearn.datasets.load_digits``: 1,797 grey-level images of 8 x 8 pixels (values 0..16), ten
  classes, read from the file inside the scikit-learn package (no download). Fixed split, in the file's order
  and without shuffling: the first :data:`N_TRAIN` images train, the remaining 599 test. Pixels whose
  training standard deviation is below :data:`MIN_PIXEL_SD` grey level are dropped (they are blank in almost
  every image; scaling them to unit variance would blow a rare test stroke up tenfold); the others are centred
  and scaled to unit variance with the training split's statistics, so ``d = 49`` and, as in the synthetic
  model, every input coordinate has mean 0 and variance 1 (on the training split).
* **Tasks.** A task is a dichotomy of the ten classes: a sign vector ``s in {-1, +1}^10`` with five ``+1``,
  labelling an image of class ``c`` by ``s_c``. There are C(10, 5) / 2 = 126 of them up to the sign (``s`` and
  ``-s`` are one task); :func:`all_dichotomies` lists them with ``s_0 = +1``. In the library's task model a
  dichotomy is a ``linear`` task on the one-hot class ``z = e_c``: ``sign(<s, e_c>) = s_c``, so the training
  loop's label computation (:meth:`mtrl_lib.tasks.Tasks.clean_labels`) is reused unchanged.
* **The analogue of span(M).** The labels of every dichotomy are functions of the class, and the part of x that
  the class moves on average is the span of the centred class means (dimension 9 = classes - 1);
  :func:`class_mean_basis` returns an orthonormal basis, ``(d, 9)``, used by :mod:`mtrl_lib.metrics`.
* **Finite data.** :class:`FiniteSampler` plugs into :func:`mtrl_lib.train.train` (its ``sampler`` argument):
  each task's minibatch of ``n`` images is drawn uniformly with replacement from a finite set (the training
  split for pretraining, the ``n3`` labelled images for end-to-end training) instead of fresh Gaussian x.
* **Baselines.** :func:`pca_weights` (rows uniform on the sphere of the top principal subspace: the same
  ReLU network with an unsupervised first layer) and :func:`probe` (the library's linear probe,
  :func:`mtrl_lib.probe.fit_ridge_loo` on standardised features, for any feature matrix, raw pixels included).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from ._validate import check_int
from .probe import LOO_LAMS, _standardise, fit_ridge_loo
from .tasks import Tasks
from .threads import one_thread

N_CLASSES = 10
N_TRAIN = 1198          # the first 1198 images (two thirds) train, the last 599 test
MIN_PIXEL_SD = 1.0      # grey levels (of 16): pixels below this training standard deviation are dropped
N_DICHOTOMIES = 126     # C(10, 5) / 2
D = 49                  # pixels kept (tests/test_real_data.py checks it against the loaded data)


@dataclass(frozen=True)
class Digits:
    """The standardised split. ``X_*: (n, d)`` float64, ``y_*: (n,)`` class labels 0..9, ``pixels: (d,)``
    the indices (0..63) of the pixels kept."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    pixels: np.ndarray

    @property
    def d(self) -> int:
        return self.X_train.shape[1]


@functools.lru_cache(maxsize=1)
def raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 images ``X: (N, 64)`` float64 (grey levels 0..16) and classes ``y: (N,)``, in the file's order
    (read once per process, from the file inside the scikit-learn package)."""
    from sklearn.datasets import load_digits as _load

    raw = _load()
    return raw.data.astype(np.float64), raw.target.astype(np.int64)


def standardised_split(train: np.ndarray, test: np.ndarray) -> Digits:
    """The split of :func:`raw_digits` given by the index arrays ``train`` and ``test``, preprocessed as the
    module docstring states, with the training split's statistics: pixels whose training standard deviation is
    below :data:`MIN_PIXEL_SD` dropped, the others centred and scaled to unit variance."""
    X, y = raw_digits()
    Xtr, Xte = X[train], X[test]
    sd = Xtr.std(axis=0)
    keep = np.flatnonzero(sd >= MIN_PIXEL_SD)
    mu, sd = Xtr[:, keep].mean(axis=0), sd[keep]
    return Digits((Xtr[:, keep] - mu) / sd, y[train], (Xte[:, keep] - mu) / sd, y[test], keep)


@functools.lru_cache(maxsize=1)
def load_digits() -> Digits:
    """The digits, split and standardised as the module docstring states (read once per process): the first
    :data:`N_TRAIN` images of the file train, the rest test."""
    n = len(raw_digits()[1])
    return standardised_split(np.arange(N_TRAIN), np.arange(N_TRAIN, n))


def class_mean_images(data: Digits) -> np.ndarray:
    """``(10, 8, 8)`` mean standardised image of each class (training split); dropped pixels are NaN."""
    out = np.full((N_CLASSES, 64), np.nan)
    for c in range(N_CLASSES):
        out[c, data.pixels] = data.X_train[data.y_train == c].mean(axis=0)
    return out.reshape(N_CLASSES, 8, 8)


def all_dichotomies() -> np.ndarray:
    """``(126, 10)`` sign vectors with five +1 and ``s_0 = +1``: every 5-vs-5 split of the classes once."""
    from itertools import combinations

    rows = []
    for pos in combinations(range(1, N_CLASSES), 4):
        s = -np.ones(N_CLASSES, dtype=np.int64)
        s[[0, *pos]] = 1
        rows.append(s)
    return np.asarray(rows)


def split_dichotomies(seed_gen: np.random.Generator, n_pretrain: int, n_down: int) -> tuple[np.ndarray, np.ndarray]:
    """A random order of the 126 dichotomies: the first ``n_down`` are held out for downstream, the next
    ``n_pretrain`` are the pretraining pool (disjoint from the held-out ones, also up to the sign).
    Returns ``(pretrain: (n_pretrain, 10), down: (n_down, 10))``."""
    check_int("n_pretrain", n_pretrain, 1)
    check_int("n_down", n_down, 1)
    if n_pretrain + n_down > N_DICHOTOMIES:
        raise ValueError(f"pretraining and held-out dichotomies must number at most {N_DICHOTOMIES} together, "
                         f"got {n_pretrain} + {n_down}")
    order = seed_gen.permutation(N_DICHOTOMIES)
    S = all_dichotomies()[order]
    return S[n_down:n_down + n_pretrain], S[:n_down]


def shares_dichotomy(A: np.ndarray, B: np.ndarray) -> bool:
    """Whether some row of ``A`` equals a row of ``B`` or its negation (the same task up to the sign)."""
    A, B = np.asarray(A), np.asarray(B)
    same = (A[:, None, :] == B[None, :, :]).all(-1) | (A[:, None, :] == -B[None, :, :]).all(-1)
    return bool(same.any())


def as_tasks(S: np.ndarray, dtype=torch.float32, device="cpu") -> Tasks:
    """Dichotomies ``S: (T, 10)`` as ``linear`` tasks on the one-hot class (label of class c: ``S[t, c]``)."""
    return Tasks("linear", torch.as_tensor(np.asarray(S), dtype=dtype, device=device))


def one_hot(y: np.ndarray, dtype=torch.float32, device="cpu") -> torch.Tensor:
    """``(n, 10)`` one-hot classes: the coordinates ``z`` the dichotomy tasks read."""
    return torch.nn.functional.one_hot(torch.as_tensor(y), N_CLASSES).to(device=device, dtype=dtype)


def labels(S: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(T, n)`` labels in {-1, +1} of the dichotomies ``S: (T, 10)`` for classes ``y: (n,)``."""
    return np.asarray(S)[:, np.asarray(y)]


class FiniteSampler:
    """Minibatches from a finite set, for :func:`mtrl_lib.train.train` (``sampler=``).

    ``sampler(phase, start, stop, n, generator)`` returns, for each of the ``stop - start`` tasks, ``n``
    images drawn uniformly with replacement from ``X: (N, d)`` (independently per task and per phase, from the
    run's data stream) and their one-hot classes ``Z: (stop - start, n, 10)``."""

    def __init__(self, X, y, dtype=torch.float32, device="cpu"):
        self.X = torch.as_tensor(np.asarray(X), dtype=dtype, device=device)
        self.Z = one_hot(y, dtype, device)
        if self.X.shape[0] != self.Z.shape[0] or self.X.shape[0] < 1:
            raise ValueError(f"X and y must hold the same positive number of images, got {self.X.shape[0]} "
                             f"and {self.Z.shape[0]}")

    def __call__(self, phase: int, start: int, stop: int, n: int, generator: torch.Generator):
        idx = torch.randint(self.X.shape[0], (stop - start, n), generator=generator, device=self.X.device)
        return self.X[idx], self.Z[idx]


def class_mean_basis(data: Digits) -> np.ndarray:
    """``(d, 9)`` orthonormal basis of the span of the centred class means (training split)."""
    means = np.stack([data.X_train[data.y_train == c].mean(axis=0) for c in range(N_CLASSES)])
    centred = means - means.mean(axis=0)
    with one_thread():
        U = torch.linalg.svd(torch.as_tensor(centred.T), full_matrices=False)[0]
    return U[:, :N_CLASSES - 1].numpy()


def principal_basis(data: Digits, k: int) -> np.ndarray:
    """``(d, k)`` top-k principal directions of the training images (unsupervised)."""
    check_int("k", k, 1, data.d)
    with one_thread():
        return torch.linalg.svd(torch.as_tensor(data.X_train), full_matrices=False)[2][:k].T.numpy()


def pca_weights(basis: np.ndarray, m: int, generator: torch.Generator) -> torch.Tensor:
    """``W: (m, d)``, rows uniform on the unit sphere of span(basis): the same ReLU network, with a first
    layer that only sees the top principal components (the analogue of :func:`mtrl_lib.model.oracle_weights`
    with an unsupervised subspace)."""
    G = torch.randn(m, basis.shape[1], generator=generator, dtype=torch.float64)
    G = G / G.norm(dim=1, keepdim=True)
    return G @ torch.as_tensor(basis, dtype=torch.float64).T


def relu_features(W: torch.Tensor, X: np.ndarray) -> torch.Tensor:
    """phi_W(x) = relu(W x) for ``X: (n, d)`` -> ``(n, m)`` float64 (the chapter uses zero biases)."""
    return torch.relu(torch.as_tensor(X, dtype=torch.float64) @ W.double().T)


def probe(F_train: torch.Tensor, y_train: np.ndarray, F_test: torch.Tensor, y_test: np.ndarray,
          lams=LOO_LAMS) -> np.ndarray:
    """Test accuracy of the library's probe (:mod:`mtrl_lib.probe`: features standardised with the labelled
    images' statistics, ridge with intercept, lam picked per task by leave-one-out error) for several tasks
    that share their images.

    ``F_train: (n3, k)`` features of the labelled images, ``y_train: (B, n3)`` their labels in {-1, +1} for
    the B tasks, ``F_test: (n_test, k)``, ``y_test: (B, n_test)``. Returns ``(B,)`` accuracies."""
    y_train = torch.as_tensor(np.asarray(y_train), dtype=torch.float64)
    Ptr, Pte = _standardise(F_train.double().unsqueeze(0), F_test.double().unsqueeze(0))
    w, _ = fit_ridge_loo(Ptr.expand(y_train.shape[0], -1, -1), y_train, lams)        # (B, k + 1)
    pred = Pte[0] @ w.T                                                               # (n_test, B)
    y_test = torch.as_tensor(np.asarray(y_test), dtype=torch.float64)
    return ((pred.T >= 0).double() * 2 - 1 == y_test).double().mean(dim=1).numpy()


def effective_dimension(W: torch.Tensor) -> float:
    """Participation ratio of W's spectrum, (sum s_i^2)^2 / sum s_i^4 (s the singular values): 1 for rank
    one, the rank for a flat spectrum; about d m / (d + m) for random rows."""
    with one_thread():
        s2 = torch.linalg.svdvals(W.double()).pow(2)
    return float(s2.sum() ** 2 / s2.pow(2).sum())
