"""Glued numbers in the prose, shown both in JupyterLab and in the book.

A chapter's prose quotes a computed value with the MyST role ``{eval}`glued["NAME:FORMAT"]```, e.g.
``{eval}`glued["c1_grad_rel_err:.1e"]```, where NAME is a name the notebook glued with
:func:`mtrl_lib.book.glue.glue` and FORMAT an optional Python format spec.

- **In JupyterLab** (``make lab``), jupyterlab-myst renders MyST markdown and evaluates every ``{eval}``
  expression in the live kernel when the markdown cell runs (Run All runs them in order): :data:`glued` is a
  lookup over the values glued so far in this kernel, so the reader sees the number, formatted, or, for a
  value not glued yet, the error saying so.
- **In the book**, no kernel runs at build time (papermill executed the chapter before). The Sphinx extension
  ``book/_ext/glued_eval.py`` resolves ``{eval}`glued["NAME:FORMAT"]``` exactly as myst-nb resolves
  ``{glue:text}`NAME:FORMAT```, from the glue outputs of the executed notebook.

Both paths format the same way (:func:`format_plain_text` mirrors myst-nb's), so Lab and the book show the
same text. Why not ``{glue:text}``: jupyterlab-myst does not implement the glue roles (it shows their raw text),
and myst-nb evaluates ``{eval}`` only with a kernel of its own, which the book's papermill runner replaces.

:func:`convert_notebook` rewrites a chapter's ``{glue:text}`` roles into this form (``python -m
mtrl_lib.book.inline notebooks/0*.ipynb``). Cross-page pastes (``{glue:text}`chapters/X.ipynb::name```, in
``book/intro.md``) stay glue roles: they live in pages that are never opened in Jupyter. In Lab a value must be
glued in a cell *above* the paragraph that quotes it (the book does not care); :func:`check_notebook`
(``--check``) executes a notebook as Lab does and lists the roles that would fail.
"""
from __future__ import annotations

import re
import sys
from ast import literal_eval
from pathlib import Path

import nbformat

_values: dict[str, str] = {}        # name -> text/plain form of the glued value, as myst-nb stores it


class _Text(str):
    """A string shown without quotes (its repr is itself), in Lab's inline renderer as in a cell."""

    def __repr__(self):
        return str(self)

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))


def text_plain(value) -> str:
    """The text/plain form myst-nb's glue stores for ``value`` (a string as is, a number as its repr)."""
    return value if isinstance(value, str) else repr(value)


def record(name: str, value) -> None:
    """Remember a glued value (a plain int, float, bool or str) for :data:`glued`; called by ``glue``."""
    _values[name] = text_plain(value)


def format_plain_text(text: str, fmt_spec: str) -> str:
    """Format a glued text/plain value with a format spec, as myst-nb's ``{glue:text}`` role does
    (``myst_nb.core.variables.format_plain_text``, kept identical; ``tests/test_lab.py`` compares them)."""
    try:
        value = literal_eval(text)
    except (SyntaxError, ValueError):
        value = text
    if fmt_spec == "":
        return str(value)
    type_char = fmt_spec[-1]
    if type_char == "s":
        value = str(value)
    elif type_char in ("b", "c", "d", "o", "x", "X"):
        value = int(value)
    elif type_char in ("e", "E", "f", "F", "g", "G", "n", "%"):
        value = float(value)
    return format(value, fmt_spec)


def split_key(key: str) -> tuple[str, str]:
    """``"name:fmt"`` -> ``("name", "fmt")``; no format means ``"s"``, as for ``{glue:text}``."""
    name, sep, fmt = key.rpartition(":")
    return (name, fmt) if sep else (key, "s")


class Glued:
    """``glued["NAME:FORMAT"]``: the value glued under NAME in this kernel, formatted, as display text."""

    def __getitem__(self, key: str) -> _Text:
        name, fmt = split_key(key)
        if name not in _values:
            raise KeyError(f"{name} is not glued yet: run the cells above this one (Run > Run All Cells)")
        return _Text(format_plain_text(_values[name], fmt))

    def __contains__(self, key: str) -> bool:
        return split_key(key)[0] in _values

    def __repr__(self):
        return f"<{len(_values)} glued values: {', '.join(sorted(_values))}>"


glued = Glued()

# ---------------------------------------------------------------------------------------------------------
# Rewriting a chapter notebook's {glue:text} roles into {eval}`glued[...]` (applied once, by hand).

GLUE_TEXT = re.compile(r"\{glue:text\}`([^`]+)`")
EVAL_GLUED = re.compile(r"""^\s*glued\[\s*(['"])([^'"]+)\1\s*\]\s*$""")
IMPORT_LINE = "from mtrl_lib.book.inline import glued  # the glued values, for the prose's {eval} roles in Jupyter"


QUOTED = re.compile(r"""\{eval\}`glued\[\s*['"]([A-Za-z0-9_]+)(?::[^'"]*)?['"]\s*\]`|\{glue:text\}`([A-Za-z0-9_]+)""")


def quoted_names(text: str) -> set[str]:
    """The glue names that ``text`` quotes, in ``{eval}`glued["name:fmt"]``` or local ``{glue:text}`` roles."""
    return {a or b for a, b in QUOTED.findall(text)}


GLUED_IN_CODE = re.compile(r"""glue\(\s*['"]([A-Za-z0-9_]+)['"]|glue_all\(\s*\{\s*['"]([A-Za-z0-9_]+)['"]\s*:""")


def glued_in_code(code: str) -> set[str]:
    """The names a notebook's own code glues by name: ``glue("name", ...)`` or a one-entry
    ``glue_all({"name": CONSTANT})`` (a declared rule's constant, such as ``stats.MIN_SEEDS``). A
    chapter's ``glue_all(summary)`` glues the experiment's names and is not matched."""
    return {a or b for a, b in GLUED_IN_CODE.findall(code)}


def to_eval(text: str) -> tuple[str, int]:
    """Rewrite every local ``{glue:text}`name:fmt``` in ``text``; returns (new text, number rewritten).
    Pastes from another page (``path::name``) are left alone."""
    n = 0

    def repl(m):
        nonlocal n
        key = m.group(1)
        if "::" in key:
            return m.group(0)
        n += 1
        return '{eval}`glued["' + key + '"]`'

    return GLUE_TEXT.sub(repl, text), n


def _add_import(nb) -> bool:
    """Add the ``glued`` import after the cell line that imports from ``mtrl_lib.book.glue``."""
    if any(IMPORT_LINE.split("  #")[0] in c.source for c in nb.cells if c.cell_type == "code"):
        return False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.split("\n")
        for i, line in enumerate(lines):
            if line.startswith("from mtrl_lib.book.glue import"):
                j = i
                while lines[j].rstrip().endswith(("(", ",", "\\")) and j + 1 < len(lines):   # continued import
                    j += 1
                lines.insert(j + 1, IMPORT_LINE)
                cell.source = "\n".join(lines)
                return True
    raise ValueError("no cell imports from mtrl_lib.book.glue: add the glued import by hand")


def convert_notebook(path, out=None) -> int:
    """Rewrite the ``{glue:text}`` roles of a chapter notebook (markdown cells and figure captions in cell
    metadata) into ``{eval}`glued[...]``` and import ``glued`` next to ``glue``. Idempotent. Writes ``out``
    (default: in place); returns the number of roles rewritten."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    total = 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source, n = to_eval(cell.source)
            total += n
        fig = cell.metadata.get("mystnb", {}).get("figure", {})
        if isinstance(fig.get("caption"), str):
            fig["caption"], n = to_eval(fig["caption"])
            total += n
    uses = total or any("{eval}`glued[" in c.source for c in nb.cells if c.cell_type == "markdown")
    if uses:
        _add_import(nb)
    nbformat.write(nb, Path(out) if out else path)
    return total


# ---------------------------------------------------------------------------------------------------------
# Checking a notebook as Lab's Run All sees it: each markdown cell's {eval} roles, evaluated where it stands.

EVAL_ROLE = re.compile(r"\{eval\}`([^`]+)`")


def probe(expressions: list[str]) -> None:
    """Print (as JSON) the expressions that fail in the caller's IPython namespace, with their error; run in
    the kernel by :func:`check_notebook`."""
    import json

    from IPython import get_ipython

    ns = get_ipython().user_ns
    failed = []
    for e in expressions:
        try:
            eval(e, ns)
        except Exception as exc:  # noqa: BLE001 - report any error, as Lab shows it
            failed.append([e, f"{type(exc).__name__}: {exc}"])
    print("MTRL_PROBE " + json.dumps(failed))


def check_notebook(path, timeout: int = 1800) -> list[str]:
    """Execute ``path`` as live Jupyter does (no ``MTRL_STATIC``) and, where each markdown cell stands,
    evaluate its ``{eval}`` expressions as jupyterlab-myst does after Run All; return one line per expression
    that fails (typically a value quoted before the cell that glues it). Costs one execution of the chapter."""
    import json
    import os

    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=timeout, allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    problems = []
    old = os.environ.pop("MTRL_STATIC", None)          # the kernel inherits the environment
    try:
        with client.setup_kernel():
            for i, cell in enumerate(nb.cells):
                if cell.cell_type == "code":
                    client.execute_cell(cell, i)
                elif cell.cell_type == "markdown" and EVAL_ROLE.search(cell.source):
                    exprs = EVAL_ROLE.findall(cell.source)
                    cell_probe = nbformat.v4.new_code_cell(f"import mtrl_lib.book.inline as _mtrl_inline\n"
                                                           f"_mtrl_inline.probe({exprs!r})")
                    client.execute_cell(cell_probe, i)
                    text = "".join(o.get("text", "") for o in cell_probe.outputs if o.get("name") == "stdout")
                    line = next(ln for ln in text.splitlines() if ln.startswith("MTRL_PROBE "))
                    problems += [f"{path.name}, markdown cell {i}: {{eval}}`{e}` -> {err}"
                                 for e, err in json.loads(line[len("MTRL_PROBE "):])]
    finally:
        if old is not None:
            os.environ["MTRL_STATIC"] = old
    return problems


def main(argv=None) -> int:
    args = list(argv if argv is not None else sys.argv[1:])
    check = "--check" in args
    paths = [a for a in args if a != "--check"]
    if not paths:
        print("usage: python -m mtrl_lib.book.inline [--check] NOTEBOOK.ipynb ...\n"
              "  rewrites the {glue:text} roles of each notebook; --check instead executes each as Jupyter\n"
              "  does and lists the {eval} roles that would fail where they stand", file=sys.stderr)
        return 2
    bad = 0
    for p in paths:
        if check:
            problems = check_notebook(p)
            bad += len(problems)
            print("\n".join(problems) if problems else f"{p}: every {{eval}} role renders after Run All")
        else:
            print(f"{p}: {convert_notebook(p)} glue roles rewritten")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
