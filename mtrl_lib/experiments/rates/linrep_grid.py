"""The linear representation's step sizes, chosen by the network's rule on the network's grid.

The rule of :mod:`mtrl_lib.experiments.step_sizes`, applied to the linear representation
(:func:`mtrl_lib.baselines.train_linear_rep`) on the same grid, setting and held-out seeds, for the linear
family (the only one a linear predictor can learn): the mean subspace error after ``GRID_ROUNDS["linear"]``
rounds, rows eta_a in ``GRID_ETA_A``, columns eta_W in ``GRID_ETA_W``, a diverged run counted as 1; the step is
the table's argmin. The table is stored below; regenerate it with

    python -m mtrl_lib.experiments.rates.linrep_grid

(``tests/test_baselines.py`` and ``tests/test_chapter_06.py`` check the argmin and recompute its point).
"""
from __future__ import annotations

import numpy as np
import torch

from ... import baselines as bl
from ...tasks import make_generator
from ...train import TrainConfig, setup, stream_seed
from ..step_sizes import GRID_ETA_A, GRID_ETA_W, GRID_ROUNDS, GRID_SEEDS, GRID_SIZES, GRID_T

_LINREP_TABLE = (
    (0.9992, 0.9987, 0.9948, 0.9588, 0.7225, 0.3566, 0.4686, 0.6532, 0.7757, 0.8231),
    (0.9990, 0.9976, 0.9360, 0.5880, 0.2488, 0.4820, 0.6178, 0.7155, 0.8134, 0.8544),
    (0.9988, 0.9940, 0.6402, 0.1986, 0.3293, 0.5681, 0.7961, 0.9912, 0.9920, 0.9961),
    (0.9092, 0.5204, 0.2591, 0.4607, 0.9655, 0.9984, 0.9933, 0.9982, 0.9983, 0.9988),
)
#: (eta_a, eta_W) of the linear representation: the argmin of the table (``tests/test_baselines.py`` checks it)
LINREP_STEPS = (50.0, 0.1)


def linrep_grid(progress: bool = True) -> np.ndarray:
    """Mean final subspace error of the linear representation over GRID_SEEDS for every (eta_a, eta_W) of the
    network's grid, at the grid's setting (linear family, GRID_T tasks, GRID_ROUNDS["linear"] rounds); a
    diverged run counts as 1. Shape ``(len(GRID_ETA_A), len(GRID_ETA_W))``."""
    from ...progress import progress_bar

    tab = np.ones((len(GRID_ETA_A), len(GRID_ETA_W), len(GRID_SEEDS)))
    jobs = [(i, j, k) for i in range(len(GRID_ETA_A)) for j in range(len(GRID_ETA_W)) for k in range(len(GRID_SEEDS))]
    for i, j, k in progress_bar(jobs, progress, desc="linear representation grid"):
        tab[i, j, k] = linrep_grid_point(GRID_ETA_A[i], GRID_ETA_W[j], GRID_SEEDS[k])
    return tab.mean(axis=-1)


def linrep_grid_point(eta_a: float, eta_W: float, seed: int) -> float:
    """Final error of one grid run (1 if it diverges)."""
    cfg = TrainConfig(**GRID_SIZES, T=GRID_T, family="linear", seed=seed)
    M, tasks, _, _ = setup(cfg)
    B0 = torch.randn(cfg.r, cfg.d, generator=make_generator(stream_seed(seed, "b-linrep-init")), dtype=M.dtype)
    try:
        _, h = bl.train_linear_rep(M, tasks, B0, n1=cfg.n1, n2=cfg.n2, rounds=GRID_ROUNDS["linear"], eta_a=eta_a,
                                   eta_W=eta_W, generator=make_generator(stream_seed(seed, "data")),
                                   record_every=GRID_ROUNDS["linear"])
    except FloatingPointError:
        return 1.0
    return float(h["subspace_error"][-1])


def linrep_table() -> np.ndarray:
    """The stored table (rows eta_a, columns eta_W)."""
    return np.asarray(_LINREP_TABLE)


def linrep_select(tab: np.ndarray | None = None) -> tuple[float, float]:
    """The grid point with the smallest mean error."""
    tab = linrep_table() if tab is None else tab
    i, j = np.unravel_index(int(np.argmin(tab)), tab.shape)
    return GRID_ETA_A[i], GRID_ETA_W[j]


def main() -> int:
    tab = linrep_grid()
    print("rows eta_a", GRID_ETA_A, "columns eta_W", GRID_ETA_W)
    print("(" + ",\n ".join("(" + ", ".join(f"{v:.4f}" for v in row) + ")" for row in tab) + ")")
    print("argmin (eta_a, eta_W):", linrep_select(tab))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
