"""The loop's stages by name (``STAGES``): what the CLI, the demo and ``benchmarks/full_scale.py`` use
to find and run them, each under one contract.

May import: every room below it (``pipeline.text``, ``pipeline.engines``, ``pipeline.labelling``,
``pipeline.stages``, ``pipeline.review``, ``pipeline.export``, ``pipeline.steer``, ``pipeline.bench``),
``review_store``, ``taxonomy``; a stage's code is imported only when it runs.
"""
