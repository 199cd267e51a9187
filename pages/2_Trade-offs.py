"""Trade-offs: per model, the dimension x dimension trade-off matrix, domain x model Alignment Score,
and the pairs behind any cell."""

import altair as alt
import pandas as pd
import streamlit as st

from pipeline.app.pair_card import show_pair
from pipeline.app.shared import read, taxonomy
from pipeline.bench.metrics import TRADEOFF_DEFINITION
from pipeline.bench.report import mean_sd_text

st.set_page_config(page_title="Trade-offs · misalign studio", layout="wide")
st.title("Trade-offs")
# trade-offs are between the two responses of a pair: benchmarks of labelled responses have none
groups = [g for g in read("bench_groups") if g["protocol"] == "detect" and g["items"] == "pairs"]
if not groups:
    st.info("No detector benchmark on pairs yet: misalign bench run --model ENGINE")
    st.stop()
tax = taxonomy()
names = tax.dimension_names
chosen = st.selectbox("Benchmark", groups, format_func=lambda g: f"{g['engine']} on {g['pairs']} pairs, "
                      f"{g['runs']} run{'s' if g['runs'] > 1 else ''}")


[tradeoff] = [s["metrics"] for s in read("bench_summaries", group_id=chosen["group_id"], scope="tradeoff")] or [None]
if tradeoff:
    st.metric("Trade-off rate", mean_sd_text(tradeoff["rate"], chosen["runs"]),
              help=f"{tradeoff['items']} pairs labelled in two or more dimensions")
    behind = {c["key"]: c["metrics"]["total"] for c in read("bench_summaries", group_id=chosen["group_id"],
                                                           scope="tradeoff_items")}
    cells = pd.DataFrame([{"right on": names[d1], "wrong on": names[d2], "share": tradeoff["matrix"][d1][d2][0],
                           "pairs": behind.get(f"{d1}>{d2}", 0)}
                          for d1 in tradeoff["matrix"] for d2 in tradeoff["matrix"][d1] if d1 != d2])
    cells["label"] = [("no pairs" if v != v or v is None else f"{v:.2f} ({n})") for v, n in
                      zip(cells["share"], cells["pairs"])]
    order = [names[d] for d in names]
    base = alt.Chart(cells, title="Share of pairs right on one dimension and wrong on another (pairs behind it)")
    matrix = base.mark_rect(stroke="white").encode(
        x=alt.X("wrong on:N", sort=order, axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("right on:N", sort=order),
        color=alt.Color("share:Q", scale=alt.Scale(domain=[0, 1], scheme="blues"), title="share"),
        tooltip=["right on", "wrong on", "share", "pairs"])
    text = base.mark_text(fontSize=14).encode(x=alt.X("wrong on:N", sort=order), y=alt.Y("right on:N", sort=order),
                                              text="label:N")
    st.altair_chart((matrix + text).properties(height=240), width="stretch")
    with st.expander("How the trade-off rate is computed"):
        st.text(TRADEOFF_DEFINITION)
    pairs = [c for c in read("bench_summaries", group_id=chosen["group_id"], scope="tradeoff_items")]
    cell = st.selectbox("Pairs behind a cell", pairs, format_func=lambda c: f"right on {names[c['key'].split('>')[0]]}, "
                        f"wrong on {names[c['key'].split('>')[1]]} ({c['metrics']['total']} pairs)")
    shown = read("pairs_by_ids", pair_ids=cell["metrics"]["pairs"], limit=20)
    context = read("pair_context", pair_ids=[p["id"] for p in shown])
    for pair in shown:
        show_pair(pair, context[pair["id"]], tax)

st.subheader("Alignment Score per domain and model")
rows = []
for group in groups:
    for s in read("bench_summaries", group_id=group["group_id"], scope="domain"):
        domain = tax.domain(s["key"])
        score = s["metrics"]["alignment_score"][0]
        rows.append({"model": group["engine"], "dimension": names[domain.dimension], "domain": domain.name,
                     "alignment score": None if score is None or score != score else score,
                     "pairs": s["metrics"]["pairs"]})
if rows:
    table = pd.DataFrame(rows)
    table["row"] = table["dimension"] + " · " + table["domain"]
    order = [f"{names[d.dimension]} · {d.name}" for d in tax.domains]  # grouped by dimension, taxonomy order
    base = alt.Chart(table, title="Alignment Score per domain and model (grey: no score, e.g. no aligned response)")
    y = alt.Y("row:N", sort=order, title=None, axis=alt.Axis(labelLimit=500, labelOverlap=False))
    x = alt.X("model:N", title=None, axis=alt.Axis(labelAngle=0, orient="top"))
    tooltip = ["model", "dimension", "domain", "alignment score", "pairs"]
    scored = base.transform_filter("isValid(datum['alignment score'])").mark_rect(stroke="white").encode(
        x=x, y=y, color=alt.Color("alignment score:Q", scale=alt.Scale(domain=[0, 1], scheme="blues")), tooltip=tooltip)
    unscored = base.transform_filter("!isValid(datum['alignment score'])").mark_rect(
        stroke="white", color="#dddddd").encode(x=x, y=y, tooltip=tooltip)
    st.altair_chart((unscored + scored).properties(height=20 * table["row"].nunique()), width="stretch")
