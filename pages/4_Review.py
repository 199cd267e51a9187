"""Review: an annotator picks who they are and answers the same questions as in Argilla."""

import pandas as pd
import streamlit as st

from pipeline.app.pair_card import status_words
from pipeline.app.shared import read, store, taxonomy
from pipeline.text.cells import markdown_literal as literal
from pipeline.errors import UsageError
from pipeline.review.label_review import LABEL_QUEUE, label_questions, submit_labels
from pipeline.review.queues import QUESTIONS, submit

st.set_page_config(page_title="Review · misalign studio", layout="wide")
st.title("Review")
panels = read("panels")
if not panels:
    st.info("No review panels yet.")
    st.code('misalign review panel add "South Asia" --min-submissions 3\n'
            'misalign review annotator add asha --panel "South Asia" --culture IN --language hi\n'
            'misalign review queue --panel "South Asia"', language="bash")
    st.stop()

panel = st.selectbox("Panel", [p["name"] for p in panels])
members = read("annotators", panel=panel)
progress = [r for r in read("review_progress") if r["panel"] == panel]
if progress:
    st.dataframe(pd.DataFrame(progress)[["queue", "items", "complete", "submissions", "pushed", "min_submissions"]],
                 hide_index=True, width="stretch")
if not members:
    st.info(f"Panel {literal(panel)} has no annotators yet: add one with misalign review annotator add NAME --panel PANEL")
    st.stop()

names = [m["name"] for m in members]
annotator = st.selectbox("I am", names, index=None, placeholder="choose your name")
if annotator is None:
    st.stop()
person = members[names.index(annotator)]
attributes = ", ".join(f"{k.replace('_', ' ')} {person[k]}" for k in ("locale", "culture", "language", "gender",
                                                                       "age_band") if person.get(k))
st.caption(literal(f"{annotator}: {attributes or 'no attributes given'}") + (" (example annotator)" if person["is_example"] else ""))

if "saved" in st.session_state:  # the last answer's confirmation stays until the next one
    st.success(st.session_state.pop("saved"))
pending = read("pending_items", annotator=annotator, panel=panel, limit=100_000)
answered = sum(a["annotator"] == annotator for a in read("annotations", panel=panel))
if not pending:
    st.success(f"Nothing left for you in this panel's queues ({answered} answered).")
    st.stop()
item = pending[0]
st.progress(answered / (answered + len(pending)),
            text=f"Item {answered + 1} of {answered + len(pending)} for you in this panel ({len(pending)} to go)")
st.subheader(f"Queue: {literal(item['queue'])}")
st.caption(literal(item["reason"]))
# texts are adversarial by design: shown as plain text, never as markdown or HTML
if item["queue"] == LABEL_QUEUE:
    st.markdown("**Prompt**")
    st.text(item["prompt"])
    with st.form(f"answer-{item['id']}"):
        answers = {q.name: st.selectbox(q.title, q.options, index=None, placeholder="choose one",
                                        help=q.description or None) for q in label_questions(taxonomy())}
        if st.form_submit_button("Submit"):
            try:
                labels = submit_labels(store(), taxonomy(), item["id"], annotator, answers, backend="app")
            except UsageError as exc:
                st.error(literal(exc))
            else:
                st.session_state["saved"] = f"Saved. The panel's labels for that prompt: {len(labels)} of 4 decided so far."
                st.rerun()
    st.stop()

for label, key in (("Prompt", "prompt"), ("Aligned response", "aligned"), ("Misaligned response", "misaligned")):
    st.markdown(f"**{label}**")
    st.text(item[key] or "(no candidate passed)")

with st.form(f"answer-{item['id']}"):
    answers = {}
    for q in QUESTIONS:
        if q.kind == "label":
            answers[q.name] = st.radio(q.title, q.options, index=None, help=q.description or None, horizontal=True)
        elif q.kind == "multi_label":
            answers[q.name] = st.multiselect(q.title, q.options, help=q.description or None)
        else:
            answers[q.name] = st.text_area(q.title, help=q.description or None)
    if st.form_submit_button("Submit"):
        try:
            status = submit(store(), item["id"], annotator, answers, backend="app")
        except UsageError as exc:
            st.error(literal(exc))
        else:
            st.session_state["saved"] = f"Saved. The pair, from people: {status_words(status) if status else 'waiting for more answers'}."
            st.rerun()
