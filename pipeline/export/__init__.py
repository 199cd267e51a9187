"""Export: leakage-free stratified splits of the pairs, their files and the dataset card.

May import: ``pipeline.text``, ``review_store``, ``taxonomy``; never an engine."""
