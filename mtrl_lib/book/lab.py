"""``make lab``: JupyterLab on working copies of the chapters, with the project's environment.

``python -m mtrl_lib.book.lab [JUPYTER LAB OPTIONS]`` first makes the reader's working copies of the chapter
notebooks in ``_build/lab/`` (:func:`working_copies`), then runs the ``jupyter lab`` of the Python running it
(so the kernel, ``mtrl_lib`` and the extensions are the ones of ``.venv``) with that folder as its root, and
``--allow-root`` when it runs as root (Jupyter refuses to start as root otherwise). Extra options pass through,
e.g. ``make lab LAB_ARGS="--no-browser --port 8899"``. ``tests/test_lab.py`` starts Lab with the same command.

- **The sources stay clean, a reader's edits are theirs.** Lab autosaves, outputs and edited parameters
  included; it saves into ``_build/lab/``, never into the tracked ``notebooks/``. A copy is made when missing,
  and refreshed from its source only while the reader has not changed it; an edited copy is kept (delete it
  to get the current chapter). The copies are made without the prose's evaluated numbers
  (jupyterlab-myst's ``user_expressions``), so no number from another run shows before the reader runs.
- **Explore keeps its controls after a save and a reload.** The working copies are trusted (they are the
  book's own chapters, run by the reader's kernel): :class:`WorkingCopies`, Lab's contents manager here,
  marks them trusted on load, so the saved widget output is drawn as controls (from the live kernel), not
  shown as ``interactive(children=...`` text.
- In the kernel, bad parameters give one line and stale prose is marked: :mod:`mtrl_lib.book.kernel`.

In Lab, Run All shows every number of the prose (jupyterlab-myst evaluates its ``{eval}`` roles, see
:mod:`mtrl_lib.book.inline`) and the explorers as live widgets (:mod:`mtrl_lib.book.widgets`).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager

from .chapters import NOTEBOOKS, ROOT

WORK = ROOT / "_build" / "lab"
LEDGER = ".copies.json"           # source and copy digests of each working copy, to tell an edited copy


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fresh_copy(src: Path, dest: Path) -> None:
    import nbformat

    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("user_expressions", None)
    nbformat.write(nb, dest)


def working_copies(src: Path = NOTEBOOKS, dest: Path = WORK, log=print) -> Path:
    """Make or refresh the working copies of ``src/*.ipynb`` in ``dest``; returns ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    ledger_path = dest / LEDGER
    try:
        ledger = json.loads(ledger_path.read_text())
    except (OSError, ValueError):
        ledger = {}
    for nb in sorted(Path(src).glob("*.ipynb")):
        copy, source = dest / nb.name, _digest(nb)
        entry = ledger.get(nb.name)
        if not copy.exists():
            _fresh_copy(nb, copy)
        elif entry and entry["source"] != source:
            if _digest(copy) == entry["copy"]:
                _fresh_copy(nb, copy)            # untouched by the reader: follow the source
                log(f"updated {copy.relative_to(ROOT) if copy.is_relative_to(ROOT) else copy} "
                    f"(the chapter changed)")
            else:
                log(f"kept your edited {copy.name}; the chapter has changed since (delete "
                    f"{copy} to get it)")
                continue
        elif entry:
            continue
        ledger[nb.name] = {"source": source, "copy": _digest(copy)}
    ledger_path.write_text(json.dumps(ledger, indent=1, sort_keys=True) + "\n")
    return dest


class WorkingCopies(AsyncLargeFileManager):
    """Lab's contents manager for the working copies: every notebook it serves is trusted (see the module)."""

    def mark_trusted_cells(self, nb, path=""):
        self.notary.mark_cells(nb, True)


def lab_command(root_dir: Path | str = WORK, extra: list[str] | tuple = ()) -> list[str]:
    """The ``jupyter lab`` command line (a list for ``subprocess``)."""
    jupyter = Path(sys.executable).with_name("jupyter")
    cmd = [str(jupyter), "lab", f"--ServerApp.root_dir={Path(root_dir).resolve()}",
           f"--ServerApp.contents_manager_class={WorkingCopies.__module__}.{WorkingCopies.__name__}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd + list(extra)


def main(argv: list[str] | None = None) -> int:
    root = working_copies()
    print(f"working copies of the chapters: {root} (notebooks/ stays as it is)")
    cmd = lab_command(root, extra=sys.argv[1:] if argv is None else argv)
    print(" ".join(cmd), flush=True)
    os.execv(cmd[0], cmd)      # replace this process: Ctrl-C goes straight to Jupyter


if __name__ == "__main__":
    sys.exit(main())
