"""The ``misalign`` command line: one module per command group, heavy modules imported only by the commands using them.

May import: everything in ``pipeline`` (lazily), ``review_store``, ``taxonomy``."""
