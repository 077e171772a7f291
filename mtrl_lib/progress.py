"""Progress bars that work in a terminal and in Jupyter, and vanish from the static book.

tqdm.auto picks the notebook widget in Jupyter and the text bar in a terminal. When the book runner
executes a chapter it sets ``MTRL_STATIC=1``: bars are then switched off, so no progress-bar debris ends
up in the HTML pages (the runner shows its own per-chapter progress instead).
"""
from __future__ import annotations

import os

from tqdm.auto import tqdm


def static_mode() -> bool:
    """True when running headless for the book (set by the runner), where widgets and bars are skipped."""
    return os.environ.get("MTRL_STATIC", "") == "1"


def progress_bar(iterable, enabled: bool | str = True, desc: str | None = None, **kw):
    """``tqdm`` over ``iterable`` when ``enabled`` (a string is used as the description) and not static."""
    if isinstance(enabled, str):
        desc, enabled = enabled, True
    return tqdm(iterable, desc=desc, disable=not enabled or static_mode(), leave=False, **kw)
