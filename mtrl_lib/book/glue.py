"""Glue a computed number into the book's prose, and read the glued numbers back.

A chapter calls :func:`glue` for every number its text quotes (``{glue:text}`name:.3f``` in the MyST
prose, ``{glue:text}`chapters/NN_name.ipynb::name:.3f``` from another page; strings such as a claim's
verdict the same way, with the format ``:s`` when pasted from another page). The value is stored in the executed notebook as a myst-nb glue output; :func:`read_glued` reads
all of them back from an executed notebook for the runner's ``CHAPTER.json``.
"""
from __future__ import annotations

import ast
import math

import nbformat


def _plain(value):
    """A JSON-able Python scalar (numpy and torch scalars become float/int), checked finite."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return value
    raise TypeError(f"glue values must be numbers or strings, got {type(value).__name__}")


class _Text(str):
    """A string whose text/plain form is itself, not its repr: the prose shows it without quotes."""

    def __repr__(self):
        return str(self)

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))


def glue(name: str, value, display: bool = False):
    """Record ``value`` under ``name`` for the prose and for ``CHAPTER.json``.

    Executed for the book (``MTRL_STATIC=1``) it is a myst-nb glue output, which the book's prose and
    ``CHAPTER.json`` read. In live Jupyter it only records the value for ``{eval}`glued["name:fmt"]``` roles
    (:mod:`mtrl_lib.book.inline`), so the glue cell has no outputs there (``display=True`` still shows it)."""
    from ..progress import static_mode
    from .inline import record

    value = _plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"glued value {name} is not finite ({value}); the chapter's computation failed")
    record(name, value)
    if not static_mode() and not display:
        return
    from myst_nb import glue as _glue

    if isinstance(value, str):
        value = _Text(value)
    _glue(name, value, display=display)


def glue_ci(name: str, per_seed, axis: int = 0):
    """Glue the mean over seeds as ``name`` and the half-width of its 95% t interval as ``name_ci``
    (:func:`mtrl_lib.stats.mean_ci`); returns the interval."""
    from ..stats import mean_ci

    iv = mean_ci(per_seed, axis=axis)
    glue(name, float(iv.mean))
    glue(f"{name}_ci", float(iv.half))
    return iv


def glue_all(values: dict):
    """Glue every ``name: value`` of a dict (an experiment's ``summary``), without displaying any."""
    for name, value in values.items():
        glue(name, value)


def record_early(values: dict):
    """Make ``values`` available to the prose's ``{eval}`` roles in Jupyter from this cell on, above the cell
    that glues them (a chapter's verdict line under its claim quotes numbers glued further down). In Jupyter the
    prose reads only these records; the book reads the glue outputs, which stay where they are, so nothing is
    glued twice."""
    from .inline import record

    for name, value in values.items():
        record(name, _plain(value))


def read_glued(nb: nbformat.NotebookNode) -> dict:
    """``{name: value}`` for every scalar glued in an executed notebook (figures are skipped)."""
    out, seen = {}, set()
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            meta = o.get("metadata", {}).get("scrapbook")
            if not meta:
                continue
            data, prefix = o.get("data", {}), meta.get("mime_prefix", "")
            if any("image/" in k for k in data):
                continue
            if prefix + "text/plain" not in data:
                continue
            text = data[prefix + "text/plain"]
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                value = text                      # a glued string (see _Text)
            # Only scalars are glued: text such as "100, 101" that parses as a tuple stays a string.
            if meta["name"] in seen:      # the book build would stop on it (myst-nb: duplicate glue key)
                raise ValueError(f"{meta['name']} is glued twice; glue each name once")
            seen.add(meta["name"])
            out[meta["name"]] = value if isinstance(value, (int, float, str)) else text
    return out
