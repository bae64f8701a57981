"""The source's experiments and the CLI commands built on them; each writes JSON + a PNG drawn from it.

One module per command (``demo``, ``train_cmd``, ``export`` for ``grow``, ``heatmap``, ``stability``,
``robustness``); import the function from its module, e.g. ``from graphnca.experiments.heatmap import heatmap``.
"""
