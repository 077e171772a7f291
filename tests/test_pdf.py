"""make pdf (mtrl_lib/book/pdf.py): the built quick book printed to one PDF by Debian's Chromium, read back with
pdftotext and pdftoppm (Debian's poppler-utils, installed by make browser-deps). The PDF is printed once per
session, from the session's built book."""
import json
import re
import shutil
import subprocess
import sys

import pytest

from mtrl_lib.book.chapters import CHAPTERS, ROOT

HTML = ROOT / "_build" / "html"
PDF = ROOT / "_build" / "pdf" / "book.pdf"
EXECUTED = ROOT / "book" / "chapters"
EVAL = re.compile(r"\{eval\}`glued\[\s*(['\"])([^'\"]+)\1\s*\]`")

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed: make browser-deps (apt-get install poppler-utils)")
    return path


def pdf_text(path) -> str:
    out = subprocess.run([poppler("pdftotext"), "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def squeeze(text: str) -> str:
    """Text without whitespace, hyphen breaks or typographic variants, for matching across pdftotext's lines."""
    text = text.replace("\u2212", "-").replace("\u00a0", " ").replace("\ufb01", "fi").replace("\ufb02", "fl")
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def built_pdf(built_book):
    """``python -m mtrl_lib.book.pdf``, as ``make pdf`` runs it after ``make book``."""
    out = subprocess.run([sys.executable, "-m", "mtrl_lib.book.pdf"], cwd=ROOT, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "refused" not in out.stdout, out.stdout            # no request left the machine
    return pdf_text(PDF)


def _title(name: str) -> str:
    page = (HTML / "chapters" / f"{name}.html").read_text()
    article = page[page.index("<article"):]
    h1 = re.search(r"<h1[^>]*>(.*?)</h1>", article, re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", " ", h1).replace("#", " ").split())


def _glued(name: str) -> dict:
    return json.loads((EXECUTED / f"{name}.json").read_text())


def test_every_chapter_is_in_the_pdf_with_its_number_title_and_verdict(built_pdf):
    text = squeeze(built_pdf)
    for i, c in enumerate(CHAPTERS, start=1):
        title = _title(c.name)
        assert title.startswith(f"{i}."), f"{c.name}: the HTML title {title!r} has no chapter number"
        assert squeeze(title) in text, f"{c.name}: title {title!r} not in the PDF"
        verdicts = [v for k, v in _glued(c.name).items() if k.endswith("_verdict") and isinstance(v, str)]
        assert verdicts, c.name
        for v in verdicts:
            assert squeeze(v) in text, f"{c.name}: verdict {v!r} not in the PDF"
    for page in ("Reproducing this book", "References"):
        assert squeeze(page) in text


def test_the_glued_numbers_of_chapter_one_are_in_the_pdf(built_pdf):
    """Every {eval} role of chapter 1's prose, formatted as the book formats it, appears in the PDF."""
    from mtrl_lib.book.chapters import get_chapter

    name = "01_pseudo_contrastive"
    glued = _glued(name)
    cells = json.loads(get_chapter(name).notebook.read_text())["cells"]
    prose = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    text = squeeze(built_pdf)
    checked = 0
    for _, spec in EVAL.findall(prose):
        key, _, fmt = spec.partition(":")
        value = glued[key]
        shown = format(value, fmt) if fmt and not isinstance(value, str) else str(value)
        assert squeeze(shown) in text, f"{key} shown as {shown!r} is not in the PDF"
        checked += 1
    assert checked >= 10


def test_folded_code_stays_folded_and_explorers_print_with_a_caption(built_pdf):
    """A plotting cell (tagged hide-input) is not printed; every explorer is, with its caption."""
    nb = json.loads(CHAPTERS[1].notebook.read_text())
    hidden = [("".join(c["source"])).strip().splitlines()
              for c in nb["cells"] if c["cell_type"] == "code" and "hide-input" in c["metadata"].get("tags", [])]
    lines = [ln for cell in hidden for ln in cell if len(ln.strip()) > 25 and not ln.strip().startswith("#")]
    assert lines
    text = squeeze(built_pdf)
    assert not [ln for ln in lines if squeeze(ln) in text]
    n_explorers = sum((HTML / "chapters" / f"{c.name}.html").read_text().count('class="mtrl-explorer"')
                      for c in CHAPTERS)
    assert n_explorers >= len(CHAPTERS)
    assert text.count(squeeze("Explorer, printed at the setting it shows")) == n_explorers


def _mean_grey(pdf, page: int) -> float:
    out = subprocess.run([poppler("pdftoppm"), "-f", str(page), "-l", str(page), "-r", "20", "-gray", str(pdf)],
                         capture_output=True, timeout=120)
    assert out.returncode == 0
    data = out.stdout
    header_end = [m.end() for m in re.finditer(rb"\s", data)][3]   # P5 W H MAX, then the pixels
    pixels = data[header_end:]
    return sum(pixels) / len(pixels) / 255


def test_the_pdf_is_light_even_when_the_screen_is_dark(built_book, tmp_path):
    from mtrl_lib.book.pdf import build_pdf

    out = build_pdf(HTML, tmp_path / "intro.pdf", pages=["intro"], screen_mode="dark", log=lambda s: None)
    assert _mean_grey(out, 2) > 0.85          # page 1 is the title page; page 2 the intro, on white paper
