"""Agreement: alpha and kappa per panel and domain with intervals, panel divergence, the
disagreement queue and adjudication."""

import altair as alt
import pandas as pd
import streamlit as st

from pipeline.app.actions import agreement_figures, decide, models_against_people, pairs_to_adjudicate
from pipeline.app.pair_card import short_title, show_pair, status_words
from pipeline.app.shared import read, taxonomy
from pipeline.bench.report import MIN_INTERVAL_ITEMS, interval_text, number_text
from pipeline.text.cells import markdown_literal as literal
from review_store import Store

st.set_page_config(page_title="Agreement · misalign studio", layout="wide")
st.title("Agreement")
answers = read(Store.answer_counts)  # counted in the store, not here
if not answers["answers"]:
    st.info("No answers yet: review on the Review page or pull from Argilla (misalign review pull).")
    st.stop()
examples = answers["examples"]
if examples:
    st.caption(f"{examples} of these answers are examples shipped with the demo (annotators marked as examples); "
               "add your own on the Review page.")
QUESTIONS = {"pair_valid": "Is this a valid pair?", "aligned_acceptable": "Is the aligned response acceptable?"}
answer = st.radio("Question", list(QUESTIONS), format_func=QUESTIONS.get, horizontal=True)
result = agreement_figures(answer, samples=300)
tax = taxonomy()


def interval(bounds, items: int) -> str:
    """An interval only where it means something: none on fewer than MIN_INTERVAL_ITEMS items."""
    return interval_text(bounds, 2, missing="—", items=items)


def rows(figures: dict, name: str) -> dict:
    return {"scope": name, "items": figures["items"], "answers": figures["answers"],
            "alpha": number_text(figures["alpha"], 2), "alpha 95% CI": interval(figures["alpha_ci"], figures["items"]),
            "Fleiss kappa": number_text(figures["fleiss_kappa"], 2),
            "Fleiss 95% CI": interval(figures["fleiss_ci"], figures["items"]),
            "mean Cohen kappa": number_text(figures["cohen_mean"], 2)}


for panel, figures in result["panels"].items():
    st.subheader(literal(panel))
    st.dataframe(pd.DataFrame([rows(figures, "all domains")] + [rows(f, tax.domain(d).name)
                                                                for d, f in figures["domains"].items()]),
                 hide_index=True, width="stretch",
                 column_config={"scope": st.column_config.TextColumn(width="large")})  # domain names whole
    st.caption("n/a: nothing to agree on (one answer, or everyone gave the same); intervals shown from "
               f"{MIN_INTERVAL_ITEMS} items up.")
if result["divergence"]:
    st.subheader("Divergence between panels")
    st.dataframe(pd.DataFrame([{"panels": " vs ".join(d["panels"]), "pairs": d["pairs"],
                                "mean |difference in yes|": d["mean_abs_difference"],
                                "verdicts differ": d["verdicts_differ"]} for d in result["divergence"]]),
                 hide_index=True, width="stretch")

people = models_against_people(taxonomy())
if people:
    st.subheader("Labelling models against people's labels")
    st.caption("Each model labelling model's top-1 among real domains against a panel's labels (label review queue), "
               "on prompts people labelled after that labelling model was made; a refit after corrections appears after "
               "the one before. The same figure as every labelling report and benchmarks/label_loop.py.")
    table = pd.DataFrame(people)
    st.altair_chart(alt.Chart(table, title="Top-1 against people's labels, labelling model by labelling model").mark_line(
        point=True).encode(x=alt.X("made:T", title="labelling model made"),
                           y=alt.Y("top-1 among real domains:Q", title="top-1 among real domains",
                                   scale=alt.Scale(domain=[0, 1])),
                           color=alt.Color("dimension:N", title="dimension"), strokeDash="panel:N",
                           tooltip=["panel", "labelling model", "dimension", "prompts",
                                    alt.Tooltip("top-1 among real domains", format=".2f"),
                                    alt.Tooltip("accuracy", format=".2f")]),
                    width="stretch")
    st.dataframe(table, hide_index=True, width="stretch")

st.subheader("Disagreement queue")
if "decided" in st.session_state:  # the last decision's confirmation stays until the next one
    st.success(literal(st.session_state.pop("decided")))
queue = pairs_to_adjudicate()
if not queue:
    st.caption("No pair needs adjudication.")
    st.stop()
st.caption(f"{len(queue)} pairs need adjudication.")
pair = st.selectbox("Pair", queue, format_func=lambda p: f"{queue.index(p) + 1}. {short_title(p['prompt'], 80)}")
[full] = read(Store.pairs_by_ids, pair_ids=[pair["id"]])
show_pair(full, read(Store.pair_context, pair_ids=[pair["id"]])[pair["id"]], taxonomy(), expanded=True)
with st.form("adjudicate"):
    status = st.radio("Decision", ["human_accepted", "human_rejected"], index=None, horizontal=True,
                      format_func=status_words)
    who = st.text_input("Adjudicator")
    note = st.text_area("Note")
    if st.form_submit_button("Decide"):
        if status is None:
            st.error("Choose a decision.")
        elif not who.strip():
            st.error("Say who decides.")
        else:
            decide(pair["id"], status, who.strip(), note)
            st.session_state["decided"] = f"Decided: {short_title(pair['prompt'], 80)} — {status_words(status)}."
            st.rerun()
