"""What every chapter's ``Params`` shares: common fields, their bounds, and one validator.

As scikit-learn's estimators declare ``_parameter_constraints`` and let one validator write every error
message, a chapter declares only its own fields (each documented by a comment where it is declared) and the
constraints of those fields; :class:`ChapterParams` checks all of them on construction and raises a
``ValueError`` that names the parameter, the value and what is allowed.

    @dataclass(frozen=True)
    class Params(ChapterParams):
        T_values: tuple[int, ...] = (1, 5, 20)    # numbers of tasks, increasing
        constraints = {"T_values": IntList(1, 100_000, increasing=True)}

A notebook builds its ``Params`` in one line from its parameters cell, ``Params.from_namespace(globals())``,
which takes every field by name and fails if the notebook lacks one (so no ``-p NAME VALUE`` is ever dropped).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from .._validate import check_choice, check_float, check_int, check_int_list, check_str_list


@dataclass(frozen=True)
class Int:
    lo: int | None = None
    hi: int | None = None

    def __call__(self, name, value):
        return check_int(name, value, self.lo, self.hi)


@dataclass(frozen=True)
class Float:
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False

    def __call__(self, name, value):
        return check_float(name, value, self.lo, self.hi, lo_open=self.lo_open)


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]

    def __call__(self, name, value):
        return check_choice(name, value, self.options)


@dataclass(frozen=True)
class IntList:
    """A non-empty list of integers in ``[lo, hi]``; ``increasing``: strictly increasing (a sweep's x axis,
    whose first and last entries the prose quotes as "smallest" and "largest")."""

    lo: int | None = None
    hi: int | None = None
    increasing: bool = True

    def __call__(self, name, value):
        out = check_int_list(name, value, self.lo, self.hi)
        if self.increasing and any(b <= a for a, b in zip(out, out[1:])):
            raise ValueError(f"{name} must be strictly increasing, got {list(out)}")
        return out


@dataclass(frozen=True)
class ChoiceList:
    options: tuple[str, ...]

    def __call__(self, name, value):
        return tuple(dict.fromkeys(check_str_list(name, value, self.options)))


def _seeds(name, value):
    out = check_int_list(name, value, 0, 2**31 - 1)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must be distinct integers, got {list(out)}")
    return out


def _device(name, value):
    from ..train import resolve_device

    resolve_device(value)
    return value


# Bounds of the fields that several chapters share; a chapter's own ``constraints`` add to or override these.
COMMON = {
    "d": Int(2, 100_000), "r": Int(1, 100), "m": Int(1, 100_000), "T": Int(1, 100_000),
    "n": Int(1, 1_000_000), "n1": Int(1, 1_000_000), "n2": Int(1, 1_000_000), "n3": Int(2, 1_000_000),
    "rounds": Int(1, 1_000_000), "rounds_quadratic": Int(1, 1_000_000), "record_every": Int(1, 1_000_000),
    "eta_a": Float(0.0, 1e6, lo_open=True), "eta_W": Float(0.0, 1e6, lo_open=True),
    "bias_scale": Float(0.0, 10.0), "down_tasks": Int(1, 10_000), "n_test": Int(10, 10_000_000),
    "lam": Float(0.0, 1e9, lo_open=True), "seeds": _seeds, "device": _device,
}


@dataclass(frozen=True)
class ChapterParams:
    seeds: tuple[int, ...] = tuple(range(10))   # one independent draw of M, tasks, W and samples per seed
    device: str = "cpu"                          # "cpu" or "cuda"

    constraints: ClassVar[dict] = {}

    def __post_init__(self):
        rules = {**COMMON, **type(self).constraints}
        for f in dataclasses.fields(self):
            rule = rules.get(f.name)
            if rule is None and f.name.startswith(("eta_a_", "eta_W_")):
                rule = COMMON[f.name[:5]]
            if rule is None:
                raise TypeError(f"{type(self).__module__}.Params.{f.name} has no constraint: declare one")
            value = rule(f.name, getattr(self, f.name))
            object.__setattr__(self, f.name, value)
        self.check()

    def check(self) -> None:
        """Rules that involve several fields (override; raise ValueError with one clear line)."""
        if hasattr(self, "d") and hasattr(self, "r") and self.r > self.d:
            raise ValueError(f"r must be at most d = {self.d}, got {self.r}")

    @classmethod
    def from_namespace(cls, namespace: dict):
        """``Params`` from a notebook's globals: every field, by name. A missing one is an error, not a
        silent default, so that a parameter injected with ``-p`` always reaches the experiment."""
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [n for n in names if n not in namespace]
        if missing:
            raise ValueError(f"the notebook's parameters cell lacks {', '.join(missing)}")
        return cls(**{n: namespace[n] for n in names})

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)


def check_rounds_multiple(rounds_name: str, rounds: int, every_name: str, every: int) -> None:
    """A chapter that reads its records at the last round needs ``rounds`` to be a multiple of the record
    interval."""
    if rounds % every:
        raise ValueError(f"{rounds_name} must be a multiple of {every_name} = {every}, got {rounds}")


#: the fewest seeds a chapter runs with: every verdict rests on 95% intervals over seeds, and an interval needs two
#: (a verdict needs :data:`mtrl_lib.stats.MIN_SEEDS`; with fewer it reads "undecided")
MIN_INTERVAL_SEEDS = 2


def check_seed_count(seeds) -> None:
    """The one wording of the too-few-seeds refusal, for every chapter: the command line and each notebook
    (:func:`mtrl_lib.book.cli_values.check_seeds`) and the chapters whose ``Params`` refuse it themselves call
    it. Not unit code: no unit runs it (a chapter's units build their ``Params`` with one seed each, so the
    ``ChapterParams`` base cannot refuse one seed on construction)."""
    if len(seeds) < MIN_INTERVAL_SEEDS:
        raise ValueError(f"seeds must hold at least {MIN_INTERVAL_SEEDS} seeds (a 95% interval needs two), "
                         f"got {list(seeds)}")
