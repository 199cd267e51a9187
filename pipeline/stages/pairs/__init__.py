"""Stage I-b: aligned/misaligned pairs by two-stage rejection sampling: the run, its templates, rules, importer.

May import: ``pipeline.text``, ``pipeline.engines``, ``pipeline.stages``, ``review_store``, ``taxonomy``."""
