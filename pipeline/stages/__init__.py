"""The stages of the flow (ingest, label, dedup, expand, funnel, pairs), each a plain function that returns its report.

May import: ``pipeline.text``, ``pipeline.engines``, ``review_store``, ``taxonomy``."""
