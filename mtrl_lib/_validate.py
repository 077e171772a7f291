"""Parameter validation shared by every configuration dataclass.

Each checker raises ``ValueError`` whose message names the parameter, the value it got and the range it
allows, so a reader who mistypes a value learns what to type instead, before any computation starts.
"""
from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Iterable


def check_int(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """Return ``value`` as an ``int`` after checking ``lo <= value <= hi``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer{_range(lo, hi)}, got {value!r}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name} must be an integer{_range(lo, hi)}, got {value}")
    return value


def check_float(name: str, value, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False, hi_open: bool = False) -> float:
    """Return ``value`` as a finite ``float`` inside ``[lo, hi]`` (bounds open where asked)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a number{_range(lo, hi, lo_open, hi_open)}, got {value!r}")
    value = float(value)
    bad = not math.isfinite(value)
    if lo is not None:
        bad |= value <= lo if lo_open else value < lo
    if hi is not None:
        bad |= value >= hi if hi_open else value > hi
    if bad:
        raise ValueError(f"{name} must be a number{_range(lo, hi, lo_open, hi_open)}, got {value}")
    return value


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return value


def check_int_list(name: str, value, lo: int | None = None, hi: int | None = None) -> tuple[int, ...]:
    """A non-empty sequence of integers in range, returned as a tuple (hashable, for frozen dataclasses)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError(f"{name} must be a non-empty list of integers{_range(lo, hi)}, got {value!r}")
    out = tuple(value)
    if not out:
        raise ValueError(f"{name} must be a non-empty list of integers{_range(lo, hi)}, got an empty list")
    for i, v in enumerate(out):
        check_int(f"{name}[{i}]", v, lo, hi)
    return tuple(int(v) for v in out)


def check_str_list(name: str, value, choices: Iterable[str]) -> tuple[str, ...]:
    choices = tuple(choices)
    if isinstance(value, str):
        value = (value,)
    out = tuple(value)
    if not out:
        raise ValueError(f"{name} must be a non-empty list drawn from {choices}, got an empty list")
    for i, v in enumerate(out):
        check_choice(f"{name}[{i}]", v, choices)
    return out


def _range(lo, hi, lo_open=False, hi_open=False) -> str:
    if lo is None and hi is None:
        return ""
    if hi is None:
        return f" {'>' if lo_open else '>='} {lo}"
    if lo is None:
        return f" {'<' if hi_open else '<='} {hi}"
    return f" in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
