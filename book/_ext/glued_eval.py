"""Render ``{eval}`glued["NAME:FORMAT"]``` from the executed notebook's glue outputs, with no kernel; and give
every glued number of the book a note saying where it comes from.

The chapters quote computed values with ``{eval}`glued["NAME:FORMAT"]``` so that JupyterLab (jupyterlab-myst
evaluates ``{eval}`` in the live kernel) and the book show the same numbers (see
``mtrl_lib/book/inline.py``). myst-nb's own ``eval`` role needs a kernel at build time, which the book does not
have (papermill executes the chapters first; Jupyter Book's execution is off), so this extension replaces it:
the expression must be exactly ``glued["NAME"]`` or ``glued["NAME:FORMAT"]``, and it renders as
``{glue:text}`NAME:FORMAT``` would (same lookup, same formatting, same warning for an unknown name, which
fails the ``-W`` build). Any other ``{eval}`` expression is a build warning.

**Where a number comes from.** Every glued value, a chapter's ``{eval}`` role or another page's
``{glue:text}`chapters/NAME.ipynb::KEY``` paste, is wrapped in a ``span.mtrl-glued`` that is focusable and
described (``aria-describedby``) by a note: what the value is, the profile and commit its chapter was computed
at, and the commands that recompute and audit it (:mod:`mtrl_lib.book.glued_notes`, from the chapter's
``book/chapters/NAME.json`` and ``NAME.provenance.json``). The notes of a page sit, hidden, at its end;
``book/_static/mtrl-book.js`` shows a value's note beside it on hover and on keyboard focus (Escape hides it).
A mean whose chapter glued ``NAME_capped`` reads ``≥ X (every seed at the cap)`` instead of ``X ± 0``.
"""
import json
import re
from functools import lru_cache
from pathlib import Path

from docutils import nodes
from myst_nb.core.variables import create_warning
from myst_nb.ext.glue.roles import PasteTextRole
from myst_nb.ext.glue.utils import PendingGlueReference
from myst_nb.ext.utils import RoleBase
from sphinx.transforms.post_transforms import SphinxPostTransform

EVAL_GLUED = re.compile(r"""^\s*glued\[\s*(['"])([^'"]+)\1\s*\]\s*$""")


class glued_value(nodes.inline):
    """A glued value's text (its children) with ``glue_key`` and ``glue_doc``; ``note_id`` once described."""


def split_reference(ref: str, docname: str) -> tuple[str, str]:
    """``"path::name:fmt"`` or ``"name:fmt"`` -> ``(doc, name)``: the page that glued it, and its name."""
    doc, sep, rest = ref.partition("::")
    if not sep:
        doc, rest = docname, ref
    name = rest.split(":", 1)[0].strip()
    return re.sub(r"\.ipynb$", "", doc.strip()), name


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
        out, messages = PasteTextRole()(name, rawtext, m.group(2), lineno, inliner, options, content)
        if out:
            doc, key = split_reference(m.group(2), self.document.settings.env.docname)
            wrapper = glued_value("", "", *out, classes=["mtrl-glued"])
            wrapper["glue_key"], wrapper["glue_doc"] = key, doc
            out = [wrapper]
        return out, messages


class WrapPendingGlue(SphinxPostTransform):
    """Before myst-nb resolves another page's ``{glue:text}`` paste (priority 5), wrap it, so that the value
    it becomes keeps its name and page."""

    default_priority = 4

    def apply(self, **kwargs):
        for node in list(self.document.findall(PendingGlueReference)):
            if isinstance(node.parent, glued_value):
                continue
            wrapper = glued_value("", "", classes=["mtrl-glued"])
            wrapper["glue_key"], wrapper["glue_doc"] = node.key, re.sub(r"\.ipynb$", "", node.refdoc)
            node.replace_self(wrapper)
            wrapper += node


@lru_cache(maxsize=32)
def _chapter_data(folder: str, chapter: str, stamp: float):
    """A chapter's glued values, provenance record, parameter meanings and GLUE_NOTES (None if not a chapter)."""
    from mtrl_lib.book.chapters import get_chapter
    from mtrl_lib.book.glued_notes import chapter_notes

    try:
        c = get_chapter(chapter)
    except ValueError:
        return None
    base = Path(folder)
    try:
        glued = json.loads((base / f"{chapter}.json").read_text())
        prov = json.loads((base / f"{chapter}.provenance.json").read_text())
    except (OSError, ValueError):
        return None
    return glued, prov, c.meanings(), chapter_notes(c.module)


def chapter_data(srcdir: Path, chapter: str):
    folder = srcdir / "chapters"
    f = folder / f"{chapter}.json"
    return _chapter_data(str(folder), chapter, f.stat().st_mtime if f.exists() else 0.0)


class GluedNotes(SphinxPostTransform):
    """After every paste is resolved: describe each glued value, rewrite capped means, and put the page's notes
    (one per value named) at its end."""

    default_priority = 900
    builders = ("html", "dirhtml", "singlehtml")

    def apply(self, **kwargs):
        from mtrl_lib.book.glued_notes import capped_text, describe, note_html, reader_words

        srcdir = Path(self.env.srcdir)
        notes = {}
        for node in list(self.document.findall(glued_value)):
            chapter = Path(node["glue_doc"]).name
            data = chapter_data(srcdir, chapter)
            if data is None or node.parent is None or not any(c is node for c in node.parent.children):
                continue                                     # not a chapter's value, or removed (a capped ± Y)
            glued, prov, meanings, chapter_map = data
            key = node["glue_key"]
            if key not in glued:
                continue
            params = prov.get("parameters", {})
            if isinstance(glued[key], str):                  # a computed phrase: in the reader's words
                inner = node.next_node(nodes.inline, include_self=False) or node
                text = inner.astext()
                if reader_words(text) != text:
                    inner.children = [nodes.Text(reader_words(text))]
            self._capped(node, key, glued, params, capped_text)
            what, _ = describe(key, glued, params, meanings, chapter_map)
            note_id = "mtrl-note-" + re.sub(r"[^A-Za-z0-9_-]", "-", f"{chapter}-{key}")
            node["note_id"] = note_id
            if note_id not in notes:
                notes[note_id] = note_html(key, chapter, what, glued[key], prov.get("profile"),
                                           prov.get("git_commit"))
        if notes:
            body = "".join(f'<span id="{i}" class="mtrl-note">{h}</span>' for i, h in notes.items())
            self.document += nodes.raw("", f'<div class="mtrl-notes" hidden>{body}</div>', format="html")

    @staticmethod
    def _capped(node, key, glued, params, capped_text):
        """``X ± Y`` (Y the paste of ``KEY_ci``) -> the capped text, when the chapter glued ``KEY_capped``."""
        parent = node.parent
        i = next(j for j, c in enumerate(parent.children) if c is node)
        ci = None
        if (i + 2 < len(parent) and isinstance(parent[i + 1], nodes.Text) and parent[i + 1].astext() == " ± "
                and isinstance(parent[i + 2], glued_value) and parent[i + 2]["glue_key"] == key + "_ci"):
            ci = parent[i + 2]
        text = capped_text(key, node.astext(), ci.astext() if ci else None, glued, params)
        if text is None:
            return
        inner = node.next_node(nodes.inline, include_self=False) or node
        inner.children = [nodes.Text(text)]
        if ci is not None:        # by position: a Text node equals any other " ± " of the paragraph
            del parent.children[i + 1:i + 3]


def visit_glued_value_html(self, node):
    note = node.get("note_id")
    attrs = f' tabindex="0" aria-describedby="{note}" data-mtrl-note="{note}"' if note else ""
    self.body.append(f'<span class="mtrl-glued"{attrs}>')


def depart_glued_value_html(self, node):
    self.body.append("</span>")


def _pass(self, node):
    pass


def _register(app):
    # After every extension's setup (myst-nb registers its kernel-bound eval role there).
    app.add_role("eval", GluedEvalRole(), override=True)


def setup(app):
    app.add_node(glued_value, html=(visit_glued_value_html, depart_glued_value_html),
                 latex=(_pass, _pass), text=(_pass, _pass), man=(_pass, _pass), texinfo=(_pass, _pass))
    app.add_post_transform(WrapPendingGlue)
    app.add_post_transform(GluedNotes)
    app.connect("builder-inited", _register)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
