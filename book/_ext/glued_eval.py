"""Render ``{eval}`glued["NAME:FORMAT"]``` from the executed notebook's glue outputs, with no kernel.

The chapters quote computed values with ``{eval}`glued["NAME:FORMAT"]``` so that JupyterLab (jupyterlab-myst
evaluates ``{eval}`` in the live kernel) and the book show the same numbers (see
``mtrl_lib/book/inline.py``). myst-nb's own ``eval`` role needs a kernel at build time, which the book does not
have (papermill executes the chapters first; Jupyter Book's execution is off), so this extension replaces it:
the expression must be exactly ``glued["NAME"]`` or ``glued["NAME:FORMAT"]``, and it renders as
``{glue:text}`NAME:FORMAT``` would (same lookup, same formatting, same warning for an unknown name, which
fails the ``-W`` build). Any other ``{eval}`` expression is a build warning.
"""
import re

from myst_nb.ext.glue.roles import PasteTextRole
from myst_nb.ext.utils import RoleBase
from myst_nb.core.variables import create_warning

EVAL_GLUED = re.compile(r"""^\s*glued\[\s*(['"])([^'"]+)\1\s*\]\s*$""")


class GluedEvalRole(RoleBase):
    """``{eval}`glued["NAME:FORMAT"]``` -> the text of ``{glue:text}`NAME:FORMAT``` (no ``:FORMAT``: ``s``)."""

    def __call__(self, name, rawtext, text, lineno, inliner, options=None, content=()):
        self._args = (name, rawtext, lineno, inliner, options, content)
        return super().__call__(name, rawtext, text, lineno, inliner, options, content)

    def run(self):
        m = EVAL_GLUED.match(self.text)
        if not m:
            return [], [create_warning(
                f"the book renders only {{eval}}`glued[\"NAME:FORMAT\"]` (no kernel at build time), got {self.text!r}",
                self.document, self.line, subtype="eval")]
        name, rawtext, lineno, inliner, options, content = self._args
        return PasteTextRole()(name, rawtext, m.group(2), lineno, inliner, options, content)


def _register(app):
    # After every extension's setup (myst-nb registers its kernel-bound eval role there).
    app.add_role("eval", GluedEvalRole(), override=True)


def setup(app):
    app.connect("builder-inited", _register)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
