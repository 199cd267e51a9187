"""Runs: every stage run with its counts, drop reasons and throughput."""

import pandas as pd
import streamlit as st

from pipeline.app.pair_card import reason_words
from pipeline.app.runs import run_name, run_rows
from pipeline.app.shared import read

st.set_page_config(page_title="Runs · misalign studio", layout="wide")
st.title("Stage runs")
runs = read("stage_runs", limit=500)
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
with st.expander("Figures the run recorded"):
    st.json(chosen["notes"])
with st.expander("Parameters it ran with"):
    st.json(chosen["params"])
