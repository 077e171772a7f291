"""Executors for an experiment's units (see :mod:`mtrl_lib.units`), chosen from the environment.

``from_environment()`` is what a chapter notebook passes to ``chapter.run(params, executor=...)``. The runner
sets the environment of the kernel it starts; in a plain Jupyter session nothing is set and units run
in-process.
"""
from __future__ import annotations

from ..units import InProcess


def from_environment():
    """The executor the runner asked for (in-process by default)."""
    return InProcess()
