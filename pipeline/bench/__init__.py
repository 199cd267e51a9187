"""Benchmarks: protocols run against engines, their metrics, persona raters, summaries and reports.

May import: ``pipeline.text``, ``pipeline.engines``, ``pipeline.stages``, ``pipeline.review``, ``review_store``, ``taxonomy``."""
