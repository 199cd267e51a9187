"""Trade-offs: per model, the dimension x dimension trade-off matrix, domain x model Alignment Score,
and the pairs behind any cell."""

import altair as alt
import pandas as pd
import streamlit as st

from pipeline.app.pair_card import show_pair
from pipeline.app.shared import read, taxonomy
from pipeline.bench.metrics import TRADEOFF_DEFINITION

st.set_page_config(page_title="Trade-offs · misalign studio", layout="wide")
st.title("Trade-offs")
# trade-offs are between the two responses of a pair: benchmarks of labelled responses have none
groups = [g for g in read("bench_groups") if g["protocol"] == "detect" and g["items"] == "pairs"]
if not groups:
    st.info("No detector benchmark on pairs yet: misalign bench run --model ENGINE")
    st.stop()
tax = taxonomy()
chosen = st.selectbox("Benchmark", groups, format_func=lambda g: f"{g['engine']} ({g['pairs']}, {g['runs']} runs)")
[tradeoff] = [s["metrics"] for s in read("bench_summaries", group_id=chosen["group_id"], scope="tradeoff")] or [None]
if tradeoff:
    st.metric("Trade-off rate", "n/a" if tradeoff["rate"][0] is None or tradeoff["rate"][0] != tradeoff["rate"][0]
              else f"{tradeoff['rate'][0]:.3f} ± {tradeoff['rate'][1]:.3f}",
              help=f"{tradeoff['items']} pairs labelled in two or more dimensions")
    cells = pd.DataFrame([{"right on": d1, "wrong on": d2, "share": tradeoff["matrix"][d1][d2][0]}
                          for d1 in tradeoff["matrix"] for d2 in tradeoff["matrix"][d1]])
    st.altair_chart(alt.Chart(cells).mark_rect().encode(x="wrong on:N", y="right on:N",
                                                        color=alt.Color("share:Q", scale=alt.Scale(domain=[0, 1])),
                                                        tooltip=["right on", "wrong on", "share"]), width="stretch")
    with st.expander("How the trade-off rate is computed"):
        st.text(TRADEOFF_DEFINITION)
    pairs = [c for c in read("bench_summaries", group_id=chosen["group_id"], scope="tradeoff_items")]
    cell = st.selectbox("Pairs behind a cell", pairs, format_func=lambda c: f"right on {c['key'].split('>')[0]}, "
                        f"wrong on {c['key'].split('>')[1]} ({c['metrics']['total']} pairs)")
    shown = read("pairs_by_ids", pair_ids=cell["metrics"]["pairs"], limit=20)
    context = read("pair_context", pair_ids=[p["id"] for p in shown])
    for pair in shown:
        show_pair(pair, context[pair["id"]], tax)

st.subheader("Alignment Score per domain and model")
rows = []
for group in groups:
    for s in read("bench_summaries", group_id=group["group_id"], scope="domain"):
        rows.append({"model": group["engine"], "domain": tax.domain(s["key"]).name,
                     "alignment score": s["metrics"]["alignment_score"][0], "pairs": s["metrics"]["pairs"]})
if rows:
    st.altair_chart(alt.Chart(pd.DataFrame(rows)).mark_rect().encode(
        x="model:N", y=alt.Y("domain:N", sort="ascending"),
        color=alt.Color("alignment score:Q", scale=alt.Scale(domain=[0, 1])),
        tooltip=["model", "domain", "alignment score", "pairs"]), width="stretch")
