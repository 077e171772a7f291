"""One module per chapter: a frozen ``Params`` dataclass (the chapter's parameters, validated on
construction, defaults = the ``quick`` profile) and a ``run(params)`` function that does all the chapter's
computation and returns plain results for the notebook to plot and glue."""
