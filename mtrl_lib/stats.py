"""Statistics over seeds: 95% confidence intervals, paired comparisons, and the bounds verdicts use.

Every figure band, every ``_ci`` number in the prose and every verdict in the book comes from here.

* **Intervals are Student-t intervals of the mean** over independent seeds (one seed = one independent draw
  of M, the tasks, the initial W and every sample):  ``mean +- t_{0.975, n-1} * s / sqrt(n)``, with ``s`` the
  sample standard deviation (ddof = 1). With the seed counts the book uses (10 to 20) a t interval is exact
  for normal data and close for the bounded, unimodal metrics here; a bootstrap would be too narrow at n = 10.
* **Paired comparisons** (two methods run on the same seed, hence the same M, tasks and initial W) are
  intervals of the per-seed difference, which removes the seed-to-seed variation both share.
* **A verdict compares a bound with a level**: "the upper 95% bound of the error is below 0.3" is a one-sided
  test at 2.5% (the bound is one end of a two-sided 95% interval), so every verdict statement is a test at
  5% or stricter.
* Fewer than :data:`MIN_SEEDS` seeds decide nothing: :func:`enough_seeds` says so and verdicts report
  "undecided" rather than guessing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

LEVEL = 0.95
MIN_SEEDS = 10


@dataclass(frozen=True)
class Interval:
    """A mean with its 95% t interval; each field has the shape of the reduced array."""

    mean: np.ndarray
    half: np.ndarray        # half-width: the interval is mean +- half
    n: int

    @property
    def lo(self) -> np.ndarray:
        return self.mean - self.half

    @property
    def hi(self) -> np.ndarray:
        return self.mean + self.half


def t_quantile(n: int, level: float = LEVEL) -> float:
    """``t_{(1+level)/2, n-1}``: the two-sided critical value of Student's t with n - 1 degrees of freedom
    (inf for n < 2: one value gives no interval)."""
    return float(_st.t.ppf(0.5 + level / 2, n - 1)) if n >= 2 else float("inf")


def mean_ci(x, axis: int = 0, level: float = LEVEL) -> Interval:
    """Mean of ``x`` over ``axis`` (the seeds) with the half-width of its t interval.

    ``x: (..., n_seeds, ...)``; the result has ``axis`` removed. NaNs are not allowed (a failed run must fail
    loudly, not vanish from the average)."""
    x = np.asarray(x, dtype=float)
    if np.isnan(x).any():
        raise ValueError("mean_ci got NaN values; a run failed to produce its metric")
    n = x.shape[axis]
    mean = x.mean(axis=axis)
    sd = x.std(axis=axis, ddof=1) if n >= 2 else np.full_like(mean, np.inf)
    return Interval(mean, t_quantile(n, level) * sd / np.sqrt(n), n)


def paired_ci(a, b, axis: int = 0, level: float = LEVEL) -> Interval:
    """Interval of the mean paired difference ``a - b`` (same seeds along ``axis``)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired_ci needs arrays of one shape (one value per seed each), got {a.shape} and {b.shape}")
    return mean_ci(a - b, axis=axis, level=level)


def lower(x, axis: int = 0) -> np.ndarray:
    """Lower end of the 95% interval of the mean."""
    return mean_ci(x, axis).lo


def upper(x, axis: int = 0) -> np.ndarray:
    """Upper end of the 95% interval of the mean."""
    return mean_ci(x, axis).hi


def significantly_less(a, b, axis: int = 0) -> np.ndarray:
    """Paired test at 5% (two-sided interval): the whole interval of ``a - b`` lies below 0."""
    return paired_ci(a, b, axis).hi < 0


def null_quantile(null_samples, q: float = 0.95) -> float:
    """The ``q`` quantile of a null distribution computed in the chapter (e.g. a shuffled-label statistic)."""
    return float(np.quantile(np.asarray(null_samples, dtype=float), q))


def enough_seeds(n: int) -> bool:
    return n >= MIN_SEEDS


def undecided(n: int) -> str:
    """The verdict text when there are too few seeds to decide."""
    return f"undecided ({n} seeds; a verdict needs at least {MIN_SEEDS})"


def fmt(iv: Interval, digits: int = 3) -> str:
    """``0.123 ± 0.045`` for a scalar interval."""
    return f"{float(iv.mean):.{digits}f} ± {float(iv.half):.{digits}f}"


def clopper_pearson(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided ``level`` interval of a binomial proportion: ``k`` successes out of
    ``n`` independent trials (runs, draws). ``(lo, hi)``. The upper end alone, as every bound of this module,
    is the end of a *two-sided* ``level`` interval: a one-sided upper confidence bound of level
    ``1 - (1 - level) / 2`` (97.5% at the default), conservative as a "95% bound". 0 of 100 gives
    ``hi = 1 - 0.025**(1/100)`` = 0.036; the one-sided 95% bound would be ``clopper_pearson(0, 100, 0.90)[1]``
    = ``1 - 0.05**(1/100)`` = 0.0295. (Clopper and Pearson 1934: the ends are beta quantiles; coverage is at
    least ``level`` for every p.)"""
    k, n = int(k), int(n)
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"clopper_pearson needs 0 <= k <= n and n >= 1, got k = {k}, n = {n}")
    alpha = 1 - level
    lo = 0.0 if k == 0 else float(_st.beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(_st.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


@dataclass(frozen=True)
class Bounded:
    """A mean with its 95% t interval cut to the range ``[lo_range, hi_range]`` the quantity lives in (an
    error in [0, 1], an accuracy in [0, 1]). The mean of such a quantity lies in that range, so cutting the
    interval there keeps its coverage; ``cut`` says whether an end was cut."""

    mean: float
    lo: float
    hi: float
    cut: bool


def bounded_ci(x, lo_range: float = 0.0, hi_range: float = 1.0, level: float = LEVEL) -> Bounded:
    """:func:`mean_ci` of per-seed values ``x: (n_seeds,)``, its ends cut to ``[lo_range, hi_range]``."""
    iv = mean_ci(np.asarray(x, dtype=float).ravel(), level=level)
    lo, hi = float(iv.lo), float(iv.hi)
    return Bounded(float(iv.mean), max(lo, lo_range), min(hi, hi_range), lo < lo_range or hi > hi_range)


def fmt_bounded(x, lo_range: float = 0.0, hi_range: float = 1.0, digits: int = 3) -> str:
    """``0.123 ± 0.045`` when the 95% interval lies inside the range; otherwise the cut interval in words,
    ``0.790 (95% interval 0.564 to 1.000, cut at the largest possible value)``."""
    b = bounded_ci(x, lo_range, hi_range)
    if not b.cut:
        return fmt(mean_ci(np.asarray(x, dtype=float).ravel()), digits)
    at = "largest" if b.hi == hi_range else "smallest"
    return f"{b.mean:.{digits}f} (95% interval {b.lo:.{digits}f} to {b.hi:.{digits}f}, cut at the {at} possible value)"
# ------------------------------------------------------------------ counts, non-negative errors, and their text

def pm(mean, half, digits: int = 3) -> str:
    """``mean ± half`` with at least ``digits`` decimals and enough more that the half-width shows a significant
    digit: ``0.999916 ± 0.000007`` rather than ``0.9999 ± 0.0000``. A half-width of exactly 0 prints ``± 0``."""
    mean, half = float(mean), float(half)
    if not np.isfinite(half):
        return f"{mean:.{digits}f} ± {half}"
    dec = digits if half == 0 else max(digits, -int(np.floor(np.log10(half))))
    return f"{mean:.{dec}f} ± " + ("0" if half == 0 else f"{half:.{dec}f}")


def sign_test(x, null: float = 0.0) -> tuple[int, int, float]:
    """Sign test for count data (or any per-seed values with ties): ``(above, below, p)``, how many values lie
    above and below ``null``, and the exact one-sided binomial p-value that values lie above ``null`` more often
    than below, P(Binomial(above + below, 1/2) >= above); values equal to ``null`` carry no sign and are
    dropped. A count such as "4 more directions on every seed" has no spread, and a t interval of it has zero
    width whatever the number of seeds; the sign test uses only the signs, so its p-value reflects how many
    seeds agree (10 of 10 above: 2^-10 = 0.001). Compare ``p`` with 0.025 for a one-sided test at the level of
    a bound of this module (one end of a two-sided 95% interval). p = 1 when no value differs from ``null``."""
    x = np.asarray(x, dtype=float).ravel() - null
    above, below = int((x > 0).sum()), int((x < 0).sum())
    n = above + below
    p = 1.0 if n == 0 else float(_st.binom.sf(above - 1, n, 0.5))
    return above, below, p


def count_tally(x, unit: str = "seed") -> str:
    """Integer values as counts, largest first: ``4 on every seed``, ``4 on 18 seeds and 3 on 2``."""
    x = np.asarray(x, dtype=float).ravel()
    values, counts = np.unique(x, return_counts=True)
    if values.size == 1:
        return f"{values[0]:g} on every {unit}"
    order = np.argsort(-values)
    parts = [f"{values[i]:g} on {counts[i]}" for i in order]
    parts[0] += f" {unit}s" if counts[order[0]] != 1 else f" {unit}"
    return ", ".join(parts[:-1]) + " and " + parts[-1]
