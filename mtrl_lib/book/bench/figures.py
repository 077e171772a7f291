"""The seven figures of ``python -m mtrl_lib bench`` and their targets on a 2-core CPU (the list of what each
measures is in :mod:`mtrl_lib.book.bench`'s docstring)."""
from __future__ import annotations


TARGETS = {  # figure: (direction, target) on a 2-core CPU
    "loop_ratio": (">=", 20.0),
    "ceiling_fraction": (">=", 0.65),
    "matmul_fraction": (">=", 0.6),
    "peak_rss_gb": ("<=", 4.0),
    "rebuild_ratio": ("<=", 0.2),
    "jobs_ratio": ("<=", 0.7),
    "units_ratio": (">=", 0.8),
}


FIGURES = tuple(TARGETS)


#: the batched round's share of its ceiling (matrix products alone / round) that issue 12 asks for
CEILING_TARGET = TARGETS["ceiling_fraction"][1]
