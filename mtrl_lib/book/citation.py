"""The intro's "Cite this book": BibTeX generated from ``CITATION.cff`` when the book is built.

``CITATION.cff`` (Citation File Format 1.2.0, checked by ``cffconvert --validate`` in ``tests/test_citation.py``)
is the one source of truth for how the book is cited; :func:`book_bibtex` turns it into a BibTeX ``@misc`` entry
(its authors, title and version, with the year and commit of the build and, when the build knows its
repository, the repository's URL). The paper's entry is copied verbatim from ``book/references.bib``, the
bibliography every chapter cites from. :func:`write_page` writes both to ``book/_generated/cite.md``, which the
end of ``book/intro.md`` includes.
"""
from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import yaml

from .chapters import ROOT

CFF = ROOT / "CITATION.cff"
BIB = ROOT / "book" / "references.bib"
PAGE = ROOT / "book" / "_generated" / "cite.md"
BOOK_KEY = "mtrl"
PAPER_KEY = "collins2024provable"


def _braced(text: str) -> str:
    return "{" + str(text).replace("{", "").replace("}", "") + "}"


def _person(a: dict) -> str:
    if "name" in a:                                   # an entity: braced, so BibTeX keeps it whole
        return "{" + a["name"] + "}"
    return ", ".join(p for p in (" ".join(filter(None, (a.get("name-particle"), a.get("family-names")))),
                                 a.get("given-names")) if p)


def _commit() -> tuple[str | None, str]:
    """(short commit, year) of the checkout being built; (None, this year) outside git."""
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%h %cs"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10)
        commit, date = out.stdout.split()
        return commit, date[:4]
    except Exception:
        return None, time.strftime("%Y")


def book_bibtex(cff: dict, repo: str | None = None, commit: str | None = None, year: str | None = None) -> str:
    """The book's BibTeX entry from the parsed ``CITATION.cff``."""
    fields = [("author", " and ".join(_person(a) for a in cff["authors"])), ("title", cff["title"])]
    if year:
        fields.append(("year", year))
    if cff.get("version"):
        fields.append(("version", str(cff["version"])))
    if repo:
        fields.append(("url", f"https://github.com/{repo}"))
    if commit:
        fields.append(("note", f"Built from commit {commit}"))
    width = max(len(k) for k, _ in fields)
    body = ",\n".join(f"  {k:<{width}} = {_braced(v) if k != 'author' else '{' + v + '}'}" for k, v in fields)
    return f"@misc{{{BOOK_KEY},\n{body}\n}}"


def bib_entry(key: str, bib: str) -> str:
    """Entry ``key`` of a .bib file's text, verbatim (from its ``@type{key,`` to its closing brace)."""
    m = re.search(r"@\w+\{" + re.escape(key) + r",", bib)
    if not m:
        raise ValueError(f"{BIB.name} has no entry {key!r}")
    depth, i = 0, bib.index("{", m.start())
    for j in range(i, len(bib)):
        depth += {"{": 1, "}": -1}.get(bib[j], 0)
        if depth == 0:
            return bib[m.start():j + 1]
    raise ValueError(f"{BIB.name}: entry {key!r} is not closed")


def render(repo: str | None = None) -> str:
    cff = yaml.safe_load(CFF.read_text())
    commit, year = _commit()
    return "\n".join([
        "Please cite the book (this entry is generated from the repository's `CITATION.cff` when the book is "
        "built), and the paper it reproduces. The code is under the BSD 3-Clause License and the text and figures "
        "under Creative Commons Attribution 4.0 (the repository's `LICENSE`).", "",
        "```bibtex", book_bibtex(cff, repo, commit, year), "```", "",
        "The paper:", "",
        "```bibtex", bib_entry(PAPER_KEY, BIB.read_text()), "```", ""])


def write_page(path: Path = PAGE, repo: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(repo))
    return path
