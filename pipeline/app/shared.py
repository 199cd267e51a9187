"""What the Streamlit pages share: the store they read, read-only, and a cache keyed on its change counter.
A page holds no store: it reads through :func:`read` and acts through :mod:`pipeline.app.actions`."""

from __future__ import annotations

import os
from collections.abc import Callable

import streamlit as st

from pipeline.export.splits import PairTable, pair_table
from review_store import APP_READS, Store
from taxonomy import Taxonomy, load_taxonomy


def store_path() -> str:
    """The store the app reads: ``MISALIGN_DB`` (set by ``misalign app``), else ./misalign.db."""
    return os.environ.get("MISALIGN_DB", "misalign.db")


def read(query: Callable, **kwargs):
    """A store read, cached until the store changes: ``read(Store.overview)`` is ``Store.overview()`` on a
    read-only connection. Only the queries of ``review_store.APP_READS`` are taken: a page reads through here
    and cannot reach a write."""
    if query not in APP_READS:
        raise TypeError(f"{getattr(query, '__qualname__', query)!r} is not a query the app may read "
                        "(review_store.APP_READS)")
    current = reader()
    return _cached_read(current.path, current.change_counter(), query.__name__, tuple(sorted(kwargs.items())))


def reader() -> Store:
    """The app's read-only connection to its store (one per path, shared across reruns)."""
    return _open_reader(store_path())


@st.cache_resource
def _open_reader(path: str) -> Store:
    Store(path).close()  # a new store is created, an older one brought up to date, once
    return Store(path, read_only=True)


@st.cache_data(show_spinner=False)
def _cached_read(path: str, change_counter: int, query: str, kwargs: tuple):
    return getattr(_open_reader(path), query)(**dict(kwargs))


def export_pair_table() -> PairTable:
    """Every pair's export columns, read once per store change; export previews then only filter and split."""
    current = reader()
    return _pair_table(current.path, current.change_counter())


@st.cache_resource(max_entries=1, show_spinner="Reading the pairs…")  # not copied per use, unlike cache_data
def _pair_table(path: str, change_counter: int) -> PairTable:
    return pair_table(_open_reader(path))


@st.cache_resource
def taxonomy() -> Taxonomy:
    """The taxonomy the app shows (``MISALIGN_TAXONOMY`` or the shipped one)."""
    return load_taxonomy(os.environ.get("MISALIGN_TAXONOMY"))
