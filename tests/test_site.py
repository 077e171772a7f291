"""make site (mtrl_lib/book/site.py): the paper-scale book at the root of _build/site/, its PDF, the quick book
under quick/, each page linking to the same page in the other book and, built with GITHUB_REPOSITORY, to the
repository, its issues, each chapter's source notebook and Colab notebook.

The site is built once per session (``built_site``), after the session's quick book, whose executed chapters it
reuses; its paper book reads the published store. The refusal path runs against small fake stores."""
import functools
import http.server
import json
import re
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from mtrl_lib.book import repository as R
from mtrl_lib.book.chapters import CHAPTERS, ROOT

SITE = ROOT / "_build" / "site"
EXECUTED = ROOT / "book" / "chapters"
REPO = "octo-org/mtrl-book"


def git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True,
                          text=True).stdout


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()} \
        if folder.exists() else {}


def run_site(*args, repo: str | None = REPO, timeout=2400) -> subprocess.CompletedProcess:
    import os

    env = {k: v for k, v in os.environ.items() if k != "GITHUB_REPOSITORY"}
    if repo:
        env["GITHUB_REPOSITORY"] = repo
    return subprocess.run([sys.executable, "-m", "mtrl_lib.book.site", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_the_site_refuses_in_one_line_when_the_published_store_lacks_units(tmp_path, kernel):
    """A store with one unit of chapter 1 removed: make site computes nothing, names the chapter with its count in
    one line, says to run make publish, and leaves _build/site, book/chapters and every tracked file as they were.
    (One chapter only, to stop sooner; the command line runs every chapter, as the next test checks.)"""
    from mtrl_lib.book.site import SiteFailed, build_site

    store = tmp_path / "paper-results"
    published = ROOT / "published" / "paper-results"
    fn = "mtrl_lib.experiments.pseudo_contrastive:"
    entries = [p for p in published.rglob("*.json") if json.loads(p.read_text()).get("fn", "").startswith(fn)]
    assert entries, "the published store has no unit of chapter 1"
    for p in entries[1:]:                       # all but one
        (store / p.relative_to(published)).parent.mkdir(parents=True, exist_ok=True)
        (store / p.relative_to(published)).write_bytes(p.read_bytes())
    before, site, executed = git_status(), _snapshot(SITE), _snapshot(EXECUTED)
    written = _snapshot(store)
    lines = []
    with pytest.raises(SiteFailed) as e:
        build_site(1, store, log=lines.append, chapters=CHAPTERS[:1])
    line = str(e.value)
    assert "\n" not in line and line.startswith("make site:"), line
    assert "01_pseudo_contrastive (1 of the" in line and "run make publish" in line and "computes none" in line
    assert not [ln for ln in lines if "FAILED" in ln]
    assert _snapshot(store) == written, "make site wrote into the published store"
    assert git_status() == before and _snapshot(SITE) == site and _snapshot(EXECUTED) == executed


def test_the_command_line_exits_1_with_one_line_naming_every_chapter_and_the_count():
    """The line as the command prints it, from the outcomes of a paper build on a store that lacks units."""
    from mtrl_lib.book.runner import Outcome
    from mtrl_lib.book.site import refusal

    msgs = [Outcome(c.name, "failed", 1.0, f"chapter {c.name} failed in cell 3 of x (starting `r = 1`): MissingUnits: "
                    f"{n} of the {n} units of this step are not in the store /s, and this run computes none")
            for c, n in zip(CHAPTERS, range(1, 9))]
    line = refusal(msgs, Path("/tmp/store"))
    assert line.count("\n") == 0
    for c, n in zip(CHAPTERS, range(1, 9)):
        assert f"{c.name} ({n} of the {n} units" in line


def test_the_site_refuses_in_one_line_a_paper_scale_page_that_would_show_not_computed(tmp_path, monkeypatch):
    """published/paper-scale.json older than the intro (a value the page quotes is missing): make site stops with
    one line naming it and saying to run make publish, before writing a page, and leaves _build/site,
    book/chapters and every tracked file as they were. (The chapters' execution is skipped: it is not what is
    checked here.)"""
    from mtrl_lib.book import paper_scale as ps
    from mtrl_lib.book import site as S

    data = json.loads((ROOT / "published" / "paper-scale.json").read_text())
    glued = data["chapters"]["02_subspace_recovery"]["glued"]
    dropped = next(m.group(2) for m in ps.GLUE_REF.finditer(ps.INTRO.read_text())
                   if m.group(1) == "02_subspace_recovery" and m.group(2) in glued)
    del glued[dropped]
    (tmp_path / "paper-scale.json").write_text(json.dumps(data))
    monkeypatch.setattr(ps, "PUBLISHED", tmp_path / "paper-scale.json")
    monkeypatch.setattr(S, "_execute", lambda *a, **k: None)
    page = ps.PAGE.read_text() if ps.PAGE.exists() else None
    before, site, executed = git_status(), _snapshot(SITE), _snapshot(EXECUTED)
    with pytest.raises(S.SiteFailed) as e:
        S.build_site(1, log=lambda line: None, chapters=CHAPTERS[:1])
    line = str(e.value)
    assert "\n" not in line and line.startswith("make site:") and line.endswith("run make publish"), line
    assert f"02_subspace_recovery:{dropped}" in line and "not computed" in line
    assert git_status() == before and _snapshot(SITE) == site and _snapshot(EXECUTED) == executed
    assert (ps.PAGE.read_text() if ps.PAGE.exists() else None) == page


def test_a_refusal_names_each_chapter_and_its_count():
    from mtrl_lib.book.runner import Outcome
    from mtrl_lib.book.site import refusal

    msg = ("chapter 05_head_adaptation failed in cell 7 of notebooks/05_head_adaptation.ipynb (starting `r = x`): "
           "MissingUnits: 12 of the 340 units of this step are not in the store /s, and this run computes none")
    outcomes = [Outcome("01_pseudo_contrastive", "executed", 1.0), Outcome("05_head_adaptation", "failed", 1.0, msg),
                Outcome("06_baselines_and_rates", "failed", 1.0, "chapter 06 failed: ValueError: x")]
    line = refusal(outcomes, ROOT / "published" / "paper-results")
    assert line.count("\n") == 0 and "05_head_adaptation (12 of the 340 units" in line and "06_" not in line
    assert "published/paper-results/" in line and "run make publish" in line
    assert refusal(outcomes[:1], ROOT) is None


@pytest.fixture(scope="module")
def built_site(built_book):
    before = git_status()
    out = run_site("--jobs", "2")
    refused = [ln for ln in out.stderr.splitlines() if ln.startswith("make site:") and "make publish" in ln]
    if refused:        # not this code's failure: the published store is behind the science source
        pytest.fail(f"the published store must be current for the site (make publish): {refused[0]}")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert git_status() == before, "make site changed a tracked file"
    assert "repository links: https://github.com/" + REPO in out.stdout
    return out


def _pages(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html")
                  if not {"_static", "_sources", "quick"} & set(p.relative_to(root).parts[:-1])
                  and p.name not in ("index.html", "genindex.html", "search.html"))


@pytest.mark.slow
def test_the_site_has_the_paper_book_its_pdf_and_the_quick_book(built_site):
    assert (SITE / "index.html").exists() and (SITE / "quick" / "index.html").exists()
    assert (SITE / "book.pdf").stat().st_size > 100_000
    paper, quick = (SITE / "provenance.html").read_text(), (SITE / "quick" / "provenance.html").read_text()
    assert "<code class=\"docutils literal notranslate\"><span class=\"pre\">paper</span></code>" in paper
    assert "<span class=\"pre\">quick</span>" in quick and "<span class=\"pre\">paper</span></code> |" not in quick
    # the paper book's verdicts are the published ones
    published = json.loads((ROOT / "published" / "paper-scale.json").read_text())["chapters"]
    for c in CHAPTERS:
        page = re.sub(r"<[^>]+>", "", (SITE / "chapters" / f"{c.name}.html").read_text())
        page = page.replace("\u2019", "'").replace("\u2018", "'")      # the book sets apostrophes typographically
        for k, v in published[c.name]["glued"].items():
            if k.endswith("_verdict"):
                assert v in page, f"{c.name}: published verdict {v!r} not on the paper-scale page"


@pytest.mark.slow
def test_every_page_links_to_the_same_page_in_the_other_book(built_site):
    for root, other in ((SITE, SITE / "quick"), (SITE / "quick", SITE)):
        pages = _pages(root)
        assert {f"chapters/{c.name}.html" for c in CHAPTERS} <= set(pages)
        for rel in pages:
            html = (root / rel).read_text()
            m = re.search(r'<a class="mtrl-profile-link" href="([^"]+)"', html)
            assert m, f"{root.name}/{rel}: no link to the other book"
            target = ((root / rel).parent / m.group(1)).resolve()
            assert target == (other / rel).resolve() and target.exists(), f"{rel}: {m.group(1)}"
        pdf = re.search(r'href="([^"]*book\.pdf)"', (root / "intro.html").read_text())
        assert pdf and ((root / pdf.group(1)).resolve() == (SITE / "book.pdf").resolve())


@pytest.mark.slow
def test_built_with_a_repository_every_page_and_chapter_links_to_the_code(built_site):
    for root in (SITE, SITE / "quick"):
        for rel in _pages(root):
            html = (root / rel).read_text()
            assert f'href="https://github.com/{REPO}"' in html, f"{rel}: no repository button"
            assert f"https://github.com/{REPO}/issues/new" in html, f"{rel}: no issue button"
        for c in CHAPTERS:
            html = (root / "chapters" / f"{c.name}.html").read_text()
            assert f'href="{R.colab_url(REPO, c.name)}"' in html and ">Open in Colab<" in html
            assert f'href="{R.notebook_url(REPO, c.name)}"' in html and ">Source notebook<" in html
            # never Jupyter Book's own launch button, which points at the generated book/chapters/
            assert "book/chapters/" not in html and "colab.research.google.com/github/" + REPO + "/blob/main" not in html
    get = (SITE / "reproducing.html").read_text()
    assert f"git clone https://github.com/{REPO}.git" in re.sub(r"<[^>]+>", "", get)


@pytest.mark.slow
def test_no_page_of_either_book_shows_a_value_as_not_computed(built_site):
    """The published paper-scale.json is as new as the intro and the chapters: no page says "(not computed)"."""
    from mtrl_lib.book.paper_scale import NOT_COMPUTED

    found = [p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html")
             if "_static" not in p.parts and NOT_COMPUTED in re.sub(r"<[^>]+>", "", p.read_text())]
    assert not found, f"{NOT_COMPUTED} on: {', '.join(found)}"


@pytest.mark.slow
def test_the_site_pdf_holds_every_paper_verdict(built_site):
    from test_pdf import pdf_text, squeeze

    text = squeeze(pdf_text(SITE / "book.pdf"))
    published = json.loads((ROOT / "published" / "paper-scale.json").read_text())["chapters"]
    for c in CHAPTERS:
        for k, v in published[c.name]["glued"].items():
            if k.endswith("_verdict"):
                assert squeeze(v) in text, f"{c.name}: {v!r}"


@pytest.fixture(scope="module")
def site_server(built_site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(SITE)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.mark.slow
@pytest.mark.browser
def test_both_books_render_offline_and_every_internal_link_resolves(site_server, browser):
    """Both books on the session's Chromium (tests/conftest.py: one Playwright per process)."""
    host = urlparse(site_server).netloc
    pages = _pages(SITE) + ["quick/" + p for p in _pages(SITE / "quick")]
    problems = []
    for rel in pages:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors = []
        page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))

        def route(r, errors=errors):
            if urlparse(r.request.url).netloc == host:
                r.continue_()
            else:
                errors.append(f"external request: {r.request.url}")
                r.abort()

        page.route("**/*", route)
        page.goto(urljoin(site_server, rel), wait_until="load")
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        problems += [f"{rel}: {e}" for e in errors]
        for href in hrefs:
            u = urlparse(href)
            if u.netloc != host:
                continue
            target = SITE / u.path.lstrip("/")
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{rel}: broken link {href}")
        page.close()
    assert not problems, "\n".join(problems[:40])
