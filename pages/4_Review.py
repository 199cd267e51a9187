"""Review: an annotation tool. Choose or add yourself, filter by queue or domain, go back and skip,
answer the same questions as in Argilla (required ones marked), see your progress."""

import pandas as pd
import streamlit as st

from pipeline.app.pair_card import domain_words, reason_words, short_title, status_words
from pipeline.app.actions import answer_labels, answer_pair, join_panel
from pipeline.app.shared import read, taxonomy
from pipeline.errors import UsageError
from pipeline.review.label_review import LABEL_QUEUE, label_answer_values, label_questions
from pipeline.review.queues import (NOT_MISALIGNED, QUESTIONS, dimension_choice_words, judge_suggestions,
                                    judge_view)
from pipeline.text.cells import markdown_literal as literal
from review_store import Store

ALL = "(all)"
ATTRIBUTES = ("culture", "language", "locale", "gender", "age_band")
QUEUE_WORDS = {"borderline": "borderline pairs", "rejected": "rejected pairs", "uncertain_label": "unsure labels",
               "audit": "audit sample", LABEL_QUEUE: "prompts to label"}

st.set_page_config(page_title="Review · misalign studio", layout="wide")
st.title("Review")
panels = read(Store.panels)
if not panels:
    st.info("No review panels yet.")
    st.code('misalign review panel add "South Asia" --min-submissions 3\n'
            'misalign review annotator add asha --panel "South Asia" --culture IN --language hi\n'
            'misalign review queue --panel "South Asia"', language="bash")
    st.stop()

columns = st.columns(2)
panel = columns[0].selectbox("Panel", [p["name"] for p in panels])
settings = next(p for p in panels if p["name"] == panel)
members = read(Store.annotators, panel=panel)
names = [m["name"] for m in members]
added = st.session_state.pop("just_added", None)  # who just added themselves starts as themselves
annotator = columns[1].selectbox("I am", names, index=names.index(added) if added in names else None,
                                 placeholder="choose your name" if names else "no annotators yet: add yourself below")
with st.expander("Add me to this panel", expanded=not names):
    with st.form("add-annotator", clear_on_submit=True):
        name = st.text_input("Name *", help="How your answers are signed; also your Argilla user name.")
        fields = st.columns(len(ATTRIBUTES))
        given = {a: fields[i].text_input(a.replace("_", " ").capitalize(), help="optional") for i, a in enumerate(ATTRIBUTES)}
        if st.form_submit_button("Add me"):
            if not name.strip():
                st.error("Give your name to join the panel.")
            elif name.strip() in names:
                st.error(literal(f"{name.strip()} is already on this panel: choose the name above."))
            elif any(a["name"] == name.strip() for a in read(Store.annotators)):  # someone else's, on another panel
                st.error(literal(f"{name.strip()} is already an annotator on another panel: choose another name, "
                                 "or ask whoever runs the study to add them to this panel."))
            else:
                try:
                    join_panel(name.strip(), panel, **{k: v.strip() or None for k, v in given.items()})
                except UsageError as exc:
                    st.error(literal(exc))
                else:
                    st.session_state["saved"] = f"Welcome, {literal(name.strip())}: your first item is below."
                    st.session_state["just_added"] = name.strip()
                    st.rerun()

progress = [r for r in read(Store.review_progress) if r["panel"] == panel]
if progress:
    st.dataframe(pd.DataFrame([{"queue": QUEUE_WORDS.get(r["queue"], r["queue"]), "items": r["items"],
                                "complete": r["complete"] or 0, "answers": r["submissions"] or 0,
                                "in Argilla": r["pushed"], "answers needed per item": r["min_submissions"]}
                               for r in progress]), hide_index=True, width="stretch")
    st.caption("Answers given here and in Argilla (brought back by misalign review pull) count together.")
if "saved" in st.session_state:  # the last answer's confirmation stays until the next one
    st.success(st.session_state.pop("saved"))
if annotator is None:
    st.stop()

person = members[names.index(annotator)]
attributes = ", ".join(f"{k.replace('_', ' ')} {person[k]}" for k in ATTRIBUTES if person.get(k))
st.caption(literal(f"{annotator}: {attributes or 'no attributes given'}") + (" (example annotator)" if person["is_example"] else ""))

pending = read(Store.pending_items, annotator=annotator, panel=panel, limit=100_000)
mine = read(Store.answered_items, annotator=annotator, panel=panel)  # latest first
if pending:
    st.progress(len(mine) / (len(mine) + len(pending)),
                text=f"You: {len(mine)} answered, {len(pending)} to go in this panel")
else:
    st.success(f"Nothing left for you in this panel's queues ({len(mine)} answered).")
REVISE = f"Revise my answers ({len(mine)})"
mode = st.radio("What to do", ["Answer waiting items", REVISE], horizontal=True, label_visibility="collapsed",
                index=0 if pending else 1) if mine else None
if mode != REVISE and not pending:
    st.stop()
tax = taxonomy()


if mode == REVISE:  # your own answers, latest first: the new one replaces it, the old one stays in the history
    chosen = st.selectbox("Your answer to revise", range(len(mine)), format_func=lambda i: (
        f"{QUEUE_WORDS.get(mine[i]['queue'], mine[i]['queue'])}: {short_title(mine[i]['prompt'])} "
        f"(answered {mine[i]['answer']['submitted_at'][:16].replace('T', ' ')} UTC)"))
    item, previous = mine[chosen], mine[chosen]["answer"]
    st.caption("Your earlier answer is filled in: change what you want and submit. Both are kept, the new one counts.")
else:
    previous = None
    pair_domains = read(Store.pair_domains, pair_ids=[i["pair_id"] for i in pending if i["pair_id"]])
    filters = st.columns(2)
    queues = sorted({i["queue"] for i in pending})
    queue = filters[0].selectbox("Queue", [ALL, *queues], format_func=lambda q: QUEUE_WORDS.get(q, q))
    in_domains = sorted({d for i in pending if i["pair_id"] for d in pair_domains.get(i["pair_id"], [])},
                        key=lambda d: (tax.domain(d).dimension, tax.domain(d).name))
    domain = filters[1].selectbox("Domain", [ALL, *in_domains], format_func=lambda d: d if d == ALL else
                                  f"{tax.dimension_names[tax.domain(d).dimension]}: {tax.domain(d).name}")
    shown = [i for i in pending if queue in (ALL, i["queue"])
             and (domain == ALL or domain in pair_domains.get(i["pair_id"], []))]
    if not shown:
        st.info("Nothing waits for you with these filters.")
        st.stop()

    # where you are in the filtered list: Back and Skip move, an answer takes the item out of it
    position_key = f"position-{panel}-{annotator}-{queue}-{domain}"
    position = min(st.session_state.get(position_key, 0), len(shown) - 1)

    def move(step: int) -> None:  # runs before the page does, so the buttons below see the new position
        st.session_state[position_key] = position + step

    moves = st.columns([1, 1, 6])
    moves[0].button("← Back", disabled=position == 0, width="stretch", on_click=move, args=(-1,))
    moves[1].button("Skip →", disabled=position == len(shown) - 1, width="stretch", on_click=move, args=(1,))
    item = shown[position]
    moves[2].markdown(f"**Item {position + 1} of {len(shown)}** waiting for you" +
                      (" with these filters" if len(shown) < len(pending) else ""))

st.subheader(QUEUE_WORDS.get(item["queue"], item["queue"]).capitalize())
if item["queue"] in ("borderline", "rejected", "audit"):  # queued for the pair's own reasons: say them in words
    st.caption(literal("Why it is here: " + ("; ".join(reason_words(c) for c in item["reason_codes"])
                                             or reason_words("audit_sample"))))
else:  # the labelling model's doubt, as the queue wrote it
    st.caption(literal(item["reason"]))
st.caption("Questions marked * need an answer.")
# texts are adversarial by design: shown as plain text, never as markdown or HTML
if item["queue"] == LABEL_QUEUE:
    st.markdown("**Prompt**")
    st.text(item["prompt"])
    before = label_answer_values(tax, previous["labels"]) if previous and previous["labels"] else {}
    with st.form(f"answer-{item['id']}"):
        answers = {q.name: st.selectbox(f"{q.title} *", q.options, placeholder="choose one", help=q.description or None,
                                        index=q.options.index(before[q.name]) if q.name in before else None,
                                        format_func=q.option_words().get)  # by group and name; stored as names
                   for q in label_questions(tax)}
        if st.form_submit_button("Submit", type="primary"):
            try:
                labels = answer_labels(tax, item["id"], annotator, answers)
            except UsageError as exc:
                st.error(literal(exc))
            else:
                st.session_state["saved"] = (f"Saved. The panel's labels for that prompt: {len(labels)} of "
                                             f"{len(label_questions(tax))} decided so far.")
                st.rerun()
    st.stop()

about = read(Store.pair_context, pair_ids=[item["pair_id"]])[item["pair_id"]]
st.caption(literal(f"Domains: {domain_words(about['domains'], tax)} · Pipeline: {status_words(item['status'])}"))
for label, key in (("Prompt", "prompt"), ("Aligned response", "aligned"), ("Misaligned response", "misaligned")):
    st.markdown(f"**{label}**")
    st.text(item[key] or "(no candidate passed)")
scores = {slot: v["probability"] for slot, v in about["judge"].items()}
if settings["show_suggestions"]:  # only where the panel opted in: otherwise people answer unanchored
    st.caption(literal(f"The judge's view (answer from your own reading): {judge_view(scores, item['judge'])}"))
suggested = {q: answer for q, (answer, _) in judge_suggestions(scores).items()} if settings["show_suggestions"] else {}
if previous:  # a revision starts from the person's own answer, never the judge's
    suggested = {q.name: previous[q.name] for q in QUESTIONS if previous.get(q.name) is not None}
with st.form(f"answer-{item['id']}"):
    answers = {}
    for q in QUESTIONS:
        title = f"{q.title} *" if q.required else q.title
        if q.kind == "label":
            index = q.options.index(suggested[q.name]) if suggested.get(q.name) in q.options else None
            answers[q.name] = st.radio(title, q.options, index=index, help=q.description or None, horizontal=True)
        elif q.kind == "multi_label":  # dimensions by their names; stored as the questions' codes
            answers[q.name] = st.multiselect(title, q.options, default=[o for o in suggested.get(q.name) or []
                                                                        if o in q.options],
                                             help=q.description or None, format_func=dimension_choice_words(tax).get)
        else:
            answers[q.name] = st.text_area(title, value=suggested.get(q.name) or "", help=q.description or None)
    if suggested and not previous:
        st.caption("This panel asked for the judge's answers pre-selected: change them freely.")
    if st.form_submit_button("Submit", type="primary"):
        try:
            if "not_misaligned" in answers["misaligned_dimensions"] and len(answers["misaligned_dimensions"]) > 1:
                raise UsageError(f"'{NOT_MISALIGNED}' cannot go with a dimension the response violates: pick one or "
                                 "the other")
            status = answer_pair(item["id"], annotator, answers)
        except UsageError as exc:
            st.error(literal(exc))
        else:
            st.session_state["saved"] = f"Saved. The pair, from people: {status_words(status) if status else 'waiting for more answers'}."
            st.rerun()
