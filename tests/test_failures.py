"""A chapter that fails during `book`: named with its cell and error, exit 1, previous HTML and results kept.

The failing chapter is a broken copy of chapter 1 in a copy of the tree (:func:`conftest.book_copy`, which carries
the session's executed chapters and their cache): the tracked notebook is never rewritten."""
import json
import os
import subprocess
import sys

import nbformat

from mtrl_lib.book.chapters import ROOT, get_chapter

from conftest import run_in_copy


def test_failing_chapter_is_named_and_keeps_previous_book(book_copy, kernel):
    tree, name = book_copy, "01_pseudo_contrastive"
    tracked = get_chapter(name).notebook.read_bytes()
    notebook = tree / "notebooks" / f"{name}.ipynb"
    html = tree / "_build" / "html"
    kept = [html / "index.html", html / "chapters" / f"{name}.html", tree / "book" / "chapters" / f"{name}.ipynb",
            tree / "book" / "chapters" / f"{name}.json"]
    before = {p: p.read_bytes() for p in kept}
    source = notebook.read_bytes()
    nb = nbformat.reads(source.decode(), as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])) + 1
    bad = nbformat.v4.new_code_cell('raise RuntimeError("deliberate failure for the test")')
    bad["id"] = "deliberate-failure"
    nb.cells.insert(at, bad)
    try:
        nbformat.write(nb, notebook)
        out = run_in_copy(tree, "book")
    finally:
        notebook.write_bytes(source)
    assert get_chapter(name).notebook.read_bytes() == tracked            # the tracked notebook was never touched
    assert "cached   02_subspace_recovery" in out.stdout                  # the copy kept the session's cache
    assert out.returncode == 1
    msg = out.stdout + out.stderr
    assert f"chapter 01_pseudo_contrastive failed in cell {at}" in msg
    assert "RuntimeError: deliberate failure for the test" in msg
    assert "_build/html is unchanged" in msg
    assert "Traceback" not in msg
    for p, data in before.items():
        assert p.read_bytes() == data, f"{p} was overwritten by a failed build"
    # Restored: the next build recognises the chapter as unchanged and would not execute it again (asked of the
    # runner's own cache check in the copy; tests/test_book.py pays for a full cached rebuild once).
    code = f"from mtrl_lib.book.runner import _up_to_date; print(_up_to_date({name!r}, 'quick')[0])"
    again = subprocess.run([sys.executable, "-c", code], cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
                           capture_output=True, text=True, timeout=300)
    assert again.stdout.strip() == "True", again.stdout + again.stderr


def test_book_rejects_bad_jobs_with_exit_2():
    out = subprocess.run([sys.executable, "-m", "mtrl_lib", "book", "--jobs", "0"], cwd=ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 2
    assert out.stderr.strip() == "error: --jobs must be an integer >= 1, got 0"


def test_provenance_records_and_page(built_book):
    page = (ROOT / "_build" / "html" / "provenance.html").read_text()
    from mtrl_lib.book.chapters import CHAPTERS

    for c in CHAPTERS:
        rec = json.loads((ROOT / "book" / "chapters" / f"{c.name}.provenance.json").read_text())
        assert rec["chapter"] == c.name and rec["profile"] == "quick"
        assert set(rec["software"]) >= {"python", "torch", "numpy", "mtrl_lib"}
        assert rec["wall_time_s"] > 0 and rec["git_commit"]
        assert c.name in page
    assert "Not executed yet" not in page


def test_no_progress_bar_debris_in_pages(built_book):
    import re

    for f in (ROOT / "_build" / "html" / "chapters").glob("*.html"):
        text = f.read_text()
        assert not re.search(r"\d+%\|", text) and "it/s]" not in text, f.name


def test_provenance_credits_the_commit_given_at_the_start():
    from mtrl_lib.book.provenance import git_commit, record

    assert record("c", "quick", {}, 1.0, commit="abc123")["git_commit"] == "abc123"
    assert record("c", "quick", {}, 1.0)["git_commit"] == git_commit()
