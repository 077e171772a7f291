"""Live explorers for the chapters: sliders in Jupyter, one static figure in the book.

``explorer(draw, **sliders)`` always calls ``draw`` once with the sliders' initial values, so the executed
notebook (and the book page) holds a static figure. In a live Jupyter session it also shows the ipywidgets
controls, which redraw on change. When the book runner executes a chapter (``MTRL_STATIC=1``) the controls
are not displayed: a widget view cannot render in a static, offline page.
"""
from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from ..progress import static_mode


def explorer(draw, **sliders):
    """``draw(**values)`` must create a Matplotlib figure. ``sliders``: name -> ipywidgets control."""
    values = {k: w.value for k, w in sliders.items()}
    if static_mode():
        draw(**values)
        plt.show()
        return None
    ui = widgets.interactive(lambda **kw: (draw(**kw), plt.show()), **sliders)
    display(ui)
    return ui
