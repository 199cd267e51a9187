"""The automated stages of misalign, its engines, metrics, the ``misalign`` CLI and what the app shares.

Subpackages, lowest first: ``text`` (pure), ``engines``, ``stages``, ``review``, ``bench``, ``export``,
``demo``, ``app``, ``cli``; each may import only those before it, ``review_store`` and ``taxonomy``.
"""
