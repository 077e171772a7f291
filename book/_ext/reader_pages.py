"""What a reader meets on every page: figure alt text in words, and no Binder/thebe configuration.

**Alt text.** A notebook's figure output has no alt text of its own, and Sphinx then writes the image's path
(``../_images/18a16b98….png``) as its ``alt``, which a screen reader reads out as a hash. Each image gets the
first sentence of its caption instead (a chapter's figures have captions), or, for an image without one, the
first sentence of the paragraph that follows its cell ("the sentence that reads it"). Math in that text is
written out plainly (``\\operatorname{span}(M)`` -> ``span(M)``).

**No thebe.** Jupyter Book loads sphinx-thebe on every page, which writes a Binder configuration
(``binder-examples/jupyter-stacks-datascience``) and two scripts into every page although the book has no
launch buttons; its handlers are disconnected and its files dropped from the pages.

**Citation lists.** Sphinx writes a bibliography as ``<div role="list">`` around entries with the role
``doc-biblioentry``, which ARIA 1.2 deprecates and which leaves the list without list items (axe-core:
aria-deprecated-role, aria-required-children). The roles are dropped; the entries stay a plain list of blocks
with their labels.
"""
import re

from docutils import nodes

GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "eta": "η",
         "theta": "θ", "kappa": "κ", "lambda": "λ", "mu": "μ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ",
         "phi": "φ", "varphi": "φ", "psi": "ψ", "omega": "ω", "Delta": "Δ", "Sigma": "Σ", "Theta": "Θ"}
SYMBOLS = {"top": "ᵀ", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "approx": "≈", "propto": "∝", "times": "×",
           "cdot": "·", "pm": "±", "infty": "∞", "to": "→", "in": "∈", "ll": "≪", "gg": "≫", "ne": "≠",
           "sim": "~", "ldots": "…", "dots": "…", "|": "‖", ",": " ", ";": " ", "!": "", " ": " "}
FILE_LIKE = re.compile(r"(\.(png|jpe?g|gif|svg|webp)\b)|(_images/)|(^[0-9a-f]{16,})", re.I)


def plain_math(tex: str) -> str:
    """LaTeX as words a screen reader can say: commands to their symbols, braces and markup dropped."""
    out = re.sub(r"\\(operatorname|mathrm|mathbf|mathcal|mathbb|text|textrm|boldsymbol)\s*\{([^{}]*)\}", r"\2", tex)
    out = re.sub(r"\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"(\1)/(\2)", out)
    out = re.sub(r"\\sqrt\s*\{([^{}]*)\}", r"√(\1)", out)
    out = re.sub(r"\\([A-Za-z]+|.)", lambda m: GREEK.get(m.group(1), SYMBOLS.get(m.group(1), m.group(1))), out)
    out = re.sub(r"\\(left|right|big|Big)", "", out)
    out = out.replace("{", "").replace("}", "")
    return re.sub(r"\s+", " ", out).strip()


def words(node: nodes.Node) -> str:
    """A node's text with its math written out (see :func:`plain_math`)."""
    parts = []
    for n in node.findall(lambda x: isinstance(x, (nodes.Text, nodes.math))):
        if isinstance(n, nodes.math):
            parts.append(plain_math(n.astext()))
        elif not any(isinstance(p, nodes.math) for p in _parents(n)):
            parts.append(n.astext())
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def _parents(n):
    p = n.parent
    while p is not None:
        yield p
        p = p.parent


def first_sentence(text: str, limit: int = 300) -> str:
    """The text up to its first full stop (``. `` followed by a capital, a digit or a bracket), at most
    ``limit`` characters (cut at a word)."""
    m = re.search(r"^(.+?[.!?])(\s+(?=[A-Z0-9(\[])|$)", text)
    out = (m.group(1) if m else text).strip()
    if len(out) > limit:
        out = out[:limit].rsplit(" ", 1)[0] + " …"
    return out


def _cell_of(node):
    for p in _parents(node):
        if isinstance(p, nodes.container) and "cell" in p.get("classes", []):
            return p
    return None


def _next_paragraph(node):
    """The first paragraph after ``node`` in document order (outside it)."""
    while node is not None and node.parent is not None:
        parent = node.parent
        for sibling in parent.children[parent.index(node) + 1:]:
            found = next(iter(sibling.findall(nodes.paragraph)), None) if isinstance(sibling, nodes.Element) else None
            if found is not None:
                return found
        node = parent
    return None


def alt_text(image: nodes.image) -> str | None:
    """The alt text for ``image``: its figure's caption, else the paragraph after its cell."""
    figure = next((p for p in _parents(image) if isinstance(p, nodes.figure)), None)
    if figure is not None:
        caption = next(iter(figure.findall(nodes.caption)), None)
        if caption is not None and words(caption):
            return first_sentence(words(caption))
    cell = _cell_of(image) or image
    para = _next_paragraph(cell)
    if para is not None and words(para):
        return "Figure; the text after it reads: " + first_sentence(words(para))
    return None


def set_alt_texts(app, doctree, docname):
    for image in doctree.findall(nodes.image):
        alt = image.get("alt")
        if alt and not FILE_LIKE.search(alt):
            continue
        text = alt_text(image)
        image["alt"] = text or "Figure"


def drop_thebe(app):
    """Disconnect sphinx-thebe's handlers (the Binder configuration and scripts it adds to every page)."""
    for name, listeners in app.events.listeners.items():
        listeners[:] = [ls for ls in listeners if not getattr(ls.handler, "__module__", "").startswith("sphinx_thebe")]


def drop_thebe_files(app, pagename, templatename, context, doctree):
    def keep(f):
        text = f"{getattr(f, 'filename', f) or ''} {getattr(f, 'attributes', {}).get('body', '')}"
        return "thebe" not in text.lower()

    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [f for f in context[key] if keep(f)]


CITATION_ROLES = re.compile(r'(<div) role="list" (class="citation-list">)|\s+role="doc-biblioentry"')


def plain_citation_lists(app, pagename, templatename, context, doctree):
    """Drop the deprecated and unfulfilled ARIA roles of a page's bibliography (see the module docstring)."""
    body = context.get("body")
    if body and "citation-list" in body:
        context["body"] = CITATION_ROLES.sub(lambda m: f"{m.group(1)} {m.group(2)}" if m.group(1) else "", body)


def setup(app):
    app.connect("html-page-context", plain_citation_lists)
    app.connect("builder-inited", drop_thebe)
    app.connect("doctree-resolved", set_alt_texts)
    app.connect("html-page-context", drop_thebe_files, priority=10001)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
