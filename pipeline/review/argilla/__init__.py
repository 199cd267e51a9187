"""Argilla: pushing queues to and pulling answers from any Argilla 2.x server, and a local server for small panels.

May import: ``pipeline.review``, ``review_store``, ``taxonomy``, the argilla SDK."""

# records per push request, each batch marked pushed once sent (benchmarks/argilla_push.py measures it)
PUSH_BATCH = 50
