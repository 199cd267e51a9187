"""One pair card for every page that shows a pair: the prompt and both responses as plain text,
the pair's domains per dimension, its kind, statuses and reasons in words, the judge's scores and
rationales, and (where the page may show them) people's answers and comments.

Example, on a page::

    for pair in read(Store.pairs_by_ids, pair_ids=ids):
        show_pair(pair, context[pair["id"]], taxonomy())
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pipeline.review.queues import dimension_choice_words
from pipeline.text.cells import markdown_literal as literal
from taxonomy import DIMENSIONS, Taxonomy

STATUS_WORDS = {"accepted": "accepted by the pipeline", "borderline": "borderline (the judge was unsure)",
                "rejected": "rejected by the pipeline", "human_accepted": "accepted by people",
                "human_rejected": "rejected by people", "needs_adjudication": "people disagree: needs adjudication"}
REASON_WORDS = {"empty": "is empty", "truncated": "was cut off at the length limit", "too_short": "is too short",
                "too_long": "is too long", "not_english": "is not in English", "repetition": "repeats itself",
                "refusal": "refuses", "near_identical": "is nearly identical to the other response",
                "judge_borderline": "left the judge unsure", "judge_fail": "did not convince the judge",
                "judge_unusable": "got an unusable answer from the judge", "no_candidate": "has no candidate that passed",
                "recovered_by_resampling": "passed after resampling", "resampling_exhausted": "used up its resampling"}


BACKEND_WORDS = {"app": "the app", "argilla": "Argilla", "demo": "the demo's examples"}


def status_words(status: str | None) -> str:
    """A pipeline or human status as a reader says it.

    >>> status_words("human_accepted"), status_words(None)
    ('accepted by people', 'not yet decided by people')
    """
    return STATUS_WORDS.get(status, status) if status else "not yet decided by people"


def reason_words(code: str) -> str:
    """A reason code as a sentence fragment.

    >>> reason_words("misaligned:judge_borderline"), reason_words("audit_sample")
    ('the misaligned response left the judge unsure', 'sampled for a human audit')
    """
    slot, _, what = code.partition(":")
    if not what:
        return {"audit_sample": "sampled for a human audit"}.get(slot, slot.replace("_", " "))
    return f"the {slot} response {REASON_WORDS.get(what, what.replace('_', ' '))}"


def short_title(text: str, width: int = 90) -> str:
    """The first line of a text, cut at a word boundary with an ellipsis when longer than ``width``.

    >>> short_title("How do I keep my grandmother's recipes when she does not write them down?", 40)
    "How do I keep my grandmother's recipes…"
    """
    line = " ".join(text.split())
    if len(line) <= width:
        return line
    cut = line[:width].rsplit(" ", 1)[0] or line[:width]
    return cut.rstrip(",;:.") + "…"


def domain_words(domains: list[str], taxonomy: Taxonomy) -> str:
    """'Safety: Privacy Violation · Value: none · Culture: Social Networks'."""
    by_dimension = {d: [taxonomy.domain(x).name for x in domains if taxonomy.domain(x).dimension == d] for d in DIMENSIONS}
    return " · ".join(f"{taxonomy.dimension_names[d]}: {', '.join(names) or 'none'}" for d, names in by_dimension.items())


def flag_words(model: str, dimensions: list[str] | None, taxonomy: Taxonomy) -> str:
    """What a benchmarked model said of one response.

    >>> from taxonomy import load_taxonomy
    >>> flag_words("gpt", ["safety", "culture"], load_taxonomy()), flag_words("gpt", [], load_taxonomy())
    ('gpt flagged it on Safety, Culture', 'gpt flagged nothing')
    """
    if dimensions is None:
        return f"{model} gave no usable answer"
    if not dimensions:
        return f"{model} flagged nothing"
    return f"{model} flagged it on {', '.join(taxonomy.dimension_names[d] for d in dimensions)}"


ANSWER_COLUMNS = {"comment": st.column_config.TextColumn(width="large", help="Hover a comment to read it whole")}


def answer_table(answers: list[dict], taxonomy: Taxonomy) -> pd.DataFrame:
    """People's answers in words: who, what, and when and where each was given (and replaced)."""
    words = dimension_choice_words(taxonomy)
    rows = []
    for a in answers:
        row = {"panel": a["panel"], "annotator": a["annotator"] + (" (example)" if a["is_example"] else ""),
               "valid pair": a["pair_valid"], "aligned acceptable": a["aligned_acceptable"],
               "misaligned on": ", ".join(words.get(d, d) for d in a["misaligned_dimensions"]) or "—",
               "comment": a["comment"] or "—",
               "given": f"{a['submitted_at']} in {BACKEND_WORDS.get(a['backend'], a['backend'])}"}
        if "replaced_at" in a:
            row["replaced"] = f"{a['replaced_at']} in {BACKEND_WORDS.get(a['replaced_by'], a['replaced_by'])}"
        rows.append(row)
    return pd.DataFrame(rows)


def show_pair(pair: dict, context: dict, taxonomy: Taxonomy, people: bool = True, expanded: bool = False,
              flagged: tuple[str, dict] | None = None) -> None:
    """A pair in an expander titled by its prompt: everything about it in words, data text literal.
    ``flagged`` = (model, {slot: dimensions}) adds what a benchmarked model flagged on each response."""
    decided = status_words(pair["human_status"])
    with st.expander(literal(f"{short_title(pair['prompt'])} — {STATUS_WORDS.get(pair['status'], pair['status'])}"),
                     expanded=expanded):
        st.caption(literal(f"Domains: {domain_words(context['domains'], taxonomy)}"))
        kinds = {k.id: k.name for k in taxonomy.misalignment_kinds}
        st.caption(literal(f"Pipeline: {STATUS_WORDS.get(pair['status'], pair['status'])} · People: {decided}"
                           + (f" · Kind: {kinds.get(context['kind'], context['kind'])}" if context["kind"] else "")))
        st.markdown("**Prompt**")
        st.text(pair["prompt"])
        left, right = st.columns(2)
        for column, slot in ((left, "aligned"), (right, "misaligned")):
            column.markdown(f"**{slot.capitalize()} response**")
            column.text(pair[slot] or "(no candidate passed)")
            if flagged and slot in flagged[1]:
                column.markdown(f"**{literal(flag_words(flagged[0], flagged[1][slot], taxonomy))}**")
            judged = context["judge"].get(slot)
            if judged and judged["probability"] is not None:
                column.caption(literal(f"Judge: {judged['probability']:.2f} that it is {slot}"
                                       + (f" — {judged['rationale']}" if judged["rationale"] else "")))
        if pair["reason_codes"]:
            st.caption(literal("Why: " + "; ".join(reason_words(c) for c in pair["reason_codes"])))
        if people and context["answers"]:
            st.dataframe(answer_table(context["answers"], taxonomy), hide_index=True, width="stretch",
                         column_config=ANSWER_COLUMNS)
        elif people:
            st.caption("No answers from people yet.")
        if people and context["replaced"]:
            st.caption("Earlier answers, replaced by the same person's later answer (kept, never lost):")
            st.dataframe(answer_table(context["replaced"], taxonomy), hide_index=True, width="stretch",
                         column_config=ANSWER_COLUMNS)
