"""``misalign.toml``'s stage sections checked by models built from the stages' Options dataclasses
(``settings``); the stages themselves are declared in ``pipeline.registry``.

May import: every room below it (``pipeline.text``, ``pipeline.engines``, ``pipeline.labelling``,
``pipeline.stages``, ``pipeline.review``, ``pipeline.export``, ``pipeline.steer``, ``pipeline.bench``),
``review_store``, ``taxonomy``.
"""
