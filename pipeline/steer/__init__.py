"""Steering vectors built from curated pairs (:mod:`pipeline.steer.build`: the steer stage and its
methods); applied by the hf engine.

May import: ``pipeline.text``, ``pipeline.engines``, ``pipeline.export.options`` (the dimension and domain
filters, checked as export checks them), ``review_store``, ``taxonomy``.
"""
