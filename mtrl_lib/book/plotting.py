"""Figures shared by the chapters: one style, one size for the book's column, labelled axes, legends, 95%
confidence bands over seeds.

Every chapter draws its figures with :func:`figure` (or at :data:`COLUMN_IN` wide), so that a figure is shown
at (nearly) the size it was drawn at in the book's text column, and its smallest text stays at least
:data:`MIN_FONT_PT` points as drawn. A figure that needs more panels than the column holds side by side stacks
them (``nrows``), rather than squeezing them.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..stats import mean_ci

#: dots per inch of every figure, on screen and saved
DPI = 110
#: the widest a figure is shown in the built book's text column at a 1366 px wide window, in CSS pixels:
#: measured in Chromium (a chapter page's figure images stop growing at 741 px; the column's paragraphs are 757
#: px, the figure's margins take the rest). ``tests/test_reader.py`` fails on any figure shown below 85% of
#: the size it was drawn at, so a change of the theme's column shows there.
COLUMN_PX = 741
#: the padding ``bbox_inches="tight"`` adds on each side when Jupyter saves an inline figure (matplotlib's
#: ``savefig.pad_inches``); a constrained-layout figure's own margin is smaller, so the saved image is a few
#: pixels wider than the figure
TIGHT_PAD_IN = 0.1
#: the width every chapter figure is drawn at, in inches: the column less the tight-bbox padding, so that the
#: saved image (about 731 px at :data:`DPI`) is shown at its drawn size (100%) in the column
COLUMN_IN = (COLUMN_PX - 2 * TIGHT_PAD_IN * DPI) / DPI
#: the smallest font size any figure uses, in points as drawn
MIN_FONT_PT = 8

plt.rcParams.update({"figure.dpi": DPI, "savefig.dpi": DPI, "axes.grid": True, "grid.alpha": 0.3,
                     "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False,
                     "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "figure.titlesize": 10,
                     "xtick.labelsize": MIN_FONT_PT, "ytick.labelsize": MIN_FONT_PT,
                     "legend.fontsize": MIN_FONT_PT, "legend.title_fontsize": MIN_FONT_PT})


def figure(nrows: int = 1, ncols: int = 1, *, row_height: float | None = None, width: float = 1.0, **kw):
    """``plt.subplots`` sized for the book's column: ``width`` (a share of the column) times :data:`COLUMN_IN`
    wide, ``row_height`` inches per row of panels (default: 2.9 for one panel per row, 2.6 for more).
    Use at most two panels per row; stack more with ``nrows``."""
    if row_height is None:
        row_height = 2.9 if ncols == 1 else 2.6
    kw.setdefault("layout", "constrained")
    return plt.subplots(nrows, ncols, figsize=(width * COLUMN_IN, row_height * nrows), **kw)


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
    """One line that lists the parameters a chapter ran with, each as ``name = value`` in code (no pipes, which
    a reader would take for a broken table); ``python -m mtrl_lib list`` says what each one means."""
    import dataclasses

    from IPython.display import Markdown

    items = dataclasses.asdict(params) if dataclasses.is_dataclass(params) else dict(params)
    cells = "; ".join(f"`{k} = {list(v) if isinstance(v, tuple) else v!r}`" for k, v in items.items())
    return Markdown(f"**Parameters of this run** (what each means: `python -m mtrl_lib list`): {cells}.")


def band_within(ax, x, runs, label, color=None, lo: float = 0.0, hi: float = 1.0, **kw):
    """As :func:`band`, for a quantity that lives in ``[lo, hi]`` (an error or an accuracy): the shaded 95%
    interval is cut to that range (the mean lies in it, so the cut interval keeps its coverage)."""
    runs = np.atleast_2d(np.asarray(runs, dtype=float))
    iv = mean_ci(runs, axis=0)
    (line,) = ax.plot(x, iv.mean, label=label, color=color, **kw)
    if runs.shape[0] > 1:
        ax.fill_between(x, np.clip(iv.lo, lo, hi), np.clip(iv.hi, lo, hi), color=line.get_color(), alpha=0.2,
                        linewidth=0)
    return line


def html_table(header, rows, caption: str | None = None) -> "IPython.display.HTML":
    """A real table for a code cell's output (rendered as a table by the book and by Jupyter, unlike Markdown
    text in an output): ``header`` a list of column titles, ``rows`` lists of cells (plain text, escaped; a
    value ``x ± y`` is kept on one line, so a narrow column breaks between values, not inside one)."""
    import html

    from IPython.display import HTML

    esc = lambda v: html.escape(str(v))
    cell = lambda v: esc(v).replace(" ± ", "&#160;±&#160;")
    # a parameter table (its header is PARAMS_HEADER) lists the names a reader types (-p NAME VALUE): the names
    # are code, and the table is marked so that the reader's check for identifiers in prose leaves it alone
    params = tuple(header) == PARAMS_HEADER
    first = (lambda v: f"<code>{esc(v)}</code>") if params else cell
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{(first if i == 0 else cell)(c)}</td>" for i, c in enumerate(row))
                   + "</tr>" for row in rows)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    cls = "mtrl-table mtrl-params" if params else "mtrl-table"
    return HTML(f'<table class="{cls}">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')


#: the header of a chapter's parameter table (:func:`html_table` marks such a table)
PARAMS_HEADER = ("parameter", "value", "what it means")
