"""Publishing: how the science in :mod:`mtrl_lib` becomes a book, a command line and a results store.

The runner (papermill), the rebuild cache, glue, the chapter registry, provenance, widgets, figures'
shared style, executors, the results store and the benchmark. Imports run one way: this package imports
the science modules (``mtrl_lib.tasks`` ... ``mtrl_lib.experiments``), never the reverse.
"""
