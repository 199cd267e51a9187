"""Runs: every stage run with its counts, drop reasons and throughput."""

import pandas as pd
import streamlit as st

from pipeline.app.pair_card import reason_words
from pipeline.app.runs import figure_rows, run_name, run_rows
from pipeline.app.shared import read
from review_store import Store

st.set_page_config(page_title="Runs · misalign studio", layout="wide")
st.title("Stage runs")
runs = read(Store.stage_runs, limit=500)
if not runs:
    st.info("No stage has run on this store yet.")
    st.stop()

st.dataframe(pd.DataFrame(run_rows(runs)), hide_index=True, width="stretch")

chosen = st.selectbox("Details of", runs, format_func=run_name)
if chosen["dropped"]:
    st.write("Dropped, by reason")
    st.dataframe(pd.DataFrame([{"reason": reason_words(reason), "items": n} for reason, n in chosen["dropped"].items()]),
                 hide_index=True)
else:
    st.caption("Nothing dropped.")
for title, figures in (("Figures the run recorded", chosen["notes"]), ("Settings it ran with", chosen["params"])):
    with st.expander(title):  # every value, in words; long ones in full on hover
        st.dataframe(pd.DataFrame(figure_rows(figures), columns=["what", "value"]), hide_index=True, width="stretch",
                     column_config={"value": st.column_config.TextColumn(width="large")})
