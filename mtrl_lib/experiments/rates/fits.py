"""Per-seed fits: slopes of log error on log x, the curvature of the escape round in log(d / r), and the power
laws the figures draw. Each fit is made per seed; a reported slope is the mean of the per-seed slopes with its
95% t interval over seeds."""
from __future__ import annotations

import numpy as np


def slopes(x, Y) -> np.ndarray:
    """Least-squares slope of log Y on log x for each seed.  ``x: (k,)``, ``Y: (seeds, k)`` -> ``(seeds,)``."""
    lx = np.log(np.asarray(x, float))
    lY = np.log(np.asarray(Y, float))
    lx = lx - lx.mean()
    return (lY - lY.mean(axis=1, keepdims=True)) @ lx / (lx @ lx)


def line_slopes(x, Y) -> np.ndarray:
    """Least-squares slope of Y on x for each seed (no logarithm).  ``x: (k,)``, ``Y: (seeds, k)``."""
    x = np.asarray(x, float)
    xc = x - x.mean()
    Y = np.asarray(Y, float)
    return (Y - Y.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)


def curvature(x, Y) -> np.ndarray:
    """Per-seed least-squares coefficient c of (x - mean x)^2 in Y ~ a + b x + c (x - mean x)^2: 0 for points on a
    straight line (NaN with fewer than three distinct x).  ``x: (k,)``, ``Y: (seeds, k)`` -> ``(seeds,)``.

    With k values of x the fit of three coefficients leaves k - 3 residual degrees of freedom per seed: with
    three values it passes through every point, with four it rests on one."""
    x = np.asarray(x, float)
    Y = np.asarray(Y, float)
    if np.unique(x).size < 3:
        return np.full(Y.shape[0], np.nan)
    xc = x - x.mean()
    X = np.stack([np.ones_like(xc), xc, xc ** 2], axis=1)
    coef = np.linalg.lstsq(X, Y.T, rcond=None)[0]
    return coef[2]


def power_fit(x, Y) -> tuple[np.ndarray, float]:
    """The power law of the mean per-seed fit: ``(y, slope)`` with y = exp(mean intercept) x^(mean slope) on
    ``x`` (for the figures). ``Y: (seeds, len(x))``."""
    lx, lY = np.log(np.asarray(x, float)), np.log(np.asarray(Y, float))
    s = slopes(x, Y)
    icept = (lY.mean(axis=1) - s * lx.mean()).mean()
    return np.exp(icept + s.mean() * lx), float(s.mean())


def sketch_line(x, Y, exponent: float) -> np.ndarray:
    """The sketch's power law x^exponent through the geometric mean of the data (for the figures)."""
    lx, lY = np.log(np.asarray(x, float)), np.log(np.asarray(Y, float))
    return np.exp(lY.mean() + exponent * (lx - lx.mean()))
