"""Overview: the store at a glance (prompts, the funnel to human-validated pairs, next steps, labels, runs)."""

import altair as alt
import pandas as pd
import streamlit as st

from pipeline.app.runs import run_rows
from pipeline.app.shared import read, store_path, taxonomy
from pipeline.text.cells import markdown_literal as literal
from review_store import Store

st.set_page_config(page_title="Overview · misalign studio", layout="wide")
st.title("Overview")
st.caption(f"Store: {literal(store_path())}")

status = read(Store.overview)
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
                  help=f"{dedup['removed']:,} near-duplicates removed" if dedup else "misalign dedup has not run")

st.subheader("Funnel: from prompts to human-validated pairs")
pairs = status["pairs"] or {"by_status": {}, "candidates": {}}
human = status["review"]["human_statuses"]
by_status = pairs["by_status"]
# one unit all the way down: prompts (each prompt gets at most one pair)
funnel = pd.DataFrame([
    ("prompts", prompts["total"]),
    ("kept after dedup", dedup["kept"] if dedup else prompts["total"]),
    ("with a pair", sum(by_status.values())),
    ("pair accepted or borderline", by_status.get("accepted", 0) + by_status.get("borderline", 0)),
    ("pair accepted by people", human.get("human_accepted", 0)),
], columns=["stage", "prompts"])
st.altair_chart(alt.Chart(funnel, title="Prompts at each stage").mark_bar().encode(
    x=alt.X("prompts:Q", title="prompts", axis=alt.Axis(tickMinStep=1, format="d")),
    y=alt.Y("stage:N", sort=None, title=None, axis=alt.Axis(labelLimit=300)), tooltip=["stage", "prompts"]),
    width="stretch")
st.caption(f"Pairs: {by_status.get('accepted', 0):,} accepted, {by_status.get('borderline', 0):,} borderline, "
           f"{by_status.get('rejected', 0):,} rejected by the pipeline; {human.get('needs_adjudication', 0):,} need "
           "adjudication by people.")
steps = []
if human.get("needs_adjudication"):
    steps.append(f"{human['needs_adjudication']} pairs need adjudication: Agreement page")
pending = sum(r["items"] - (r["complete"] or 0) for r in read(Store.review_progress))
if pending:
    steps.append(f"{pending} review items wait for answers: Review page (or misalign review push)")
if by_status.get("borderline"):
    steps.append(f"{by_status['borderline']} borderline pairs: queue them for people (misalign review queue)")
if steps:
    st.subheader("Next steps")
    for step in steps:  # our words and counts only
        st.markdown(f"- {step}")
if status["review"]["example_answers"]:
    st.caption(f"Human verdicts include {status['review']['example_answers']} example answers shipped with the demo "
               "(by example annotators); answers you give on the Review page count alongside them.")
if not status["pairs"]:
    st.caption("Next: misalign label, misalign dedup, then misalign pairs (or --import your own responses).")

st.subheader("Labels per dimension")
rows = [
    {"labeler": labeler, "dimension": taxonomy().dimension_names.get(dimension, dimension),
     "domains used": len(c["domains"]),
     "labelled prompts": sum(c["domains"].values()), "None": c["none"], "Unknown": c["unknown"]}
    for labeler, dims in status["labels"].items() for dimension, c in dims.items()
]
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
unsure = [labeler for labeler, dims in status["labels"].items()
          if not any(c["domains"] for c in dims.values()) and any(c["none"] for c in dims.values())]
for labeler in unsure:  # a labelling model that never reached δ reads as "no domain applies" unless said
    st.caption(literal(labeler) + " assigned no domain to any prompt: its most probable domain stayed below δ "
               "everywhere, so every prompt reads None. A labelling model fitted on a few hundred prompts is that unsure; "
               "the Domains page shows its probabilities, and misalign label models its cross-validated figures.")

st.subheader("Last stage runs")
runs = read(Store.stage_runs, limit=10)
st.dataframe(pd.DataFrame(run_rows(runs)), hide_index=True, width="stretch")
