"""Argilla: pushing queues to and pulling answers from any Argilla 2.x server, and a local server for small panels.

May import: ``pipeline.review``, ``review_store``, ``taxonomy``, the argilla SDK."""
