"""Readers in JupyterLab and in the book see the same numbers (mtrl_lib/book/inline.py, book/_ext/glued_eval.py).

- unit tests of the ``glued`` lookup and of the notebook rewrite (on a copy of chapter 1);
- a small book, built with the project's _config.yml from a tiny executed notebook: ``{eval}`glued[...]```
  renders exactly as ``{glue:text}`` does, and the static explorer is on the page;
- JupyterLab on the reader's working copy of chapter 1 (``make lab``'s, in a temporary folder), headless: Run
  All, then no raw role text and the verdict visible; moving the explorer's slider redraws its figure; a save
  leaves ``notebooks/`` unchanged; after a reload the explorer's controls are live; a bad parameter is one line
  and the prose below it is marked as from an earlier run;
- ``jupyter labextension list`` finds jupyterlab-myst compatible; the working copies follow their chapters
  until edited; the kernel's one-line handler (``mtrl_lib/book/kernel.py``). **This one needs the lead's notebook change** (``python -m
  mtrl_lib.book.inline notebooks/0*.ipynb``, ``glue`` recording values for Lab, the explorer's
  ``one_of(...)`` values): until then it fails and says so.
"""
import contextlib
import copy
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
import yaml

from mtrl_lib.book import inline
from mtrl_lib.book.chapters import ROOT
from mtrl_lib.book.inline import convert_notebook, glued, record, to_eval

SHOTS = ROOT / "_build" / "screenshots"
CHAPTER1 = ROOT / "notebooks" / "01_pseudo_contrastive.ipynb"


# ------------------------------------------------------------------------------------------- unit tests

@pytest.mark.parametrize("value,fmt", [(0.000123456, ".2e"), (0.5, ".3f"), (12, ".0f"), (12, "d"), (3.0, ""),
                                       (0.25, ".1%"), ("reproduced (3 of 3)", "s"), ("100, 101", "s"),
                                       (True, "s"), (7, "s")])
def test_lab_text_equals_the_books_text(value, fmt):
    from myst_nb.core.variables import format_plain_text

    record("t_value", value)
    assert glued[f"t_value:{fmt}"] == format_plain_text(inline.text_plain(value), fmt)


def test_glued_shows_text_without_quotes_and_names_a_missing_value():
    record("t_verdict", "reproduced")
    assert repr(glued["t_verdict"]) == "reproduced"                     # Lab shows the repr: no quotes
    with pytest.raises(KeyError, match="not glued yet"):
        glued["t_never_glued:.2f"]


def test_rewrite_keeps_pastes_from_other_pages():
    text, n = to_eval("a {glue:text}`c1_x:.1e` b {glue:text}`c1_v` c {glue:text}`chapters/01.ipynb::c1_v:s`")
    assert n == 2
    assert text == ('a {eval}`glued["c1_x:.1e"]` b {eval}`glued["c1_v"]` '
                    'c {glue:text}`chapters/01.ipynb::c1_v:s`')


def test_convert_a_copy_of_chapter_1(tmp_path):
    copy = tmp_path / CHAPTER1.name
    shutil.copy(CHAPTER1, copy)
    before = nbformat.read(copy, as_version=4)
    n_roles = sum(c.source.count("{glue:text}`") for c in before.cells if c.cell_type == "markdown")
    assert convert_notebook(copy) == n_roles
    after = nbformat.read(copy, as_version=4)
    prose = "\n".join(c.source for c in after.cells if c.cell_type == "markdown")
    assert "{glue:text}" not in prose and prose.count('{eval}`glued["') >= n_roles
    code = "\n".join(c.source for c in after.cells if c.cell_type == "code")
    assert code.count(inline.IMPORT_LINE) == 1
    assert [c.get("id") for c in after.cells] == [c.get("id") for c in before.cells]
    text = copy.read_text()
    assert convert_notebook(copy) == 0 and copy.read_text() == text       # idempotent


def test_check_finds_a_value_quoted_before_it_is_glued(tmp_path, kernel):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from mtrl_lib.book.inline import glued, record\nrecord('t_a', 1.5)"),
        nbformat.v4.new_markdown_cell('a = {eval}`glued["t_a:.1f"]`, b = {eval}`glued["t_b"]`'),
        nbformat.v4.new_code_cell("record('t_b', 2)"),
        nbformat.v4.new_markdown_cell('b = {eval}`glued["t_b:d"]`'),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, tmp_path / "order.ipynb")
    problems = inline.check_notebook(tmp_path / "order.ipynb", timeout=120)
    assert len(problems) == 1 and "markdown cell 1" in problems[0] and "t_b is not glued yet" in problems[0]


# --------------------------------------------------------------------------------- a small book, built

PAIRS = [("t_small", ".2e"), ("t_small", ".3f"), ("t_int", ".0f"), ("t_int", "s"), ("t_verdict", "s"),
         ("t_verdict", None), ("t_tuple_like", "s")]


def _demo_notebook() -> nbformat.NotebookNode:
    lines = [f"pair {i}: [{{glue:text}}`{n}{':' + f if f else ''}`] "
             f"[{{eval}}`glued[\"{n}{':' + f if f else ''}\"]`]" for i, (n, f) in enumerate(PAIRS)]
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Demo"),
        nbformat.v4.new_code_cell(
            "import matplotlib.pyplot as plt\n"
            "from mtrl_lib.book.glue import glue\n"
            "from mtrl_lib.book.inline import glued\n"
            "from mtrl_lib.book.widgets import explorer, one_of"),
        nbformat.v4.new_code_cell(
            'glue("t_small", 0.000123456)\nglue("t_int", 42)\n'
            'glue("t_verdict", "partly reproduced (one criterion of three fails)")\nglue("t_tuple_like", "100, 101")'),
        nbformat.v4.new_markdown_cell("\n\n".join(lines)),
        nbformat.v4.new_code_cell(
            "fig, ax = plt.subplots(figsize=(3, 2))\nax.plot([0, 1], [0, 1])\nplt.show()",
            metadata={"mystnb": {"figure": {"caption": 'Caption quoting {eval}`glued["t_int:d"]` tasks.',
                                            "name": "fig-demo"}}}),
        nbformat.v4.new_code_cell(
            "def draw(a, kind):\n"
            "    fig, ax = plt.subplots(figsize=(3, 2))\n"
            "    ax.plot([0, 1], [0, a] if kind == 'up' else [a, 0])\n"
            "    ax.set_title(f'a = {a:g}, {kind}')\n\n\n"
            "explorer(draw, a=one_of([0.05, 0.5, 5.0], value=0.5, label='slope a'), kind=one_of(['up', 'down']))",
            metadata={"tags": ["hide-input"]}),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


@pytest.fixture(scope="module")
def demo_executed(tmp_path_factory) -> nbformat.NotebookNode:
    """The demo notebook executed once, as the runner executes a chapter (papermill, MTRL_STATIC=1)."""
    import papermill as pm

    tmp = tmp_path_factory.mktemp("demo")
    nbformat.write(_demo_notebook(), tmp / "demo_source.ipynb")
    old = os.environ.get("MTRL_STATIC")
    os.environ["MTRL_STATIC"] = "1"
    try:
        pm.execute_notebook(str(tmp / "demo_source.ipynb"), str(tmp / "demo.ipynb"), kernel_name="python3",
                            progress_bar=False, cwd=str(tmp))
    finally:
        if old is None:
            os.environ.pop("MTRL_STATIC")
        else:
            os.environ["MTRL_STATIC"] = old
    return nbformat.read(tmp / "demo.ipynb", as_version=4)


def _build(tmp_path, nb: nbformat.NotebookNode) -> subprocess.CompletedProcess:
    """Build a one-page book from the executed notebook ``nb`` with the project's _config.yml (its extensions
    from book/_ext; MathJax, copied by the runner, left out)."""
    src = tmp_path / "src"
    src.mkdir()
    nbformat.write(nb, src / "demo.ipynb")
    (src / "intro.md").write_text("# Intro\n\nVerdict from the demo: {glue:text}`demo.ipynb::t_verdict:s`\n")
    (src / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n- file: demo\n")
    shutil.copytree(ROOT / "book" / "_static", src / "_static")
    shutil.copy(ROOT / "book" / "references.bib", src)          # _config.yml's bibtex_bibfiles
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "glued_eval" in config["sphinx"]["local_extensions"]
    config["sphinx"]["local_extensions"] = {k: str(ROOT / v) for k, v in config["sphinx"]["local_extensions"].items()}
    for key in ("html_extra_path", "mathjax_path"):
        config["sphinx"]["config"].pop(key, None)
    (src / "_config.yml").write_text(yaml.safe_dump(config))
    jb = Path(sys.executable).with_name("jupyter-book")
    return subprocess.run([str(jb), "build", str(src), "--path-output", str(tmp_path / "out"), "-W", "--keep-going",
                           "-q"], capture_output=True, text=True, timeout=600)


def test_book_renders_eval_glued_as_glue_text_and_the_static_explorer(tmp_path, demo_executed, book_build):
    from bs4 import BeautifulSoup

    out = _build(tmp_path, demo_executed)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    html = tmp_path / "out" / "_build" / "html"
    soup = BeautifulSoup((html / "demo.html").read_text(), "html.parser")
    pairs = {}
    for p in soup.find_all("p"):
        m = re.match(r"pair (\d+): \[(.*)\] \[(.*)\]$", p.get_text())
        if m:
            pairs[int(m.group(1))] = (m.group(2), m.group(3))
    assert len(pairs) == len(PAIRS)
    assert all(g == e and g for g, e in pairs.values()), pairs
    assert pairs[0][0] == "1.23e-04" and pairs[4][0].startswith("partly reproduced")
    assert "Caption quoting 42 tasks." in " ".join(c.get_text(" ", strip=True) for c in soup.select("figcaption"))
    root = soup.select(".mtrl-explorer")
    assert len(root) == 1 and len(root[0].select('input[type="range"]')) == 1 and len(root[0].select("select")) == 1
    assert len(root[0].select("img[data-mtrl-key]")) == 6
    assert (html / "_static" / "mtrl-explorer.js").exists() and "mtrl-explorer.js" in (html / "demo.html").read_text()
    # the glue cell shows nothing in the book: no output at all
    glue_cell = next(c for c in soup.select("div.cell") if "t_small" in c.get_text())
    assert not glue_cell.select(".cell_output") or not glue_cell.select(".cell_output")[0].get_text(strip=True)
    assert "partly reproduced" in (html / "intro.html").read_text()            # cross-page paste unchanged


def test_book_rejects_an_eval_it_cannot_render(tmp_path, demo_executed, book_build):
    nb = copy.deepcopy(demo_executed)
    assert nb.cells[3].cell_type == "markdown"
    nb.cells[3].source += "\n\nand {eval}`1 + 1`"     # the markdown cell of the pairs (executing it adds nothing)
    out = _build(tmp_path, nb)
    assert out.returncode != 0 and "the book renders only" in out.stdout + out.stderr


# ------------------------------------------------------------------------------------------ JupyterLab

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def _wait(pred, timeout: float, what: str, step: float = 1.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@contextlib.contextmanager
def running_lab(tmp_path: Path):
    """JupyterLab (the command of ``make lab``) on working copies of the chapters made as ``make lab`` makes
    them (in tmp_path), on 127.0.0.1, no token, with settings in tmp_path: no news prompt, every cell kept in
    the page (windowing off, so text checks see all)."""
    from mtrl_lib.book.lab import lab_command, working_copies

    root = working_copies(dest=tmp_path / "lab", log=lambda *a: None)
    settings = tmp_path / "settings"
    for ext, name, value in (("apputils-extension", "notification", {"fetchNews": "false"}),
                             ("notebook-extension", "tracker", {"windowingMode": "none"})):
        (settings / "@jupyterlab" / ext).mkdir(parents=True, exist_ok=True)
        (settings / "@jupyterlab" / ext / f"{name}.jupyterlab-settings").write_text(json.dumps(value))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "MTRL_STATIC"}
    env.update(JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    cmd = lab_command(root, ["--no-browser", "--ip=127.0.0.1", f"--port={port}", "--IdentityProvider.token=",
                             "--ServerApp.password=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"])
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return _get_json(f"{base}/api/status")
        except OSError:
            return None

    try:
        _wait(up, 120, "JupyterLab to answer")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def lab(tmp_path):
    with running_lab(tmp_path) as base:
        yield base


NEEDS_LEAD = ("needs the lead's notebook change (python -m mtrl_lib.book.inline notebooks/0*.ipynb; glue() "
              "recording values in Jupyter; explorer controls as one_of([...]))")


def _sources() -> dict:
    return {p.name: p.read_bytes() for p in sorted((ROOT / "notebooks").glob("*.ipynb"))}


@pytest.mark.slow
@pytest.mark.browser
def test_chapter_1_in_jupyterlab_shows_numbers_and_redraws(lab, tmp_path, chromium):
    """Run All on the reader's working copy of chapter 1: numbers and verdict, the explorer redraws; saved, the
    sources in notebooks/ are unchanged and the copy has the outputs; reloaded, Explore shows live controls;
    a bad parameter then gives one line, and the prose below it is marked as from an earlier run."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    sources = _sources()
    copy = tmp_path / "lab" / CHAPTER1.name
    with contextlib.nullcontext(chromium) as browser:          # the session's Chromium (tests/conftest.py)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(f"{lab}/lab/tree/{CHAPTER1.name}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)

        # The kernel is ready when the server reports it idle with the page's websocket connected.
        def kernel_ready():
            try:
                ks = _get_json(f"{lab}/api/kernels")
            except OSError:                    # the server still starting the kernel: ask again
                return None
            return ks and ks[0]["execution_state"] == "idle" and ks[0]["connections"] >= 1
        _wait(kernel_ready, 120, "the kernel to start")
        time.sleep(2)
        page.click(".lm-MenuBar-item:has-text('Run')")
        page.click(".lm-Menu-item[data-command='runmenu:run-all']")

        def all_ran():
            prompts = page.eval_on_selector_all(".jp-CodeCell .jp-InputPrompt", "els => els.map(e => e.textContent)")
            return prompts and all(re.fullmatch(r"\[\d+\]:", t.strip()) for t in prompts)
        _wait(all_ran, 600, "Run All to finish", step=2)
        # what the reader sees of each markdown cell: the rendered view beside the (hidden) editor
        prose = ".jp-MarkdownCell .jp-InputArea > :not(.jp-InputArea-editor):not(.jp-InputArea-prompt)"

        def prose_text():
            return "\n".join(page.eval_on_selector_all(prose, "els => els.map(e => e.textContent)"))
        # jupyterlab-myst evaluates each markdown cell's {eval} roles as Run All reaches it
        try:
            _wait(lambda: 'glued["' not in prose_text(), 60, "the prose's {eval} roles to render")
        except AssertionError:
            pass
        text = prose_text()
        assert len(text) > 2000 and "Verdict on C1" in text, f"the rendered prose was not found: {text[:300]!r}"
        raw = sorted(set(re.findall(r"\{glue:text\}`[^`]*`|glued\[\"[^\"]*\"\]", text)))
        assert not raw, f"raw role text visible in Lab ({NEEDS_LEAD}): {raw[:10]}"
        assert "not glued yet" not in text and "KeyError" not in text, (
            "a value is quoted in the prose before the cell that glues it: "
            + re.findall(r"[^\n]{0,80}(?:not glued yet|KeyError)[^\n]{0,80}", text)[0])
        verdict = re.search(r"Verdict on C1(?:, for [^:\n]*)?:\s*([^\n]{0,120})", text)
        assert verdict and re.match(r"(reproduced|partly reproduced|not reproduced|undecided)", verdict.group(1)), (
            verdict.group(0) if verdict else "no verdict sentence")
        for _ in range(5):            # jupyterlab-myst may re-render the cell under the locator: try again
            try:
                page.locator("text=Verdict on C1 >> visible=true").first.scroll_into_view_if_needed(timeout=5000)
                break
            except Exception:  # noqa: BLE001 - only the screenshot's framing depends on it
                time.sleep(1)
        page.screenshot(path=str(SHOTS / "lab_01_run_all.png"))

        # The explorer: its slider redraws the figure below it.
        sliders = page.locator(".widget-interact .widget-hslider")
        assert sliders.count() >= 1, f"no slider in the explorer ({NEEDS_LEAD})"
        figure = page.locator(".widget-interact .jp-OutputArea-output img").last
        before = figure.get_attribute("src")
        sliders.first.locator(".noUi-handle").focus()
        page.keyboard.press("ArrowRight")
        _wait(lambda: figure.get_attribute("src") != before, 120, "the explorer's figure to redraw")
        sliders.first.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "lab_01_explorer_moved.png"))

        # Save: the working copy gets the outputs, the sources stay as they are.
        before_save = copy.stat().st_mtime
        page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
        page.keyboard.press("Control+s")
        _wait(lambda: copy.stat().st_mtime > before_save, 60, "the notebook to be saved")
        assert _sources() == sources, "notebooks/ changed: Lab saved into the sources"
        saved = nbformat.read(copy, as_version=4)
        assert any(c.get("outputs") for c in saved.cells if c.cell_type == "code")

        # Reload: Explore shows its controls (the saved widget output is trusted and the kernel still runs).
        page.reload()
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        _wait(lambda: page.locator(".widget-interact .widget-hslider").count() >= 1, 120,
              "the explorer's controls after a reload")
        assert "interactive(children=" not in page.inner_text(".jp-Notebook")
        figure = page.locator(".widget-interact .jp-OutputArea-output img").last
        before = figure.get_attribute("src")
        page.locator(".widget-interact .widget-hslider").first.locator(".noUi-handle").focus()
        page.keyboard.press("ArrowLeft")
        _wait(lambda: figure.get_attribute("src") != before, 120, "the explorer to redraw after the reload")

        # A bad parameter: one line, where the reader looks; the prose below is marked as from an earlier run.
        params = page.locator(".jp-CodeCell").first
        params.locator(".cm-content").click()
        page.keyboard.press("Control+a")
        page.keyboard.type("d = 1.5")
        page.click(".lm-MenuBar-item:has-text('Run')")
        page.click(".lm-Menu-item[data-command='runmenu:run-all']")
        _wait(lambda: page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'], "
                                   ".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']").count()
              or "bad parameter" in page.inner_text(".jp-Notebook"), 120, "the bad parameter's error")
        text = page.inner_text(".jp-Notebook")
        error = [ln for ln in text.splitlines() if "bad parameter" in ln]
        assert error and "Traceback" not in text, text[:2000]
        assert page.locator(".jp-MarkdownCell.mtrl-stale").count() >= 3, "the prose below is not marked"
        page.screenshot(path=str(SHOTS / "lab_01_bad_parameter.png"))
        page.close()


def test_labextensions_are_compatible_with_this_jupyterlab():
    out = subprocess.run([str(Path(sys.executable).with_name("jupyter")), "labextension", "list"],
                         capture_output=True, text=True, timeout=120)
    text = out.stdout + out.stderr
    assert "jupyterlab-myst" in text and "not compatible" not in text, text


def test_working_copies_follow_the_sources_until_the_reader_edits_them(tmp_path):
    from mtrl_lib.book.lab import working_copies

    src, dest = tmp_path / "src", tmp_path / "work"
    src.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("v1", metadata={"user_expressions": [1]})])
    nbformat.write(nb, src / "a.ipynb")
    working_copies(src, dest, log=lambda *a: None)
    copy = nbformat.read(dest / "a.ipynb", as_version=4)
    assert copy.cells[0].source == "v1" and "user_expressions" not in copy.cells[0].metadata
    nb.cells[0].source = "v2"
    nbformat.write(nb, src / "a.ipynb")
    working_copies(src, dest, log=lambda *a: None)
    assert nbformat.read(dest / "a.ipynb", as_version=4).cells[0].source == "v2"      # untouched: follows
    edited = nbformat.read(dest / "a.ipynb", as_version=4)
    edited.cells[0].source = "mine"
    nbformat.write(edited, dest / "a.ipynb")
    nb.cells[0].source = "v3"
    nbformat.write(nb, src / "a.ipynb")
    said = []
    working_copies(src, dest, log=said.append)
    assert nbformat.read(dest / "a.ipynb", as_version=4).cells[0].source == "mine" and "kept" in said[0]


def test_a_bad_parameter_in_the_kernel_is_one_line():
    """The kernel's handler (mtrl_lib.book.kernel): one line for a parameter error, a traceback otherwise."""
    from IPython.core.interactiveshell import InteractiveShell

    from mtrl_lib.book import kernel
    from mtrl_lib.book.cli_values import check_seeds
    from mtrl_lib.experiments import subspace_recovery as chapter

    shell = InteractiveShell.instance()
    for bad in (lambda: chapter.Params(d=1.5), lambda: chapter.Params(T_values=(2, 5)),
                lambda: chapter.Params.from_namespace({"d": 3}), lambda: check_seeds(chapter.Params(seeds=(1,)))):
        with pytest.raises(ValueError) as info:
            bad()
        assert kernel.parameter_error(info.type, info.value, info.tb)
        assert kernel.one_line(info.value).startswith("bad parameter: ")
    with pytest.raises(ZeroDivisionError) as info:
        1 / 0
    assert not kernel.parameter_error(info.type, info.value, info.tb)
    marks, shown = [], []
    old, kernel._mark = kernel._mark, marks.append
    old_show, shell._showtraceback = shell._showtraceback, lambda et, v, stb: shown.append(stb)
    try:
        assert len(kernel._handler(shell, info.type, info.value, info.tb)) > 2
        assert shown and "Run All stopped here" in shown[0][-1]
    finally:
        kernel._mark, shell._showtraceback = old, old_show
