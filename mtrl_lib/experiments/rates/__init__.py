"""The rooms of the chapter "Baselines, controls and rates" (:mod:`mtrl_lib.experiments.baselines_and_rates`),
one job a module, so that an edit to the analysis, the prose numbers, the step grid or the explorer cannot reach
the code a unit runs (a store key covers only that code):

``setting``      the chapter's parameters (:class:`~.setting.Params`) and the names every room shares: the
                 families, the base cases, the methods and feature sets, the final-error window and the escape
                 level (the unit reads these);
``plan``         which runs the chapter needs: one configuration per point of every sweep and base case;
``fits``         per-seed fits: slopes of log error on log x, the curvature of the escape round, the power laws
                 the figures draw;
``reduce``       arrays over seeds from the units' results;
``analysis``     the verdict's criteria and the Holm family behind the prose's direction words;
``prose``        every number and computed phrase the chapter's prose quotes (the glue);
``linrep_grid``  the linear representation's step sizes, chosen on the network's grid (its own command line:
                 ``python -m mtrl_lib.experiments.rates.linrep_grid``);
``explore``      the Explore section's live moment estimators.

The unit itself (:func:`mtrl_lib.experiments.baselines_and_rates.network_unit`) and the chapter's ``run`` live
in the chapter module, which re-exports the names of these rooms that the notebook and the tests use. Imports
run one way: the chapter module imports the rooms, a room never imports the chapter module.
"""
