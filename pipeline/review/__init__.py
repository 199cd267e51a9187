"""Human review: panels, annotators, queues, answers, agreement, and the Argilla sync with its local server.

May import: ``pipeline.text``, ``review_store``, ``taxonomy``; never an engine."""
