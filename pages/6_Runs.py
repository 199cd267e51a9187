"""Runs: every stage run with its counts, drop reasons and throughput."""

import pandas as pd
import streamlit as st

from pipeline.app.shared import read

st.set_page_config(page_title="Runs · misalign studio", layout="wide")
st.title("Stage runs")
runs = read("stage_runs", limit=500)
if not runs:
    st.info("No stage has run on this store yet.")
    st.stop()

table = pd.DataFrame([
    {
        "id": r["id"], "stage": r["stage"], "started_at": r["started_at"], "in": r["items_in"],
        "kept": r["kept"], "dropped": sum(r["dropped"].values()), "seconds": r["seconds"],
        "items/s": round(r["items_in"] / r["seconds"]) if r["seconds"] else None,
    }
    for r in runs
])
st.dataframe(table, hide_index=True, width="stretch")

run_id = st.selectbox("Details of run", [r["id"] for r in runs])
chosen = next(r for r in runs if r["id"] == run_id)
st.write("Dropped by reason")
st.json(chosen["dropped"])
st.write("Figures")
st.json(chosen["notes"])
st.write("Parameters")
st.json(chosen["params"])
