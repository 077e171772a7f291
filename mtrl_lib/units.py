"""Units of work: what an experiment declares, so that any executor can run it and any store can keep it.

A :class:`Unit` is one training run or one evaluation: a module-level function named ``"module:function"``,
a JSON-able configuration and a seed. ``call(unit)`` is ``function(seed=seed, **config)`` and returns a small
result dict (numbers, strings, lists, numpy arrays). Everything random inside a unit is drawn from
generators seeded by ``unit.seed`` (and the config), never from global state or process order, so a unit
gives the same result whichever process runs it and in whatever order. ``call`` runs every unit on one CPU
thread (:func:`mtrl_lib.threads.one_thread`): torch splits a reduction or a matrix product by its thread
count, so the last bits of a result would otherwise depend on the process (2 threads in-process on 2 cores,
1 on a Dask worker). Parallelism is taken across units instead (``--scheduler local:N``).

An experiment builds its list of units, hands it to :func:`run_units` with the executor it was given, and
reduces the results. The executor is any object with ``map(units, desc) -> list[dict]`` in the units' order;
``None`` runs them here, one after the other. The publishing side (:mod:`mtrl_lib.book.executors`) supplies
Dask executors and the results store; this module knows nothing of them (imports run from publishing to
science only).
"""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass

import numpy as np

from .progress import progress_bar
from .threads import one_thread


class UnitFailed(RuntimeError):
    """A unit raised; the message names its function, seed and configuration."""


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"unit configurations hold JSON values only, got {type(value).__name__}: {value!r}")


@dataclass(frozen=True)
class Unit:
    """``fn``: ``"package.module:function"``; ``config``: canonical JSON of the keyword arguments; ``seed``."""

    fn: str
    config: str
    seed: int

    @property
    def kwargs(self) -> dict:
        return json.loads(self.config)

    def describe(self) -> str:
        return f"{self.fn} seed={self.seed} config={self.config}"


def unit(fn, seed: int, **config) -> Unit:
    """Declare one unit: ``fn`` a module-level function (or its ``"module:name"``), called as
    ``fn(seed=seed, **config)``."""
    name = fn if isinstance(fn, str) else f"{fn.__module__}:{fn.__qualname__}"
    return Unit(name, json.dumps(_jsonable(config), sort_keys=True, separators=(",", ":")), int(seed))


def resolve(name: str):
    module, _, attr = name.partition(":")
    return getattr(importlib.import_module(module), attr)


def call(u: Unit) -> dict:
    """Run one unit here, on one CPU thread (the same bytes at any thread count). A unit that raises is
    reported with its function, seed and configuration."""
    try:
        with one_thread():
            return resolve(u.fn)(seed=u.seed, **u.kwargs)
    except KeyboardInterrupt:
        raise
    except Exception as e:
        raise UnitFailed(f"unit failed: {u.describe()}: {type(e).__name__}: {e}") from e


class InProcess:
    """The embedded default: every unit in this process, in order, with a progress bar."""

    name = "in-process"

    def map(self, units, desc: str | None = None) -> list[dict]:
        return [call(u) for u in progress_bar(units, desc=desc)]


def run_units(units: list[Unit], executor=None, desc: str | None = None) -> list[dict]:
    """Results of ``units``, in their order, computed by ``executor`` (``None``: :class:`InProcess`)."""
    return (executor or InProcess()).map(list(units), desc=desc)
