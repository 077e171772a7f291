"""A chapter in a live Jupyter kernel, as a reader meets it (``make lab``).

:func:`install` runs when a chapter imports ``mtrl_lib.book`` in a live kernel (not when the book's runner
executes it, ``MTRL_STATIC=1``), once per kernel:

- **Bad parameters give one line**, as on the command line: a ``ValueError`` raised while a chapter's
  ``Params`` validates the parameters cell (or by :func:`mtrl_lib.book.cli_values.check_seeds`) is shown as
  ``bad parameter: d must be an integer in [2, 100000], got 1.5 (edit the parameters cell, then Run All)``
  instead of a 35-line traceback (an IPython custom exception handler). Any other error keeps its traceback.
- **No number from another run passes for this run's.** The prose's numbers are ``{eval}`` roles that
  jupyterlab-myst evaluates when their markdown cell runs and keeps in the cell. When a code cell starts, the
  markdown cells below it are greyed and labelled "from an earlier run" until Run All (or the reader) reaches
  them again; when a cell fails, the cells below stay so, and the failing cell is scrolled into view with a
  line saying that Run All stopped there. This is a small script in the cell's output (trusted, since the
  kernel just produced it), which acts on the page only.
"""
from __future__ import annotations

import json
import os
import sys

_INSTALLED = False

STALE_CSS = """
.jp-MarkdownCell.mtrl-stale .jp-Cell-inputWrapper { opacity: 0.4; }
.jp-MarkdownCell.mtrl-stale::before {
  content: "From an earlier run: its numbers are refreshed when Run All reaches this cell";
  display: block; font-size: 0.8em; color: #b3261e; padding-left: 64px;
}
"""

#: runs in the cell's output: ``element`` is the output node (JupyterLab's JavaScript renderer)
MARK_JS = """(function go(element, mode, tries) {
  var cell = element.closest('.jp-Cell'), nb = cell && cell.closest('.jp-Notebook');
  if (!nb) {            // rendered before it is attached to the page: try again shortly
    if (tries < 100) setTimeout(function () { go(element, mode, tries + 1); }, 50);
    return;
  }
  if (!document.getElementById('mtrl-stale-css')) {
    var st = document.createElement('style'); st.id = 'mtrl-stale-css'; st.textContent = %(css)s;
    document.head.appendChild(st);
  }
  var cells = Array.prototype.slice.call(nb.querySelectorAll('.jp-Cell')), at = cells.indexOf(cell);
  var laterCode = cells.slice(at + 1).some(function (c) { return c.classList.contains('jp-CodeCell'); });
  cells.forEach(function (c, i) {
    if (!c.classList.contains('jp-MarkdownCell')) return;
    var below = i > at;
    if (mode === 'done' && !laterCode) below = false;       // the last code cell ran: the tail is current
    c.classList.toggle('mtrl-stale', below);
  });
  if (mode === 'failed') setTimeout(function () { cell.scrollIntoView({block: 'center'}); }, 400);
})(element, %(mode)s, 0);"""


def parameter_error(etype, value, tb) -> bool:
    """Whether the exception was raised while parameters were validated: a ``ValueError`` (or ``TypeError``)
    from a chapter's ``Params`` (construction, ``from_namespace``, ``check``) or from ``check_seeds``."""
    if not issubclass(etype, (ValueError, TypeError)):
        return False
    from ..experiments.common import ChapterParams
    from .cli_values import ParameterError

    if issubclass(etype, ParameterError):
        return True
    while tb is not None:
        frame = tb.tb_frame
        owner = frame.f_locals.get("self", frame.f_locals.get("cls"))
        if (isinstance(owner, ChapterParams) or (isinstance(owner, type) and issubclass(owner, ChapterParams))) \
                and frame.f_code.co_name in ("__post_init__", "from_namespace", "check", "__init__"):
            return True
        if frame.f_code.co_name == "check_seeds" and frame.f_code.co_filename.endswith("cli_values.py"):
            return True
        tb = tb.tb_next
    return False


def one_line(value) -> str:
    return (f"bad parameter: {' '.join(str(value).split())} "
            f"(edit the parameters cell at the top, then Run All)")


def _mark(mode: str) -> None:
    from IPython.display import display

    code = MARK_JS % {"css": json.dumps(STALE_CSS), "mode": json.dumps(mode)}
    display({"application/javascript": code, "text/plain": ""}, raw=True)


def _handler(shell, etype, value, tb, tb_offset=None):
    """IPython's custom exception handler: one line for a bad parameter, the usual traceback otherwise, with a
    line saying that Run All stopped here (the ``post_run_cell`` hook then marks the prose below and brings the
    failing cell into view)."""
    if parameter_error(etype, value, tb):
        stb = [f"\x1b[0;31m{one_line(value)}\x1b[0m"]
    else:
        stb = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
        stb = list(stb) + ["\x1b[0;31mRun All stopped here: the numbers below this cell are from an earlier "
                           "run until it runs without error.\x1b[0m"]
    shell._showtraceback(etype, value, stb)      # IPython leaves showing it to a custom handler
    return stb


def install(shell=None) -> bool:
    """Register the handler and the marks in the running IPython kernel (once); False when there is none or
    the book's runner is executing (``MTRL_STATIC=1``)."""
    global _INSTALLED
    if _INSTALLED or os.environ.get("MTRL_STATIC") == "1":
        return False
    if shell is None:
        if "IPython" not in sys.modules:
            return False
        from IPython import get_ipython

        shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return False
    shell.set_custom_exc((Exception,), _handler)

    def pre(info):
        _mark("running")

    def post(result):
        _mark("done" if result.success else "failed")

    shell.events.register("pre_run_cell", pre)
    shell.events.register("post_run_cell", post)
    _INSTALLED = True
    return True
