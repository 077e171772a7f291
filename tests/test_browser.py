"""Every page of the built quick book in headless Chromium (Debian's package, driven by Playwright).

Requests to anything but the local server are aborted, so the test also proves the book works offline.
The static explorers (mtrl_lib/book/widgets.py, book/_static/mtrl-explorer.js) are moved on every chapter page;
a chapter page without one fails until its notebook's explorer takes ``one_of([...])`` controls (the lead's
notebook change)."""
import re
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from mtrl_lib.book.chapters import CHAPTERS, ROOT

HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"

# The fixtures ``server`` (the built book over http://127.0.0.1) and ``browser`` (one Chromium for the session)
# are in conftest.py, shared with tests/test_reader.py.


def pages():
    """Every HTML page but index.html, which only redirects (checked on its own)."""
    return sorted(p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html")
                  if "_static" not in p.parts and "_sources" not in p.parts and p.name != "index.html"
                  or p.parent != HTML and p.name == "index.html")


def test_index_redirects_to_the_intro(built_book):
    target = re.search(r'url=([^"]+)"', (HTML / "index.html").read_text()).group(1)
    assert (HTML / target).exists()


def _visit(browser, base, rel):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    host = urlparse(base).netloc

    def route(r):
        if urlparse(r.request.url).netloc == host:
            r.continue_()
        else:
            errors.append(f"external request: {r.request.url}")
            r.abort()

    page.route("**/*", route)
    page.goto(urljoin(base, rel), wait_until="load")
    # Wait for MathJax to finish typesetting, where the page has it.
    page.evaluate("""() => (window.MathJax && MathJax.startup && MathJax.startup.promise)
                             ? MathJax.startup.promise : null""")
    return page, errors


def test_every_page_renders_offline_without_errors(browser, server):
    rels = pages()
    assert "intro.html" in rels and len(rels) >= len(CHAPTERS) + 2
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    for rel in rels:
        page, errors = _visit(browser, server, rel)
        problems += [f"{rel}: {e}" for e in errors]
        text = page.inner_text("body")
        for bad in ("$$", "\\frac", "\\mathbb", "<Figure size", "Error displaying widget", "<IPython.core"):
            if bad in text:
                problems.append(f"{rel}: visible text contains {bad!r}")
        if "{glue" in text:
            problems.append(f"{rel}: an unresolved glue role is visible")
        for src, w, h in page.eval_on_selector_all(
                "img", "els => els.map(e => [e.getAttribute('src'), e.naturalWidth, e.naturalHeight])"):
            if not (w > 0 and h > 0):
                problems.append(f"{rel}: image {src} has natural size {w}x{h}")
        for empty in page.eval_on_selector_all(".pasted-text", "els => els.filter(e => !e.textContent.trim()).length"), :
            if empty:
                problems.append(f"{rel}: {empty} empty glued values")
        if rel.startswith("chapters/"):
            n_math = page.eval_on_selector_all("mjx-container", "els => els.length")
            if n_math == 0:
                problems.append(f"{rel}: no typeset math (MathJax did not run)")
            page.screenshot(path=str(SHOTS / (Path(rel).stem + ".png")), full_page=False)
        page.close()
    assert not problems, "\n".join(problems)


def test_every_internal_link_resolves(browser, server):
    problems = []
    ids_cache = {}
    for rel in pages():
        page, _ = _visit(browser, server, rel)
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        page.close()
        for href in hrefs:
            u = urlparse(href)
            if u.netloc != urlparse(server).netloc or u.scheme not in ("http", "https"):
                continue
            target = HTML / u.path.lstrip("/")
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{rel}: broken link {href}")
                continue
            if u.fragment and target.suffix == ".html":
                ids = ids_cache.setdefault(target, set(re.findall(r'id="([^"]+)"', target.read_text())))
                if u.fragment not in ids:
                    problems.append(f"{rel}: missing anchor #{u.fragment} in {target.relative_to(HTML)}")
    assert not problems, "\n".join(problems)


def move_every_control(page, shots_prefix: str | None = None) -> list[str]:
    """Move each control of each ``.mtrl-explorer`` on ``page`` (a range input by keyboard, as a reader does;
    a select to each of its options) and return what went wrong: a control that does not change the shown
    figure, an explorer with no control or not exactly one figure shown."""
    problems = []
    roots = page.locator(".mtrl-explorer")

    def shown(root):
        return root.evaluate("r => Array.from(r.querySelectorAll('img')).filter(i => i.offsetParent !== null)"
                             ".map(i => i.src)")

    for i in range(roots.count()):
        root = roots.nth(i)
        root.scroll_into_view_if_needed()
        controls = root.locator("input[type=range], select")
        if controls.count() == 0:
            problems.append(f"explorer {i}: no control")
        for j in range(controls.count()):
            c = controls.nth(j)
            before = shown(root)
            if len(before) != 1:
                problems.append(f"explorer {i}: {len(before)} figures shown")
                continue
            if c.evaluate("e => e.tagName") == "SELECT":
                values = c.evaluate("e => Array.from(e.options).map(o => o.value)")
                start = c.input_value()
                c.select_option(next(v for v in values if v != start))
            else:
                c.focus()
                at_max = c.evaluate("e => Number(e.value) === Number(e.max)")
                page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
            after = shown(root)
            if len(after) != 1 or after == before:
                problems.append(f"explorer {i}, control {j} ({c.get_attribute('name')}): the figure did not change")
        if shots_prefix:
            root.screenshot(path=f"{shots_prefix}_explorer{i}.png")
    return problems


def test_every_chapter_explorer_responds_offline(browser, server):
    """On every chapter page: at least one explorer; each of its controls changes the figure; no console
    error. Needs the lead's notebook change (explorers with one_of([...]) controls) for a chapter to pass."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    chapters = [rel for rel in pages() if rel.startswith("chapters/")]
    assert len(chapters) == len(CHAPTERS)
    for rel in chapters:
        page, errors = _visit(browser, server, rel)
        if page.locator(".mtrl-explorer").count() == 0:
            problems.append(f"{rel}: no .mtrl-explorer (its explorer needs one_of([...]) controls)")
        problems += [f"{rel}: {p}" for p in move_every_control(page, str(SHOTS / Path(rel).stem))]
        problems += [f"{rel}: {e}" for e in errors]
        page.close()
    assert not problems, "\n".join(problems)
