"""The book as a reader meets it (issue 30): every page of the built quick book, read in Chromium at 1366 px and
on a 390 px phone, with the checks a reader's pass makes (``shared/READER.md``).

One survey visits every page once per width (the session's built book and browser, see conftest.py) and
measures, and axe-core (pinned npm package, ``make lint-deps`` installs it into ``.venv/axe``) runs its WCAG 2 A
and AA rules on each page. Each check is then a test of its own, once for the book's own pages and once for the
chapters, failing with one line per page and problem, so that what is left is plain:

- raw table syntax in a page's text (a Markdown table that did not render);
- a figure shown below :data:`MIN_SCALE` of the size it was drawn at, at 1366 px;
- a page wider than the phone at 390 px;
- a visible code cell that holds plumbing (imports, glue, parameter checks, executor set-up);
- a code identifier in prose (snake_case, UPPER_CASE with an underscore, a dotted module path, a name with a
  digit such as ``moment2``) outside code, math, links and parameter tables (which list the names a reader
  types);
- a display equation clipped at 1366 px (wider than its box, or running under its number);
- a display equation that scrolls on the phone without the scroll cue;
- a table whose cells have no padding (numbers of neighbouring columns run together), that scrolls on the phone
  without the scroll cue, or whose caption is wider than the table's visible box;
- a figure whose alt text is a file name (or empty);
- an axe-core violation.

The survey's numbers (figure scales per page, visible code cells, axe results) are written to
``_build/reader-report.json``; screenshots of every page's top at both widths to ``_build/screenshots/reader``.
Other tests here: a click (and Enter) opens a figure at full size; hovering or focusing a glued number shows
where it comes from; printing a dark page is light.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from mtrl_lib.book.chapters import ROOT
from mtrl_lib.book.glued_notes import READER_WORDS
from test_browser import HTML, pages

pytestmark = [pytest.mark.slow, pytest.mark.browser]

WIDE, PHONE = (1366, 900), (390, 844)
MIN_SCALE = 0.85                   # the smallest share of its drawn size a figure may be shown at, at 1366 px
AXE = ROOT / ".venv" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
REPORT = ROOT / "_build" / "reader-report.json"
SHOTS = ROOT / "_build" / "screenshots" / "reader"

# What a page shows, measured in the page (both widths). Prose is the visible text of the article outside code,
# math, links, cell inputs and outputs printed as text, and the notes of glued numbers (hidden until asked for).
MEASURE = r"""() => {
  const art = document.querySelector('article.bd-article') || document.querySelector('main');
  const shown = el => !!(el && (el.offsetWidth || el.offsetHeight || el.getClientRects().length))
                      && getComputedStyle(el).visibility !== 'hidden';
  const SKIP = 'code, pre, kbd, samp, mjx-container, .math, a, script, style, .mtrl-notes, .mtrl-tip, '
             + '.cell_input, .output.stream, .output.text_plain, .output.traceback, summary, .headerlink, '
             + '.mtrl-params';
  const blocks = new Map();
  const walker = document.createTreeWalker(art, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(SKIP) || !shown(el)) continue;
    const block = el.closest('p, li, td, th, figcaption, h1, h2, h3, h4, h5, h6, dt, dd, caption, label, div');
    blocks.set(block, (blocks.get(block) || '') + n.textContent);
  }
  const prose = Array.from(blocks.values()).map(t => t.replace(/\s+/g, ' ').trim()).filter(Boolean);
  const raw = [];                     // text with code and links kept: a raw table shows its pipes there too
  for (const p of art.querySelectorAll('p')) if (shown(p) && !p.closest('.cell_input, pre')) raw.push(p.innerText);
  const imgs = Array.from(art.querySelectorAll('img')).map(i => ({
    src: (i.getAttribute('src') || '').slice(0, 60), alt: i.getAttribute('alt'), natural: i.naturalWidth,
    shown: shown(i) ? i.getBoundingClientRect().width : null, explorer: !!i.closest('.mtrl-explorer')}));
  const cells = Array.from(art.querySelectorAll('.cell .cell_input pre')).filter(shown)
                     .map(c => c.innerText).filter(t => t.trim());        // a folded cell's code has no text
  const eqs = Array.from(art.querySelectorAll('mjx-container[display="true"]')).filter(shown).map(m => {
    const box = m.getBoundingClientRect(), math = m.querySelector('mjx-math');
    const inner = math ? math.getBoundingClientRect() : box;
    const div = m.closest('div.math'), num = div && div.querySelector('.eqno');
    const nr = num ? num.getBoundingClientRect() : null;
    const label = (num ? num.textContent : (div && div.id) || '').replace(/#/g, '').trim();
    return {label, over: Math.round(m.scrollWidth - m.clientWidth), width: Math.round(inner.width),
            box: Math.round(box.width), overflow: getComputedStyle(m).overflowX,
            cue: m.classList.contains('mtrl-scrolls'),
            under_number: !!(nr && nr.width && inner.right > nr.left + 1 && inner.left < nr.right
                             && inner.bottom > nr.top && inner.top < nr.bottom)};
  });
  const tables = Array.from(art.querySelectorAll('table')).filter(shown).map(t => {
    const box = t.closest('.table-wrapper, .pst-scrollable-table-container, .mtrl-table-box');
    const cap = t.querySelector(':scope > caption'), text = cap && (cap.firstElementChild || cap);
    const pads = Array.from(t.querySelectorAll('td, th')).map(c => {
      const st = getComputedStyle(c);
      return Math.min(parseFloat(st.paddingLeft), parseFloat(st.paddingRight));
    });
    return {label: (cap ? cap.textContent : t.textContent).replace(/\s+/g, ' ').trim().slice(0, 40),
            boxed: !!box, over: box ? Math.round(box.scrollWidth - box.clientWidth) : 0,
            overflow: box ? getComputedStyle(box).overflowX : 'visible',
            cue: !!box && box.classList.contains('mtrl-scrolls'),
            caption_over: box && text ? Math.round(text.getBoundingClientRect().width - box.clientWidth) : 0,
            min_pad: pads.length ? Math.min(...pads) : null};
  });
  const vw = document.documentElement.clientWidth;
  const wide = [];
  if (document.documentElement.scrollWidth > vw + 1) {
    for (const el of document.body.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.right > vw + 1 && shown(el)) {
        let p = el.parentElement, clipped = false;
        for (; p && p !== document.body; p = p.parentElement) {
          const o = getComputedStyle(p).overflowX;
          if (o !== 'visible' && p.getBoundingClientRect().right <= vw + 1) { clipped = true; break; }
        }
        if (!clipped) wide.push(`${el.tagName.toLowerCase()}.${(el.className && el.className.baseVal === undefined
                                  ? el.className : '').toString().split(' ')[0]} "${(el.textContent || '')
                                  .trim().slice(0, 50)}" to ${Math.round(r.right)} px`);
      }
    }
  }
  return {prose, raw, imgs, cells, eqs, tables, scroll_width: document.documentElement.scrollWidth, viewport: vw,
          wide: wide.slice(-3), title: document.title};
}"""

RAW_TABLE = re.compile(r"\|\s*:?[-—–]{1,}:?\s*\|")
IDENTIFIER = re.compile(r"(?<![\w.])(?:[a-z][a-z0-9_]+(?:\.[a-z_][a-z0-9_]+){2,}"            # module.path.name
                        r"|(?:[A-Za-z_]\w*\.)?[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+"  # snake_case, x.snake_case, RATIO_BOUND
                        r"|" + "|".join(re.escape(k) for k in READER_WORDS if "_" not in k and " " not in k)
                        + r")(?![\w])")                                              # moment2: the code's names
PLUMBING = [
    (re.compile(r"^\s*(from\s+\S+\s+)?import\s"), "an import"),
    (re.compile(r"\bglue(_all|_ci)?\("), "a glue call"),
    (re.compile(r"\bcheck_\w+\("), "a parameter check"),
    (re.compile(r"^\s*\w+\s*=\s*from_environment\(\)\s*$"), "executor set-up"),
    (re.compile(r"^\s*%"), "a magic"),
    (re.compile(r"\bdisplay\(|\bMarkdown\("), "a display call"),
]
FILE_LIKE = re.compile(r"(\.(png|jpe?g|gif|svg|webp)\b)|(_images/)|(^[0-9a-f]{16,})", re.I)
CHECKS = ("raw tables", "figure scale", "page width", "plumbing cells", "identifiers in prose",
          "clipped equations", "equation scroll cue", "tables", "alt text", "axe")
MIN_CELL_PAD = 4                   # px of padding a table cell keeps on each side


def plumbing_lines(source: str) -> list[str]:
    """The lines of a visible code cell that are plumbing, each with what it is."""
    out = []
    for line in source.splitlines():
        if not line.strip() or line.strip().startswith("#"):
            continue
        for pattern, what in PLUMBING:
            if pattern.search(line):
                out.append(f"{what}: `{line.strip()[:70]}`")
                break
    return out


def identifiers(text: str) -> list[str]:
    return sorted(set(IDENTIFIER.findall(text)))


def _open(browser, base, rel, size):
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    host = urlparse(base).netloc
    page.route("**/*", lambda r: r.continue_() if urlparse(r.request.url).netloc == host else r.abort())
    page.goto(urljoin(base, rel), wait_until="load")
    page.evaluate("""() => (window.MathJax && MathJax.startup && MathJax.startup.promise)
                             ? MathJax.startup.promise : null""")
    page.evaluate("() => window.mtrlBook && window.mtrlBook.markEquations()")
    return page


def _axe(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => (await axe.run(document, {runOnly: {type: 'tag',
        values: ['wcag2a', 'wcag2aa']}, resultTypes: ['violations']})).violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
        first: v.nodes[0] ? v.nodes[0].target.join(' ') : ''}))""")
    return result


@pytest.fixture(scope="module")
def survey(browser, server):
    """``{page: {"wide": measures at 1366 px, "phone": at 390 px, "axe": violations}}``, and the report file."""
    if not AXE.exists():
        pytest.fail("axe-core is not installed: make lint-deps (npm ci into .venv/axe)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    out = {}
    for rel in pages():
        if rel in ("search.html",):
            continue
        shot = SHOTS / rel.replace("/", "_").removesuffix(".html")
        page = _open(browser, server, rel, WIDE)
        wide = page.evaluate(MEASURE)
        page.screenshot(path=f"{shot}_1366.png")
        violations = _axe(page)
        page.close()
        page = _open(browser, server, rel, PHONE)
        phone = page.evaluate(MEASURE)
        page.screenshot(path=f"{shot}_390.png")
        page.close()
        out[rel] = {"wide": wide, "phone": phone, "axe": violations}
    report = {rel: {"figure_scales": [round(i["shown"] / i["natural"], 3) for i in d["wide"]["imgs"]
                                      if i["shown"] and i["natural"]],
                    "visible_code_cells": len(d["wide"]["cells"]),
                    "axe_violations": d["axe"],
                    "phone_scroll_width": d["phone"]["scroll_width"]} for rel, d in out.items()}
    REPORT.write_text(json.dumps(report, indent=1) + "\n")
    return out


def problems(rel: str, d: dict, check: str) -> list[str]:
    """What ``check`` finds on one page, one line each."""
    wide, phone = d["wide"], d["phone"]
    found = []
    if check == "raw tables":
        for text in wide["raw"]:
            if RAW_TABLE.search(text) or text.count("|") >= 6:
                found.append(f"raw table text: {text[:90]!r}")
    elif check == "figure scale":
        for i in wide["imgs"]:
            if i["shown"] and i["natural"] and i["shown"] / i["natural"] < MIN_SCALE:
                found.append(f"figure {i['src']} shown at {i['shown'] / i['natural']:.0%} of its {i['natural']} px")
    elif check == "page width":
        if phone["scroll_width"] > phone["viewport"] + 1:
            found.append(f"{phone['scroll_width']} px wide on a {phone['viewport']} px phone; widest: "
                         + "; ".join(phone["wide"]))
    elif check == "plumbing cells":
        for source in wide["cells"]:
            found += [f"visible code cell with {p}" for p in plumbing_lines(source)]
    elif check == "identifiers in prose":
        for text in wide["prose"]:
            for name in identifiers(text):
                at = text.find(name)
                found.append(f"{name!r} in: …{text[max(0, at - 40):at + len(name) + 30]}…")
    elif check == "clipped equations":
        for e in wide["eqs"]:
            if e["over"] > 1:
                found.append(f"equation {e['label'] or '(unnumbered)'}: {e['width']} px in a {e['box']} px box")
            elif e["under_number"]:
                found.append(f"equation {e['label']}: runs under its number")
    elif check == "equation scroll cue":
        for e in phone["eqs"]:
            if e["over"] > 1 and not (e["cue"] and e["overflow"] in ("auto", "scroll")):
                found.append(f"equation {e['label'] or '(unnumbered)'} scrolls {e['over']} px with no cue")
    elif check == "tables":
        for t in wide["tables"] + phone["tables"]:
            if t["min_pad"] is not None and t["min_pad"] < MIN_CELL_PAD:
                found.append(f"table {t['label']!r}: a cell with {t['min_pad']:.0f} px of padding")
        for t in phone["tables"]:
            if not t["boxed"] or (t["over"] > 1 and not (t["cue"] and t["overflow"] in ("auto", "scroll"))):
                found.append(f"table {t['label']!r} scrolls {t['over']} px on the phone with no cue"
                             if t["boxed"] else f"table {t['label']!r} is in no box that scrolls")
            if t["caption_over"] > 1:
                found.append(f"table {t['label']!r}: its caption is {t['caption_over']} px wider than its box")
        found = list(dict.fromkeys(found))
    elif check == "alt text":
        for i in wide["imgs"]:
            if not (i["alt"] or "").strip() or FILE_LIKE.search(i["alt"]):
                found.append(f"figure {i['src']} has alt text {i['alt']!r}")
    elif check == "axe":
        found += [f"axe {v['id']} ({v['impact']}, {v['nodes']} elements, first {v['first']}): {v['help']}"
                  for v in d["axe"]]
    return [f"{rel}: {check}: {p}" for p in found]


@pytest.mark.parametrize("group", ["book pages", "chapters"])
@pytest.mark.parametrize("check", CHECKS)
def test_reader(survey, check, group):
    """One check on one group of pages: the book's own pages, or the chapters (see the module)."""
    rels = [r for r in survey if r.startswith("chapters/") == (group == "chapters")]
    assert rels, f"no {group} in the book"
    found = [line for rel in rels for line in problems(rel, survey[rel], check)]
    assert not found, f"{len(found)} problems:\n" + "\n".join(found)


def test_the_checks_find_what_they_look_for():
    """The checks themselves, on text a broken page shows."""
    assert RAW_TABLE.search("| family | $T$ | … |—|—|") and RAW_TABLE.search("| a | b |\n|---|---|")
    assert identifiers("the track_round of RATIO_BOUND, chapter.comparison_family, the moment2 estimator, "
                       "mtrl_lib.experiments.subspace_recovery.verdict") == [
        "RATIO_BOUND", "chapter.comparison_family", "moment2", "mtrl_lib.experiments.subspace_recovery.verdict",
        "track_round"]
    assert not identifiers("e.g. the first-moment estimator at T = 20, C1 to C6, 95% Student-t, PCA, i.e. d2, "
                           "float32, xoshiro256++")
    assert plumbing_lines("from mtrl_lib.book.glue import glue_all\nglue_all(chapter.numbers(result))\n"
                          "check_seeds(params)   # comment\nexecutor = from_environment()")[3].startswith("executor")
    assert not plumbing_lines("result = chapter.run(params, executor=from_environment())\n# a comment")
    assert FILE_LIKE.search("../_images/18a16b98c0ffee.png") and not FILE_LIKE.search("Subspace error against T")


# ----------------------------------------------------------------------------------- behaviour, in the page

def test_a_click_or_enter_opens_a_figure_at_full_size(browser, server):
    page = _open(browser, server, "chapters/02_subspace_recovery.html", WIDE)
    img = page.locator("article figure img").first
    img.scroll_into_view_if_needed()
    natural = img.evaluate("i => i.naturalWidth")
    img.click()
    dialog = page.locator("dialog.mtrl-lightbox")
    assert dialog.evaluate("d => d.open")
    big = dialog.locator("img")
    assert big.evaluate("i => i.getBoundingClientRect().width") == pytest.approx(natural, abs=1)
    caption = dialog.locator("p").inner_text().strip()
    assert caption and not caption.endswith("#"), f"the full-size view's caption: {caption[-60:]!r}"
    page.keyboard.press("Escape")
    assert not dialog.evaluate("d => d.open")
    assert page.evaluate("() => document.activeElement.tagName") == "IMG"      # focus returns to the figure
    page.keyboard.press("Enter")
    assert dialog.evaluate("d => d.open")
    page.screenshot(path=str(SHOTS / "figure_full_size.png"))
    dialog.locator("button").click()
    assert not dialog.evaluate("d => d.open")
    page.close()


@pytest.mark.parametrize("rel", ["intro.html", "chapters/02_subspace_recovery.html"])
def test_a_glued_number_says_where_it_comes_from(browser, server, rel):
    """Every glued number has a note (aria-describedby, so a screen reader reads it) naming what it is, the
    profile and commit, and the commands; hover and keyboard focus show it, Escape hides it."""
    page = _open(browser, server, rel, WIDE)
    values = page.locator("article .mtrl-glued")
    n = values.count()
    assert n > 10
    described = page.evaluate("""() => Array.from(document.querySelectorAll('article .mtrl-glued')).filter(g => {
        const id = g.getAttribute('aria-describedby'), note = id && document.getElementById(id);
        return g.tabIndex === 0 && note && /profile/.test(note.textContent)
               && /python -m mtrl_lib run/.test(note.textContent) && /python -m mtrl_lib verify/.test(note.textContent);
      }).length""")
    assert described == n, f"{n - described} of {n} glued numbers have no note"
    tip = page.locator(".mtrl-tip")
    first = values.nth(3)
    first.scroll_into_view_if_needed()
    first.hover()
    assert tip.is_visible() and "python -m mtrl_lib run" in tip.inner_text()
    page.screenshot(path=str(SHOTS / f"note_hover_{Path(rel).stem}.png"))
    page.mouse.move(0, 0)
    page.wait_for_timeout(400)
    assert not tip.is_visible()
    values.nth(5).focus()
    assert tip.is_visible()
    page.keyboard.press("Escape")
    assert not tip.is_visible()
    page.close()


def test_a_dark_page_prints_light(browser, server):
    page = _open(browser, server, "intro.html", WIDE)
    page.evaluate("() => document.documentElement.setAttribute('data-theme', 'dark')")
    page.emulate_media(media="print")
    color = page.evaluate("() => getComputedStyle(document.querySelector('article p')).color")
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    page.close()
    rgb = [int(x) for x in re.findall(r"\d+", color)[:3]]
    assert sum(rgb) < 3 * 100, f"printed text is {color}"
    assert background in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), background


def test_pages_have_a_favicon_and_no_thebe(built_book):
    page = (HTML / "intro.html").read_text()
    icon = re.search(r'<link rel="icon" href="([^"]+)"', page)
    assert icon and (HTML / icon.group(1)).exists()
    chapter = (HTML / "chapters" / "02_subspace_recovery.html").read_text()
    assert "thebe" not in chapter.lower() and "binder" not in chapter.lower()
    assert not (HTML / "genindex.html").exists()
