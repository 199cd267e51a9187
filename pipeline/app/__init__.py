"""What the Streamlit pages share: the store they read, cached reads, names for ids.

May import: ``pipeline.text``, ``pipeline.stages.funnel``, ``pipeline.review``, ``pipeline.bench`` (metrics, report),
``pipeline.export``, ``review_store``, ``taxonomy``; never ``pipeline.engines`` (the app never calls a model)."""
