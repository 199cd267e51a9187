"""The demo: the whole loop on CPU with the embedded engines over demo data written for this project (``data/``).

May import: every stage, ``review_store``, ``taxonomy``."""
