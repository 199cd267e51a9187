"""Agreement: alpha and kappa per panel and domain with intervals, panel divergence, the
disagreement queue and adjudication."""

import altair as alt
import pandas as pd
import streamlit as st

from pipeline.review.agreement import agreement
from pipeline.review.label_review import labellers_against_people
from pipeline.app.shared import read, store
from pipeline.text.cells import markdown_literal as literal
from pipeline.review.queues import adjudicate, disagreements

st.title("Agreement")
if not read("annotations"):
    st.info("No answers yet: review on the Review page or pull from Argilla (misalign review pull).")
    st.stop()
examples = sum(a["is_example"] or 0 for a in read("annotations"))
if examples:
    st.caption(f"{examples} of these answers are examples shipped with the demo (annotators marked as examples); "
               "add your own on the Review page.")
answer = st.radio("Question", ["pair_valid", "aligned_acceptable"], horizontal=True)
result = agreement(store(), answer, samples=300)


def rows(figures: dict, name: str) -> dict:
    return {"scope": name, "items": figures["items"], "answers": figures["answers"],
            "alpha": figures["alpha"], "alpha 95% CI": "[{:.2f}, {:.2f}]".format(*figures["alpha_ci"]),
            "Fleiss kappa": figures["fleiss_kappa"], "Fleiss 95% CI": "[{:.2f}, {:.2f}]".format(*figures["fleiss_ci"]),
            "mean Cohen kappa": figures["cohen_mean"]}


for panel, figures in result["panels"].items():
    st.subheader(literal(panel))
    st.dataframe(pd.DataFrame([rows(figures, "all")] + [rows(f, d) for d, f in figures["domains"].items()]),
                 hide_index=True, width="stretch")
if result["divergence"]:
    st.subheader("Divergence between panels")
    st.dataframe(pd.DataFrame([{"panels": " vs ".join(d["panels"]), "pairs": d["pairs"],
                                "mean |difference in yes|": d["mean_abs_difference"],
                                "verdicts differ": d["verdicts_differ"]} for d in result["divergence"]]),
                 hide_index=True, width="stretch")

people = labellers_against_people(store())
if people:
    st.subheader("Labellers against people's labels")
    st.caption("Each model labeller's agreement with a panel's labels (label review queue), on prompts people "
               "labelled after that labeller was made; a refit after corrections appears after the one before.")
    table = pd.DataFrame(people)
    st.altair_chart(alt.Chart(table, title="Agreement with people's labels, labeller by labeller").mark_line(
        point=True).encode(x=alt.X("made:T", title="labeller made"), y=alt.Y("agreement:Q", title="agreement",
                                                                             scale=alt.Scale(domain=[0, 1])),
                           color=alt.Color("dimension:N", title="dimension"), strokeDash="panel:N",
                           tooltip=["panel", "labeller", "dimension", "prompts", alt.Tooltip("agreement", format=".2f")]),
                    width="stretch")
    st.dataframe(table, hide_index=True, width="stretch")

st.subheader("Disagreement queue")
queue = disagreements(store())
if not queue:
    st.caption("No pair needs adjudication.")
    st.stop()
pair = st.selectbox("Pair", queue, format_func=lambda p: f"{p['id']}: {p['prompt'][:70]}")
for label, key in (("Prompt", "prompt"), ("Aligned response", "aligned"), ("Misaligned response", "misaligned")):
    st.markdown(f"**{label}**")
    st.text(pair[key] or "")
st.text("votes: " + "; ".join(f"{panel}: {', '.join(f'{a} {v}' for a, v in sorted(votes.items()))}"
                              for panel, votes in sorted(pair["votes"].items())))
with st.form("adjudicate"):
    status = st.radio("Decision", ["human_accepted", "human_rejected"], horizontal=True)
    who = st.text_input("Adjudicator")
    note = st.text_area("Note")
    if st.form_submit_button("Decide"):
        if not who.strip():
            st.error("Say who decides.")
        else:
            adjudicate(store(), pair["id"], status, who.strip(), note)
            st.success(f"{pair['id']}: {literal(status)}")
            st.rerun()
