"""``make pdf``: the whole built book as one PDF, printed by Chromium from its HTML (no TeX).

``python -m mtrl_lib.book.pdf [--html DIR] [--out FILE]`` serves the built HTML (default ``_build/html``) on a
local port, opens its first page in headless Chromium (Debian's package, driven by Playwright, which never
downloads a browser; any request that would leave the machine is refused), gathers every page of the table of
contents into it in order (each page's article, its links made to point inside the PDF and its ids made unique),
typesets the math once with the book's own MathJax, and prints it with the print stylesheet
``book/_static/mtrl-print.css``:

* a title page with the profile, the commit and a linked list of contents; each page starts on a new sheet;
* chapter, figure and equation numbers as the HTML numbers them; folded code stays folded (the page keeps only
  the code a reader is shown); sidebars, header buttons and explorer controls are left out;
* each explorer printed as the figure it shows first, with a caption naming that setting
  (``book/_static/mtrl-print.js`` writes it; the browser's own printing uses the same script);
* light colours, whatever the screen mode of the machine that prints.

The headings give the PDF its outline (bookmarks). Writes ``_build/pdf/book.pdf`` by default.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import yaml

from .chapters import CHAPTERS, ROOT

HTML = ROOT / "_build" / "html"
OUT = ROOT / "_build" / "pdf" / "book.pdf"
TOC = ROOT / "book" / "_toc.yml"
CONFIG = ROOT / "_config.yml"
EXECUTED = ROOT / "book" / "chapters"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class PdfFailed(RuntimeError):
    """The PDF could not be written (one line)."""


def chromium() -> str:
    """Debian's Chromium (``make browser-deps`` installs it); on GitHub's Ubuntu runners, the Chromium or Google
    Chrome that their image puts on the PATH."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise PdfFailed("Chromium is not installed: make browser-deps (apt-get install chromium)")


def toc_pages(toc: Path = TOC) -> list[str]:
    """The book's pages in reading order, as page names (``intro``, ``chapters/01_pseudo_contrastive``, ...)."""
    data = yaml.safe_load(toc.read_text())
    pages = [data["root"]]
    for part in data.get("parts", []):
        pages += [c["file"] for c in part.get("chapters", [])]
    return pages


def _profile(executed: Path = EXECUTED) -> str | None:
    for c in CHAPTERS:
        f = executed / f"{c.name}.provenance.json"
        if f.exists():
            return json.loads(f.read_text()).get("profile")
    return None


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except Exception:
        return ""


@functools.cache
def _serve(root: str) -> str:
    """A quiet local HTTP server on ``root`` (for the life of the process); its base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=root))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}/"


# Runs in the page (the book's first page, already loaded with its styles and MathJax): replaces its article by
# every page's article, in order, with ids prefixed by the page and links turned into links inside the document.
GATHER = r"""
async ({pages, cover}) => {
  const base = new URL('.', location.href);
  const pid = p => 'mtrl-page-' + p.replace(/[^A-Za-z0-9]+/g, '-');
  const pageOf = href => {
    const u = new URL(href, base);
    if (u.origin !== base.origin) return null;
    let path = u.pathname.slice(base.pathname.length).replace(/\.html$/, '');
    if (path === '' || path === 'index') path = pages[0];
    return pages.includes(path) ? {page: path, frag: decodeURIComponent(u.hash.slice(1))} : {page: null};
  };
  const sections = [];
  for (const p of pages) {
    const url = new URL(p + '.html', base);
    const res = await fetch(url);
    if (!res.ok) throw new Error('missing page ' + url.pathname);
    const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
    const art = doc.querySelector('article.bd-article');
    if (!art) throw new Error('no article in ' + url.pathname);
    for (const el of art.querySelectorAll('[src]')) el.setAttribute('src', new URL(el.getAttribute('src'), url).href);
    for (const el of art.querySelectorAll('a[href]')) {
      const raw = el.getAttribute('href');
      if (raw.startsWith('#')) { el.setAttribute('href', '#' + pid(p) + '--' + decodeURIComponent(raw.slice(1))); continue; }
      const target = pageOf(new URL(raw, url).href);
      if (target === null) continue;                               // another site: kept as is
      if (target.page === null) { el.removeAttribute('href'); continue; }   // not in the book: plain text
      el.setAttribute('href', '#' + pid(target.page) + (target.frag ? '--' + target.frag : ''));
    }
    for (const el of art.querySelectorAll('[id]')) el.id = pid(p) + '--' + el.id;
    const section = document.createElement('section');
    section.className = 'mtrl-print-page';
    section.id = pid(p);
    section.dataset.page = p;
    for (const node of Array.from(art.childNodes)) section.appendChild(document.importNode(node, true));
    sections.push(section);
  }
  const front = document.createElement('section');
  front.className = 'mtrl-print-cover';
  front.innerHTML = cover;
  const list = document.createElement('ul');
  list.className = 'mtrl-print-contents';
  for (const s of sections) {
    const h = s.querySelector('h1');
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = '#' + s.id;
    a.textContent = h ? h.textContent.replace(/#$/, '').trim() : s.dataset.page;
    li.appendChild(a);
    list.appendChild(li);
  }
  front.appendChild(list);
  const article = document.querySelector('article.bd-article');
  article.replaceChildren(front, ...sections);
  document.documentElement.dataset.theme = 'light';
  document.documentElement.dataset.mode = 'light';
  document.documentElement.classList.add('mtrl-pdf');
  if (window.mtrlPreparePrint) window.mtrlPreparePrint();
  if (window.MathJax && MathJax.typesetPromise) {
    if (MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
    if (MathJax.typesetClear) MathJax.typesetClear();
    await MathJax.typesetPromise();
  }
  await Promise.all(Array.from(document.images).map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  return sections.length;
}
"""


def _cover(title: str, profile: str | None, commit: str, repo: str | None) -> str:
    import html

    from .repository import repo_url

    lines = [f"<h1 class='mtrl-print-title'>{html.escape(title)}</h1>", "<p>The mtrl authors</p>"]
    what = {"quick": "the quick profile (the small runs of the online quick book)",
            "paper": "the paper profile (the paper-scale runs, read from the published results)"}.get(profile or "")
    if what:
        lines.append(f"<p>Every number in this PDF was computed at {html.escape(what)}.</p>")
    meta = [f"printed {time.strftime('%Y-%m-%d')}"] + ([f"commit {html.escape(commit)}"] if commit else [])
    lines.append(f"<p>{', '.join(meta)}</p>")
    if repo:
        lines.append(f"<p>Code and notebooks: <a href='{repo_url(repo)}'>{repo_url(repo)}</a></p>")
    lines.append("<p>Code: BSD 3-Clause License. Text and figures: Creative Commons Attribution 4.0 (CC BY 4.0).</p>")
    lines.append("<h2>Contents</h2>")
    return "\n".join(lines)


def _in_own_thread(fn):
    """``fn()`` in a thread of its own, its result or its exception passed back: Playwright's sync API refuses to
    start in a thread where another Playwright (a caller's, a test session's) already runs its event loop."""
    import threading

    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = e

    t = threading.Thread(target=target, name="mtrl-pdf")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def build_pdf(html_dir: Path = HTML, out: Path = OUT, profile: str | None = None, log=print,
              pages: list[str] | None = None, screen_mode: str = "light") -> Path:
    """Print the book in ``html_dir`` to ``out`` (written beside and moved into place, so a failure leaves the
    previous PDF); return ``out``. ``pages``: these pages only (default: the table of contents); ``screen_mode``:
    the colour mode the browser opens the book in ("light" or "dark"; the PDF is light either way)."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    from .repository import repository

    html_dir, out = Path(html_dir), Path(out)
    if not (html_dir / "intro.html").exists():
        raise PdfFailed(f"no built book in {html_dir}: run make book first")
    pages = list(pages or toc_pages())
    missing = [p for p in pages if not (html_dir / f"{p}.html").exists()]
    if missing:
        raise PdfFailed(f"the book in {html_dir} lacks {', '.join(missing)}: rebuild it (make book)")
    title = yaml.safe_load(CONFIG.read_text()).get("title", "mtrl")
    cover = _cover(title, profile or _profile(), _commit(), repository())
    base = _serve(str(html_dir.resolve()))
    host = urlparse(base).netloc
    if screen_mode not in ("light", "dark"):
        raise ValueError(f"screen_mode must be light or dark, got {screen_mode!r}")
    refused = []
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    start = time.perf_counter()

    def print_pdf() -> int:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), args=ARGS)
            try:
                context = browser.new_context(color_scheme=screen_mode, viewport={"width": 1000, "height": 1400})
                page = context.new_page()

                def route(r):
                    if urlparse(r.request.url).netloc == host:
                        r.continue_()
                    else:
                        refused.append(r.request.url)
                        r.abort()

                page.route("**/*", route)
                page.add_init_script(f"try {{ localStorage.setItem('mode', '{screen_mode}'); "
                                     f"localStorage.setItem('theme', '{screen_mode}'); }} catch (e) {{}}")
                page.goto(base + f"{pages[0]}.html", wait_until="load")
                n = page.evaluate(GATHER, {"pages": pages, "cover": cover})
                page.emulate_media(media="print", color_scheme="light")
                footer = ("<div style='font-size:8px; width:100%; text-align:center; color:#555;'>"
                          f"{_html_text(title)} &middot; <span class='pageNumber'></span> / "
                          "<span class='totalPages'></span></div>")
                page.pdf(path=str(tmp), format="A4", print_background=True, display_header_footer=True,
                         header_template="<div></div>", footer_template=footer, outline=True, tagged=True,
                         margin={"top": "16mm", "bottom": "18mm", "left": "16mm", "right": "16mm"})
            finally:
                browser.close()
        return n

    try:
        n = _in_own_thread(print_pdf)
    except PlaywrightError as e:
        tmp.unlink(missing_ok=True)
        raise PdfFailed(f"Chromium could not print the book: {' '.join(str(e).split())[:300]}") from None
    tmp.replace(out)
    if refused:
        log(f"pdf: refused {len(refused)} request(s) that would have left the machine, e.g. {refused[0]}")
    log(f"pdf: {n} pages of the book in {out} ({out.stat().st_size / 1e6:.1f} MB, "
        f"{time.perf_counter() - start:.0f} s)")
    return out


def _html_text(text: str) -> str:
    import html

    return html.escape(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mtrl_lib.book.pdf", description=__doc__.splitlines()[0])
    ap.add_argument("--html", type=Path, default=HTML, help="the built book (default _build/html)")
    ap.add_argument("--out", type=Path, default=OUT, help="the PDF to write (default _build/pdf/book.pdf)")
    args = ap.parse_args(argv)
    try:
        build_pdf(args.html, args.out)
    except (PdfFailed, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2 if isinstance(e, ValueError) or "run make book" in str(e) or "not installed" in str(e) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
