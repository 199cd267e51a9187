"""What the Streamlit pages share: the store they read, cached reads, names for ids.

May import: ``pipeline.text``, ``pipeline.stages`` (reads only), ``pipeline.review``, ``pipeline.bench`` (metrics), ``pipeline.export``, ``review_store``, ``taxonomy``; never ``pipeline.engines``."""
