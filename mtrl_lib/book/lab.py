"""``make lab``: JupyterLab on the chapter notebooks, with the project's environment.

``python -m mtrl_lib.book.lab [JUPYTER LAB OPTIONS]`` runs the ``jupyter lab`` of the Python running it (so the
kernel, ``mtrl_lib`` and the extensions are the ones of ``.venv``) with ``notebooks/`` as its root folder, and
``--allow-root`` when it runs as root (Jupyter refuses to start as root otherwise). Extra options pass through,
e.g. ``make lab LAB_ARGS="--no-browser --port 8899"``. ``tests/test_lab.py`` starts Lab with the same command.

In Lab, Run All shows every number of the prose (jupyterlab-myst evaluates its ``{eval}`` roles, see
:mod:`mtrl_lib.book.inline`) and the explorers as live widgets (:mod:`mtrl_lib.book.widgets`).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .chapters import ROOT


def lab_command(root_dir: Path | str = ROOT / "notebooks", extra: list[str] | tuple = ()) -> list[str]:
    """The ``jupyter lab`` command line (a list for ``subprocess``)."""
    jupyter = Path(sys.executable).with_name("jupyter")
    cmd = [str(jupyter), "lab", f"--ServerApp.root_dir={Path(root_dir).resolve()}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd + list(extra)


def main(argv: list[str] | None = None) -> int:
    cmd = lab_command(extra=sys.argv[1:] if argv is None else argv)
    print(" ".join(cmd), flush=True)
    os.execv(cmd[0], cmd)      # replace this process: Ctrl-C goes straight to Jupyter


if __name__ == "__main__":
    sys.exit(main())
