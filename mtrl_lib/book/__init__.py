"""Publishing: how the science in :mod:`mtrl_lib` becomes a book, a command line and a results store.

The runner (papermill), the rebuild cache, glue, the chapter registry, provenance, widgets, figures'
shared style, executors, the results store and the benchmark. Imports run one way: this package imports
the science modules (``mtrl_lib.tasks`` ... ``mtrl_lib.experiments``), never the reverse.
"""


def _in_a_live_kernel() -> None:
    """In a reader's Jupyter kernel: one-line parameter errors, stale prose marked (:mod:`.kernel`)."""
    import sys

    if "ipykernel" not in sys.modules:
        return
    try:
        from .kernel import install

        install()
    except Exception:  # noqa: BLE001 - a courtesy for readers in Jupyter; never stop an import for it
        pass


_in_a_live_kernel()
