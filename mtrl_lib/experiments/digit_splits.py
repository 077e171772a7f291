"""Chapter 7's train/test splits of the digits: a fresh stratified split for every seed.

:func:`mtrl_lib.real_data.load_digits` keeps one fixed split (the first :data:`mtrl_lib.real_data.N_TRAIN`
images of the file against the last 599). A ``±`` over seeds computed on that one split leaves out how much the
numbers move with the choice of images, so chapter 7 draws its own split per seed instead, with the loader's
proportions and preprocessing (the loader itself is shared and stays as it is):

* **Split.** Class ``c`` with ``N_c`` images gives ``k_c`` of them to the training split, ``k_c`` the
  largest-remainder rounding of ``N_c * N_TRAIN / N`` (so the ``k_c`` sum to ``N_TRAIN`` exactly, and every
  class keeps two thirds of its images up to one); which ``k_c`` is one uniform draw from the seed's stream
  ``"rd-split"``. The rest test. Both splits are listed in file order.
* **Preprocessing** (as the loader's, on each seed's own training split): pixels whose training standard
  deviation is below :data:`mtrl_lib.real_data.MIN_PIXEL_SD` are dropped, the others centred and scaled with the
  training split's mean and standard deviation. So ``d`` can differ by a pixel or two between seeds.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import real_data as rd
from ..train import stream_seed


@functools.lru_cache(maxsize=1)
def raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 images ``X: (N, 64)`` float64 (grey levels 0..16) and classes ``y: (N,)``, file order."""
    from sklearn.datasets import load_digits as _load

    raw = _load()
    return raw.data.astype(np.float64), raw.target.astype(np.int64)


def train_counts(y: np.ndarray, n_train: int) -> np.ndarray:
    """``(10,)`` training images per class: ``N_c n_train / N`` rounded by largest remainder (ties: lower
    class first), so that they sum to ``n_train``."""
    sizes = np.bincount(y, minlength=rd.N_CLASSES)
    share = sizes * n_train / sizes.sum()
    k = np.floor(share).astype(np.int64)
    extra = np.argsort(-(share - k), kind="stable")[:n_train - k.sum()]
    k[extra] += 1
    return k


def split_indices(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``seed``'s stratified split: indices ``(train: (N_TRAIN,), test: (N - N_TRAIN,))``, each sorted."""
    _, y = raw_digits()
    gen = np.random.default_rng(stream_seed(seed, "rd-split"))
    train = [gen.permutation(np.flatnonzero(y == c))[:k] for c, k in enumerate(train_counts(y, rd.N_TRAIN))]
    train = np.sort(np.concatenate(train))
    return train, np.setdiff1d(np.arange(len(y)), train)


@functools.lru_cache(maxsize=32)
def digits(seed: int) -> rd.Digits:
    """``seed``'s split, preprocessed as the module docstring states (``X_*: (n, d)``, d pixels kept)."""
    X, y = raw_digits()
    tr, te = split_indices(seed)
    sd = X[tr].std(axis=0)
    keep = np.flatnonzero(sd >= rd.MIN_PIXEL_SD)
    mu, sd = X[tr][:, keep].mean(axis=0), sd[keep]
    return rd.Digits((X[tr][:, keep] - mu) / sd, y[tr], (X[te][:, keep] - mu) / sd, y[te], keep)
