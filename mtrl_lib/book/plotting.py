"""Figures shared by the chapters: one style, labelled axes, legends, 95% confidence bands over seeds."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..stats import mean_ci

plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
                     "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False})


def band(ax, x, runs, label, color=None, **kw):
    """Mean over seeds (``runs: (seeds, len(x))``) with its shaded 95% t confidence interval
    (:func:`mtrl_lib.stats.mean_ci`)."""
    runs = np.atleast_2d(np.asarray(runs, dtype=float))
    iv = mean_ci(runs, axis=0)
    (line,) = ax.plot(x, iv.mean, label=label, color=color, **kw)
    if runs.shape[0] > 1:
        ax.fill_between(x, iv.lo, iv.hi, color=line.get_color(), alpha=0.2, linewidth=0)
    return line


def errorbars(ax, x, runs, label, color=None, **kw):
    """Mean over seeds (``runs: (seeds, len(x))``) with 95% t confidence intervals as error bars."""
    iv = mean_ci(np.atleast_2d(np.asarray(runs, dtype=float)), axis=0)
    return ax.errorbar(x, iv.mean, yerr=iv.half, label=label, color=color, capsize=3, **kw)


def binned(ax, x, y, bins=12, label=None, color="k"):
    """Mean of y in equal-width bins of x, with +-1 standard error bars."""
    x, y = np.asarray(x), np.asarray(y)
    edges = np.linspace(x.min(), x.max(), bins + 1)
    idx = np.clip(np.digitize(x, edges) - 1, 0, bins - 1)
    centres, means, ses = [], [], []
    for b in range(bins):
        sel = y[idx == b]
        if len(sel) >= 3:
            centres.append((edges[b] + edges[b + 1]) / 2)
            means.append(sel.mean())
            ses.append(sel.std(ddof=1) / np.sqrt(len(sel)))
    ax.errorbar(centres, means, yerr=ses, fmt="o-", color=color, label=label, ms=4, capsize=2)


def params_table(params) -> "IPython.display.Markdown":
    """A compact Markdown table of the parameters a chapter ran with."""
    import dataclasses

    from IPython.display import Markdown

    items = dataclasses.asdict(params) if dataclasses.is_dataclass(params) else dict(params)
    cells = " | ".join(f"`{k}` = {v}" for k, v in items.items())
    return Markdown(f"**Parameters of this run:** {cells}")
