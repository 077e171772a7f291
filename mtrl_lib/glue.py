"""Glue a computed number into the book's prose, and read the glued numbers back.

A chapter calls :func:`glue` for every number its text quotes (``{glue:text}`name:.3f``` in the MyST
prose). The value is stored in the executed notebook as a myst-nb glue output; :func:`read_glued` reads
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


def glue(name: str, value, display: bool = False):
    """Record ``value`` under ``name`` for the prose (myst-nb glue) and for ``CHAPTER.json``."""
    from myst_nb import glue as _glue

    value = _plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"glued value {name} is not finite ({value}); the chapter's computation failed")
    _glue(name, value, display=display)


def read_glued(nb: nbformat.NotebookNode) -> dict:
    """``{name: value}`` for every scalar glued in an executed notebook (figures are skipped)."""
    out = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            meta = o.get("metadata", {}).get("scrapbook")
            key = (meta or {}).get("mime_prefix", "") + "text/plain"
            if not meta or key not in o.get("data", {}):
                continue
            if any("image/" in k for k in o["data"]):
                continue
            try:
                out[meta["name"]] = ast.literal_eval(o["data"][key])
            except (ValueError, SyntaxError):
                continue
    return out
