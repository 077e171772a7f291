"""Explorers: a figure with controls, live in Jupyter and precomputed in the static book.

A chapter's "Explore" section calls ``explorer(draw, **controls)``: ``draw(**values)`` draws one Matplotlib
figure, and each control lists the exact values a reader can pick (the values the prose states: no slider
snapping 0.05 to 0.0501)::

    explorer(draw,
             T=one_of([1, 10, 100], value=10, label="tasks T"),
             family=one_of(["linear", "quadratic"], label="family"))

- **Live Jupyter**: one ipywidgets ``interactive``: a ``SelectionSlider`` over the numbers, a ``Dropdown``
  over strings, which redraws on release. The function displays it and returns ``None``, so the cell shows it
  once (a returned widget would be displayed a second time).
- **Static book** (``MTRL_STATIC=1``, set by the book runner): :func:`static_explorer_html` draws every
  combination of the controls' ``static`` values (a small grid: at most :data:`MAX_FRAMES` figures, all
  computed while the chapter executes) and displays one HTML block: a root ``div.mtrl-explorer`` with native
  ``<input type="range">`` / ``<select>`` controls and one ``<img>`` per figure, all but the current one
  hidden. ``book/_static/mtrl-explorer.js`` (served with the book, no network) shows the figure of the
  controls' values when one changes. Without JavaScript the reader still sees the figure at the initial values.

A control is a :class:`Control` (from :func:`one_of`), a plain list of values, or, as before, an ipywidgets
widget (used as is in Jupyter; in the book it offers its ``options`` if it has them, else it stays fixed).
(``one_of``, not ``control``: chapters have a parameter named ``control``, their negative controls.)
"""
from __future__ import annotations

import base64
import html
import io
import itertools
import json
from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from ..progress import static_mode
from . import plotting

MAX_FRAMES = 16     # figures precomputed per explorer for the book (the quick book has a 10-minute budget)
DPI = plotting.DPI  # of the precomputed figures, as the inline figures of the book (figure() at 110 dpi: 720 px)


@dataclass(frozen=True)
class Control:
    """One control of an explorer.

    values: every value offered in Jupyter, exactly (numbers -> a slider over them, strings -> a menu).
    value:  the initial value (default: the first).
    label:  the text beside the control (default: the keyword's name).
    static: the values precomputed for the book, a subset of ``values`` (default: all of them). With a single
            value the control is fixed in the book (shown as text, not as a control).
    """
    values: tuple
    value: object = None
    label: str | None = None
    static: tuple | None = None

    def __post_init__(self):
        values = tuple(self.values)
        if not values:
            raise ValueError("a control needs at least one value")
        if len(set(map(repr, values))) != len(values):
            raise ValueError(f"control values must be distinct, got {list(values)}")
        value = values[0] if self.value is None else self.value
        if value not in values:
            raise ValueError(f"initial value {value!r} is not one of the values {list(values)}")
        static = values if self.static is None else tuple(self.static)
        if not static or any(v not in values for v in static):
            raise ValueError(f"static values {list(static)} must be a non-empty subset of {list(values)}")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "static", static)

    @property
    def is_menu(self) -> bool:
        return all(isinstance(v, str) for v in self.values)

    def initial_static(self):
        """The value the book shows first: the initial value where it is precomputed."""
        return self.value if self.value in self.static else self.static[0]

    def widget(self, name: str) -> widgets.ValueWidget:
        label = self.label or name
        if self.is_menu:
            return widgets.Dropdown(options=list(self.values), value=self.value, description=label,
                                    style={"description_width": "initial"})
        return widgets.SelectionSlider(options=[(fmt_value(v), v) for v in self.values], value=self.value,
                                       description=label, continuous_update=False,
                                       style={"description_width": "initial"})


def one_of(values, value=None, label: str | None = None, static=None) -> Control:
    """A control over exactly ``values`` (see :class:`Control`)."""
    return Control(tuple(values), value, label, None if static is None else tuple(static))


def fmt_value(v) -> str:
    """How a control shows a value: ``0.05``, ``10``, ``linear``."""
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def as_control(name: str, spec) -> tuple[Control, widgets.ValueWidget | None]:
    """A :class:`Control` for ``spec`` (Control, list/tuple, or an ipywidgets widget), and the widget itself
    when one was given (so that Jupyter keeps it exactly as the chapter built it)."""
    if isinstance(spec, Control):
        return spec, None
    if isinstance(spec, (list, tuple, range)):
        return one_of(spec), None
    if isinstance(spec, widgets.ValueWidget):
        label = getattr(spec, "description", None) or name
        options = getattr(spec, "options", None)
        if options:
            values = tuple(o[1] if isinstance(o, tuple) else o for o in options)
            return one_of(values, spec.value, label), spec
        return one_of([spec.value], spec.value, label), spec
    raise TypeError(f"explorer control {name} must be a one_of(...), a list of values or an ipywidgets "
                    f"widget, got {type(spec).__name__}")


def explorer(draw, /, **controls) -> None:
    """Show ``draw``'s figure with ``controls`` (name -> :func:`one_of`, list of values, or widget): live
    ipywidgets in Jupyter, a precomputed grid in the book (``MTRL_STATIC=1``). Returns ``None``."""
    if not controls:
        raise ValueError("an explorer needs at least one control")
    specs = {k: as_control(k, spec) for k, spec in controls.items()}
    if static_mode():
        html_text = static_explorer_html(draw, {k: c for k, (c, _) in specs.items()})
        display({"text/html": html_text,
                 "text/plain": "(explorer: open the chapter in the book or rerun it in Jupyter)"}, raw=True)
    else:
        display(live_explorer(draw, specs))
    return None


def live_explorer(draw, specs: dict) -> widgets.interactive:
    """The ipywidgets ``interactive`` of an explorer (drawn once at the initial values, redrawn on change)."""
    ws = {k: (w if w is not None else c.widget(k)) for k, (c, w) in specs.items()}
    return widgets.interactive(lambda **kw: (draw(**kw), plt.show()), **ws)


def _png(draw, values: dict) -> bytes:
    """Draw one figure and return it as PNG bytes (closing it, so nothing else shows it)."""
    before = set(plt.get_fignums())
    out = draw(**values)
    fig = out if isinstance(out, plt.Figure) else plt.gcf()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    for num in set(plt.get_fignums()) - before:
        plt.close(num)
    plt.close(fig)
    return _smaller_png(buf.getvalue())


def _smaller_png(data: bytes) -> bytes:
    """The same picture as a 256-colour PNG when that is smaller (line plots: about half the bytes)."""
    from PIL import Image

    img = Image.open(io.BytesIO(data)).convert("RGB")
    buf = io.BytesIO()
    img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        buf, format="PNG", optimize=True)
    return buf.getvalue() if buf.tell() < len(data) else data


def static_explorer_html(draw, controls: dict[str, Control]) -> str:
    """Draw every combination of the controls' static values and return the explorer's HTML (see module)."""
    varying = [k for k, c in controls.items() if len(c.static) > 1]
    fixed = {k: c.static[0] for k, c in controls.items() if len(c.static) == 1}
    n_frames = 1
    for k in varying:
        n_frames *= len(controls[k].static)
    if n_frames > MAX_FRAMES:
        raise ValueError(f"the explorer's static grid has {n_frames} figures (at most {MAX_FRAMES}): give fewer "
                         f"static= values to {', '.join(varying)}")
    start = tuple(controls[k].static.index(controls[k].initial_static()) for k in varying)
    parts = ['<div class="mtrl-explorer">', '<div class="mtrl-explorer-controls">']
    for k, i0 in zip(varying, start):
        c = controls[k]
        label = html.escape(c.label or k)
        if c.is_menu:
            options = "".join(f'<option value="{i}"{" selected" if i == i0 else ""}>{html.escape(fmt_value(v))}'
                              f'</option>' for i, v in enumerate(c.static))
            parts.append(f'<label><span>{label}</span> <select name="{html.escape(k)}" data-mtrl-control>'
                         f'{options}</select></label>')
        else:
            labels = html.escape(json.dumps([fmt_value(v) for v in c.static]))
            parts.append(f'<label><span>{label}</span> <input type="range" name="{html.escape(k)}" min="0" '
                         f'max="{len(c.static) - 1}" step="1" value="{i0}" data-mtrl-control '
                         f'data-labels="{labels}" aria-valuetext="{html.escape(fmt_value(c.static[i0]))}"> '
                         f'<output>{html.escape(fmt_value(c.static[i0]))}</output></label>')
    for k, v in fixed.items():
        parts.append(f'<span class="mtrl-explorer-fixed">{html.escape(controls[k].label or k)}: '
                     f'{html.escape(fmt_value(v))}</span>')
    parts.append('</div>')
    for idx in itertools.product(*(range(len(controls[k].static)) for k in varying)):
        values = {**{k: controls[k].static[i] for k, i in zip(varying, idx)}, **fixed}
        data = base64.b64encode(_png(draw, values)).decode()
        alt = html.escape("figure at " + ", ".join(f"{controls[k].label or k} = {fmt_value(v)}"
                                                    for k, v in values.items()))
        hidden = "" if idx == start else " hidden"
        parts.append(f'<img class="mtrl-explorer-figure" data-mtrl-key="{",".join(map(str, idx))}" '
                     f'src="data:image/png;base64,{data}" alt="{alt}"{hidden}>')
    parts.append('</div>')
    return "\n".join(parts)
