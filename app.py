"""misalign studio: overview of the current store. Run with ``misalign app``."""

import altair as alt
import pandas as pd
import streamlit as st

from pipeline.app.shared import read, store_path
from pipeline.text.cells import markdown_literal as literal

st.set_page_config(page_title="misalign studio", layout="wide")
st.title("misalign studio")
st.caption(f"Store: {literal(store_path())}")

status = read("overview")
prompts = status["prompts"]

if not prompts["total"]:
    st.info("This store is empty.")
    st.markdown("Add prompts from a CSV, JSONL or Parquet file, optionally with existing labels:")
    st.code("misalign ingest prompts.csv --text-col prompt \\\n"
            "    --labels safety=safety_name,value=values_name,culture=cultural_name", language="bash")
    st.markdown("Then reload this page. `misalign status` prints the same counts in the terminal.")
    st.stop()

dedup = status["dedup"]
columns = st.columns(4)
columns[0].metric("Prompts", f"{prompts['total']:,}")
columns[1].metric("Source rows", f"{prompts['source_rows']:,}")
columns[2].metric("Labelers", len(status["labels"]))
columns[3].metric("Kept after dedup", f"{dedup['kept']:,}" if dedup else "not run",
                  delta=f"-{dedup['removed']:,} near-duplicates" if dedup else None, delta_color="off")

st.subheader("Funnel: from prompts to human-validated pairs")
pairs = status["pairs"] or {"by_status": {}, "candidates": {}}
human = status["review"]["human_statuses"]
funnel = pd.DataFrame([
    ("prompts", prompts["total"]),
    ("kept after dedup", dedup["kept"] if dedup else prompts["total"]),
    ("candidate responses", sum(pairs["candidates"].values())),
    ("pairs", sum(pairs["by_status"].values())),
    ("pairs accepted", pairs["by_status"].get("accepted", 0)),
    ("human accepted", human.get("human_accepted", 0)),
], columns=["stage", "count"])
st.altair_chart(alt.Chart(funnel).mark_bar().encode(x="count:Q", y=alt.Y("stage:N", sort=None), tooltip=["stage", "count"]),
                width="stretch")
if status["review"]["example_answers"]:
    st.caption(f"Human verdicts include {status['review']['example_answers']} example answers shipped with the demo "
               "(by example annotators); answers you give on the Review page count alongside them.")
if not status["pairs"]:
    st.caption("Next: misalign label, misalign dedup, then misalign pairs (or --import your own responses).")

st.subheader("Labels per dimension")
rows = [
    {"labeler": labeler, "dimension": dimension, "domains used": len(c["domains"]),
     "labelled prompts": sum(c["domains"].values()), "None": c["none"], "Unknown": c["unknown"]}
    for labeler, dims in status["labels"].items() for dimension, c in dims.items()
]
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

st.subheader("Last stage runs")
runs = read("stage_runs", limit=10)
st.dataframe(
    pd.DataFrame([{k: r[k] for k in ("id", "stage", "started_at", "items_in", "kept", "seconds")} for r in runs]),
    hide_index=True, width="stretch",
)
