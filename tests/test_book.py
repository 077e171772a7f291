"""The whole quick book: executes every chapter, builds HTML, skips unchanged chapters on a rebuild (the session's
one quick book and one rebuild, tests/conftest.py)."""
import re

from mtrl_lib.book.chapters import CHAPTERS, ROOT

HTML = ROOT / "_build" / "html"


def test_book_has_every_chapter_with_figures_and_glued_numbers(built_book):
    assert (HTML / "index.html").exists()
    for c in CHAPTERS:
        page = (HTML / "chapters" / f"{c.name}.html").read_text()
        assert "<img" in page, c.name
        assert "&lt;Figure size" not in page and "<Figure size" not in page
        assert "injected-parameters" not in page
        assert 'class="pasted-text"' in page, "glued numbers missing"
    page = (HTML / "chapters" / "01_pseudo_contrastive.html").read_text()
    # the gradient check's relative error is glued into the table as e.g. 1.6e-15
    assert re.search(r'pasted-text">\d\.\de-1\d<', page)


def test_rebuild_skips_unchanged_chapters(rebuilt_book):
    """The second build after a --jobs 2 build executes nothing: the cache is valid after a parallel build."""
    out = rebuilt_book
    for c in CHAPTERS:
        assert f"cached   {c.name}" in out.stdout
