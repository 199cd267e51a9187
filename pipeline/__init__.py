"""The automated stages of misalign, its engines, metrics and the ``misalign`` CLI."""
