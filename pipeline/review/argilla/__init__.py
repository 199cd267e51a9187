"""Argilla: pushing queues to and pulling answers from any Argilla 2.x server, and a local server for small panels.

May import: ``pipeline.review``, ``review_store``, ``taxonomy``, the argilla SDK."""

# records per push request, each batch marked pushed once sent: 200 pushed 1.15x the records/s of 50 into a
# local Argilla, and 500 or 1000 no more (benchmarks/argilla_push.py, 2026-12-01)
PUSH_BATCH = 200
