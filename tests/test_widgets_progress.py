import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from mtrl_lib.progress import progress_bar, static_mode  # noqa: E402
from mtrl_lib.book.widgets import explorer  # noqa: E402


def test_explorer_static_mode_draws_once_and_shows_no_widget(monkeypatch):
    monkeypatch.setenv("MTRL_STATIC", "1")
    calls = []
    ui = explorer(lambda n: (calls.append(n), plt.figure()), n=widgets.IntSlider(value=3, min=1, max=5))
    assert ui is None and calls == [3]


def test_explorer_live_mode_redraws_on_change(monkeypatch):
    monkeypatch.delenv("MTRL_STATIC", raising=False)
    calls = []
    slider = widgets.IntSlider(value=2, min=1, max=5)
    ui = explorer(lambda n: (calls.append(n), plt.figure()), n=slider)
    assert isinstance(ui, widgets.interactive) and calls == [2]
    slider.value = 4
    assert calls[-1] == 4


def test_progress_bar_is_silent_in_static_mode(monkeypatch, capsys):
    monkeypatch.setenv("MTRL_STATIC", "1")
    assert static_mode()
    assert list(progress_bar(range(3), True)) == [0, 1, 2]
    assert capsys.readouterr().err == ""
