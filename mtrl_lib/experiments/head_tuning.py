"""Chapter 5's feature steps, tuned at the chapter's own sizes on held-out seeds (imported by chapter 5 only).

The rule (the only one; nothing else is tuned):

    for each family, train at the chapter's own d, r, m, T, n1, n2 and round budget, on the held-out seeds
    ``tune_seeds`` (never the seeds the chapter reports), for every grid point, and keep the point with the
    smallest mean subspace error after the budget. A diverged run counts as error 1. A tie keeps the
    smaller step (the first argmin).

* **adapted heads**: eta_W over the grid ``eta_W_grid``; the head step eta_a is not tuned here (it is the
  stored grid's choice, :data:`mtrl_lib.experiments.step_sizes.STEP_SIZES`, made at d = 100, T = 20);
* **frozen heads at s times the matched norm**, for every head size s of the sweep: eta_W over
  ``eta_W_grid / s``, i.e. the grid of the product s * eta_W is the same at every head size, and at s = 1 it
  is the very grid of the adapted heads (same values, same window). The matched norm of a held-out seed is
  the final RMS head entry of its adapted tuning run at the selected eta_W (as the chapter matches its
  reported seeds).

Why the product: with the correlation loss (l'(f) = -y) the W-gradient is linear in the heads, so scaling
every head by c and eta_W by 1/c gives the same W at every round; with the logistic loss l' depends on the
outputs f = a^T relu(W x + b) / m, which are proportional to the heads, so that holds only approximately, and
eta_W is tuned at every head size (``tests/test_chapter_05.py`` checks both).

Everything here is a unit (:mod:`mtrl_lib.units`), so the store caches the tuning like any other run.
"""
from __future__ import annotations

import numpy as np

from ..train import DivergenceError, TrainConfig, train


def tune_run(seed: int, config: dict) -> dict:
    """Unit: one tuning run (``config``: :class:`TrainConfig` keywords without ``seed``) reduced to its final
    subspace error (1.0 if it diverged), its final RMS head entry (None if it diverged) and ``diverged``."""
    try:
        res = train(TrainConfig(seed=seed, **config))
    except DivergenceError:
        return {"final_error": 1.0, "head_rms": None, "diverged": True}
    return {"final_error": float(res.history["subspace_error"][-1]),
            "head_rms": float(res.A.double().pow(2).mean().sqrt()), "diverged": False}


def frozen_grid(eta_W_grid, scale: float) -> tuple[float, ...]:
    """The eta_W grid of frozen heads at ``scale`` x the matched norm: ``eta_W_grid / scale`` (the same grid
    of the product scale * eta_W at every head size; rounded to 12 significant digits so a unit's key is
    stable)."""
    return tuple(float(f"{g / scale:.12g}") for g in eta_W_grid)


def select(errors: np.ndarray, steps) -> tuple[float, float, np.ndarray]:
    """The rule on one arm: ``errors: (grid, tune_seeds)`` final errors (diverged = 1) -> ``(eta_W, mean
    error, means (grid,))`` of the grid point of smallest mean error (the first one on a tie)."""
    means = np.asarray(errors, dtype=float).mean(axis=1)
    j = int(np.argmin(means))
    return float(steps[j]), float(means[j]), means


def at_edge(eta_W: float, steps) -> bool:
    """Whether the selected step is the smallest or largest of its grid (the optimum may lie outside)."""
    return eta_W in (min(steps), max(steps))


def window_text(steps, means: np.ndarray, level: float) -> str:
    """The grid steps whose mean held-out error is below ``level``: "a to b" when consecutive, else a list."""
    idx = np.flatnonzero(np.asarray(means) < level)
    if not idx.size:
        return "no step of the grid"
    if idx.size == 1:
        return f"{steps[idx[0]]:g} only"
    if idx[-1] - idx[0] + 1 == idx.size:
        return f"{steps[idx[0]]:g} to {steps[idx[-1]]:g}"
    return ", ".join(f"{steps[i]:g}" for i in idx)
