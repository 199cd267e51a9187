"""The labelling models the studio fits and how every labelling is scored: the learned labelling model
(``model``: per dimension a regression on MiniLM and TF-IDF features, grouped cross-validation,
temperature calibration) and the labelling figures every report uses (``figures``).

Imports ``pipeline.text`` and the base (``pipeline.errors``, ``pipeline.defaults``, ``review_store``,
``taxonomy``) only; the label stage (``pipeline.stages``), review and benchmarks build on it.
"""
