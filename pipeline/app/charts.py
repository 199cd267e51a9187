"""Charts more than one page draws: the trade-off matrix, where a click on a cell lists the pairs
behind it, each saying what the model flagged.

Example, on a page::

    tradeoff_explorer(figures, taxonomy, "Trade-offs of gpt", key="matrix", benchmark=group_id, model="gpt")
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from pipeline.app.pair_card import show_pair
from pipeline.app.shared import read
from pipeline.bench.report import MIN_INTERVAL_ITEMS
from pipeline.text.cells import markdown_literal as literal
from review_store import Store
from taxonomy import Taxonomy

CELL = "cell"  # the selection's name: what a click on the matrix returns


def tradeoff_cells(figures: dict, taxonomy: Taxonomy) -> pd.DataFrame:
    """One row per off-diagonal cell: dimension ids and names, the share (None: no pair labelled in both)
    and how many pairs are behind it."""
    names = taxonomy.dimension_names
    rows = []
    for d1, row in figures["matrix"].items():
        for d2, (share, _) in row.items():
            if d1 == d2:
                continue
            share = None if share is None or share != share else share
            behind = figures["behind"][f"{d1}>{d2}"]["total"]
            rows.append({"right": d1, "wrong": d2, "right on": names[d1], "wrong on": names[d2], "share": share,
                         "pairs": behind, "few": behind < MIN_INTERVAL_ITEMS,
                         "label": "no pairs in both" if share is None else f"{share:.2f} ({behind})"})
    return pd.DataFrame(rows)


def tradeoff_chart(figures: dict, taxonomy: Taxonomy, title: str) -> alt.LayerChart:
    """The dimension × dimension matrix: share of pairs right on the row's dimension and wrong on the
    column's, the pairs behind it in each cell; grey where no pair is labelled in both; click a cell.
    ``title``: what the figures are of (a run, a domain), the chart's first subtitle line."""
    cells = tradeoff_cells(figures, taxonomy)
    order = list(taxonomy.dimension_names.values())
    x = alt.X("wrong on:N", sort=order, title="wrong on", axis=alt.Axis(labelAngle=0, orient="top", labelFontSize=13))
    y = alt.Y("right on:N", sort=order, title="right on", axis=alt.Axis(labelFontSize=13))
    click = alt.selection_point(name=CELL, fields=["right", "wrong"], on="click")
    base = alt.Chart(cells, title=alt.TitleParams(
        "Right on one dimension, wrong on another", anchor="start",
        subtitle=[title, "each cell: share of the pairs labelled in both (pairs behind it); click a cell",
                  f"faded: fewer than {MIN_INTERVAL_ITEMS} pairs, too few to read much into"]))
    empty = base.mark_rect(stroke="white", strokeWidth=2, color="#e6e6e6").encode(x=x, y=y)  # no pair in both
    shares = base.transform_filter("isValid(datum.share)").mark_rect(stroke="white", strokeWidth=2, cursor="pointer").encode(
        x=x, y=y, color=alt.Color("share:Q", scale=alt.Scale(domain=[0, 1], scheme="blues"), title="share",
                                  legend=alt.Legend(gradientLength=150)),
        opacity=alt.when(alt.datum.few).then(alt.value(0.3)).when(click).then(alt.value(1.0)).otherwise(alt.value(0.55)),
        tooltip=["right on", "wrong on", "share", "pairs"]).add_params(click)
    text = base.mark_text(fontSize=15).encode(
        x=x, y=y, text="label:N",
        color=alt.condition("datum.share > 0.6 && !datum.few", alt.value("white"), alt.value("black")))
    return (empty + shares + text).properties(height=260)


def clicked_cell(event) -> str | None:
    """The cell a click chose, as "right>wrong" dimension ids, or None."""
    chosen = (event or {}).get("selection", {}).get(CELL) or []
    return f"{chosen[0]['right']}>{chosen[0]['wrong']}" if chosen else None


def linked_cell(event, key: str, cells) -> str | None:
    """The chosen cell, kept in the URL (``?cell=``) so a link reopens it: a click sets it, a click
    that clears the selection removes it, and a page opened from a link starts from it. A link's cell
    that is not one of ``cells`` is said and dropped."""
    cell, had = clicked_cell(event), f"{key}-had-selection"
    if cell:
        st.query_params["cell"] = cell
    elif st.session_state.get(had):
        st.query_params.pop("cell", None)
    st.session_state[had] = bool(cell)
    linked = st.query_params.get("cell")
    if linked is not None and linked not in cells:
        st.warning(literal(f"The link's cell {linked!r} is not a cell of this matrix (right>wrong dimension ids); "
                           "showing none."))
        st.query_params.pop("cell", None)
        return None
    return linked


def tradeoff_explorer(figures: dict, taxonomy: Taxonomy, title: str, key: str, benchmark: str, model: str,
                      shown: int = 20) -> None:
    """The clickable matrix, and under it the pairs behind the chosen cell (the first ``shown``), each
    with what ``model`` flagged on each response in ``benchmark``."""
    names = taxonomy.dimension_names
    event = st.altair_chart(tradeoff_chart(figures, taxonomy, title), on_select="rerun", key=key, width="stretch")
    cell = linked_cell(event, key, figures["behind"])
    if cell is None:
        st.caption("Click a cell to see the pairs behind it.")
        return
    right, wrong = cell.split(">")
    behind = figures["behind"][cell]
    listed = min(shown, len(behind["pairs"]))
    st.markdown(f"**Right on {literal(names[right])}, wrong on {literal(names[wrong])}: {behind['total']} pairs**"
                + (f" (the first {listed} shown)" if behind["total"] > listed else ""))
    pairs = read(Store.pairs_by_ids, pair_ids=behind["pairs"], limit=shown)
    context = read(Store.pair_context, pair_ids=[p["id"] for p in pairs])
    flags = read(Store.pair_bench_flags, group_id=benchmark, pair_ids=[p["id"] for p in pairs])
    for pair in pairs:
        show_pair(pair, context[pair["id"]], taxonomy, flagged=(model, flags.get(pair["id"], {})))
