"""Turning command-line parameter strings into a chapter's validated parameters.

Values are first parsed as papermill's ``-p`` does (int, float, bool, None, else a string); lists may be
written ``1,5,20`` or ``[1, 5, 20]``. Then each value is coerced to the type of the chapter's ``Params``
field, and ``Params(**values)`` validates ranges. Any problem is a :class:`ParameterError` naming the
parameter, the value and what is allowed.
"""
from __future__ import annotations

import ast
import difflib
import typing

from papermill.cli import _resolve_type

from .chapters import Chapter


class ParameterError(ValueError):
    """A parameter given to the runner is unknown, of the wrong type or out of range."""


def parse_cli_value(text: str):
    """``-p NAME VALUE`` parsing: papermill's rules, plus Python/JSON list literals."""
    value = _resolve_type(text)
    if isinstance(value, str) and value.strip().startswith(("[", "(")):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            pass
    return value


def _coerce(name: str, value, hint):
    origin = typing.get_origin(hint)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ParameterError(f"{name} must be True or False, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ParameterError(f"{name} must be an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ParameterError(f"{name} must be a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ParameterError(f"{name} must be a string, got {value!r}")
    if origin in (tuple, list):
        (inner, *_) = typing.get_args(hint) or (str,)
        if isinstance(value, str):
            value = [v.strip() for v in value.strip("[]()").split(",") if v.strip()]
            value = [parse_cli_value(v) for v in value]
        elif not isinstance(value, (list, tuple)):
            value = [value]
        return tuple(_coerce(f"{name}[{i}]", v, inner) for i, v in enumerate(value))
    return value


def resolve(chapter: Chapter, profile: str, overrides: dict):
    """The chapter's validated ``Params`` for ``profile`` with ``overrides`` applied.

    Raises :class:`ParameterError` for an unknown name, a wrong type or a value out of range."""
    try:
        values = chapter.profile(profile)
    except ValueError as e:
        raise ParameterError(str(e)) from None
    hints = chapter.field_types()
    for name, value in overrides.items():
        if name not in hints:
            close = difflib.get_close_matches(name, list(hints), n=1)
            raise ParameterError(f"unknown parameter {name!r} for chapter {chapter.name}"
                                 + (f" (did you mean {close[0]}?)" if close else "")
                                 + f"; its parameters are: {', '.join(hints)}")
        values[name] = _coerce(name, value, hints[name])
    try:
        params = chapter.params_class(**values)
    except ValueError as e:
        raise ParameterError(str(e)) from None
    check_params(params)
    return params


def check_params(params) -> None:
    """The refusals a chapter's ``Params`` cannot make itself, made before any unit runs, by the command line
    (:func:`resolve`) and by each notebook's cell that builds its ``params`` (so Jupyter refuses too): fewer
    than two seeds (:func:`check_seeds`), and a configuration whose largest unit cannot fit in this machine's
    memory (:func:`mtrl_lib.experiments.memory.check_fits`). Raises :class:`ParameterError` (one line)."""
    check_seeds(params)
    from ..experiments.memory import check_fits

    try:
        check_fits(params)
    except ValueError as e:
        raise ParameterError(str(e)) from None


def check_seeds(params) -> None:
    """Every chapter decides on 95% intervals over seeds, and an interval needs two of them: one seed would run
    for minutes and then fail on an infinite interval, so it is refused here, before any unit runs, in the one
    wording of :func:`mtrl_lib.experiments.common.check_seed_count`. (Not in ``ChapterParams``: a chapter's units
    build their ``Params`` with one seed each.)"""
    from ..experiments.common import check_seed_count

    try:
        check_seed_count(params.seeds)
    except ValueError as e:
        raise ParameterError(str(e)) from None


def to_papermill(params) -> dict:
    """Parameters as papermill injects them (tuples become lists)."""
    import dataclasses

    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(params).items()}
