import base64
import re
import shutil

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from mtrl_lib.book import widgets as W  # noqa: E402
from mtrl_lib.book.chapters import ROOT  # noqa: E402
from mtrl_lib.book.widgets import explorer, one_of  # noqa: E402
from mtrl_lib.progress import progress_bar, static_mode  # noqa: E402

JS = ROOT / "book" / "_static" / "mtrl-explorer.js"
CSS = ROOT / "book" / "_static" / "mtrl-explorer.css"


@pytest.fixture
def shown(monkeypatch):
    """What ``explorer`` displays (instead of sending it to a frontend)."""
    out = []
    monkeypatch.setattr(W, "display", lambda obj, **kw: out.append(obj))
    return out


def _draw(calls):
    def draw(T, family):
        calls.append((T, family))
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, 1], [0, T if family == "linear" else -T])
        ax.set_title(f"T = {T:g}, {family}")
    return draw


def test_static_explorer_draws_the_grid_of_exact_values(monkeypatch, shown):
    monkeypatch.setenv("MTRL_STATIC", "1")
    calls = []
    ret = explorer(_draw(calls), T=one_of([1, 0.05, 100], value=0.05, label="tasks T"),
                   family=one_of(["linear", "quadratic"], label="family"))
    assert ret is None and len(shown) == 1
    html = shown[0]["text/html"]
    assert sorted(calls, key=repr) == sorted([(t, f) for t in (1, 0.05, 100) for f in ("linear", "quadratic")], key=repr)
    assert html.startswith('<div class="mtrl-explorer">')
    assert len(re.findall(r'<input type="range"', html)) == 1 and len(re.findall(r"<select", html)) == 1
    assert "&quot;0.05&quot;" in html and "0.0501" not in html          # the slider's labels are the values
    keys = re.findall(r'data-mtrl-key="([^"]+)"', html)
    assert sorted(keys) == sorted(f"{i},{j}" for i in range(3) for j in range(2))
    shown_first = [re.search(r'data-mtrl-key="([^"]+)"', tag).group(1)
                   for tag in re.findall(r"<img [^>]*>", html) if " hidden" not in tag]
    assert shown_first == ["1,0"]                                           # the initial values: 0.05, linear
    pngs = [base64.b64decode(s) for s in re.findall(r"data:image/png;base64,([^\"]+)", html)]
    assert len(pngs) == 6 and all(p.startswith(b"\x89PNG") for p in pngs) and len(set(pngs)) == 6
    assert plt.get_fignums() == []                                          # every figure was closed


def test_static_explorer_fixes_a_control_with_one_static_value(monkeypatch, shown):
    monkeypatch.setenv("MTRL_STATIC", "1")
    calls = []
    explorer(_draw(calls), T=one_of([1, 10, 100], static=[1, 100]),
             family=one_of(["linear", "quadratic"], static=["quadratic"]))
    html = shown[0]["text/html"]
    assert calls == [(1, "quadratic"), (100, "quadratic")]
    assert "<select" not in html and "family: quadratic" in html


def test_static_grid_too_large_fails_before_drawing(monkeypatch, shown):
    monkeypatch.setenv("MTRL_STATIC", "1")
    calls = []
    with pytest.raises(ValueError, match="at most 16"):
        explorer(_draw(calls), T=one_of(range(9)), family=one_of(["linear", "quadratic"]))
    assert calls == []


def test_live_explorer_is_shown_once_and_holds_exact_values(monkeypatch, shown):
    monkeypatch.delenv("MTRL_STATIC", raising=False)
    calls = []
    ret = explorer(_draw(calls), T=one_of([0.01, 0.05, 0.1], value=0.05, label="eta_W"),
                   family=one_of(["linear", "quadratic"]))
    assert ret is None and len(shown) == 1                    # displayed once, nothing returned to show again
    ui = shown[0]
    assert isinstance(ui, widgets.interactive) and calls == [(0.05, "linear")]
    slider, menu = ui.children[:2]
    assert isinstance(slider, widgets.SelectionSlider) and isinstance(menu, widgets.Dropdown)
    assert [v for _, v in slider.options] == [0.01, 0.05, 0.1] and slider.value == 0.05
    slider.value = 0.1
    assert calls[-1] == (0.1, "linear")
    menu.value = "quadratic"
    assert calls[-1] == (0.1, "quadratic")


def test_explorer_still_takes_ipywidgets(monkeypatch, shown):
    monkeypatch.setenv("MTRL_STATIC", "1")
    calls = []
    explorer(_draw(calls), T=widgets.IntSlider(value=3, min=1, max=5),
             family=widgets.Dropdown(options=["linear", "quadratic"], value="linear"))
    assert calls == [(3, "linear"), (3, "quadratic")]      # a slider without options stays at its value


def test_control_rejects_values_it_does_not_hold():
    with pytest.raises(ValueError, match="not one of"):
        one_of([0.01, 0.1], value=0.05)
    with pytest.raises(ValueError, match="subset"):
        one_of([1, 2], static=[3])
    with pytest.raises(ValueError, match="distinct"):
        one_of([1, 1])


def test_static_explorer_swaps_the_figure_in_chromium(monkeypatch, shown, tmp_path, chromium):
    """The explorer's HTML with the book's script, in headless Chromium: every control changes the figure."""
    monkeypatch.setenv("MTRL_STATIC", "1")
    explorer(_draw([]), T=one_of([1, 10, 100], value=10), family=one_of(["linear", "quadratic"]))
    shutil.copy(JS, tmp_path / JS.name)
    shutil.copy(CSS, tmp_path / CSS.name)
    (tmp_path / "page.html").write_text(f'<!doctype html><html><head><link rel="stylesheet" href="{CSS.name}">'
                                        f'<script src="{JS.name}"></script></head><body>'
                                        f'{shown[0]["text/html"]}</body></html>')
    page = chromium.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((tmp_path / "page.html").as_uri())
    shown_src = lambda: page.eval_on_selector_all(  # noqa: E731
        ".mtrl-explorer img", "els => els.filter(e => e.offsetParent !== null).map(e => e.src)")
    first = shown_src()
    assert len(first) == 1
    page.locator("input[type=range]").focus()
    page.keyboard.press("ArrowRight")
    second = shown_src()
    assert len(second) == 1 and second != first and page.locator("output").inner_text() == "100"
    page.locator("select").select_option(label="quadratic")
    third = shown_src()
    assert len(third) == 1 and third not in (first, second)
    page.close()
    assert not errors, errors


def test_progress_bar_is_silent_in_static_mode(monkeypatch, capsys):
    monkeypatch.setenv("MTRL_STATIC", "1")
    assert static_mode()
    assert list(progress_bar(range(3), True)) == [0, 1, 2]
    assert capsys.readouterr().err == ""
