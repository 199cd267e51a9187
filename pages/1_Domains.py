"""Domains: one domain's counts, semantic types, label probabilities, example pairs and model figures."""

import altair as alt
import pandas as pd
import streamlit as st

from pipeline.app.pair_card import show_pair
from pipeline.app.shared import read, taxonomy
from pipeline.text.cells import markdown_literal as literal

st.set_page_config(page_title="Domains · misalign studio", layout="wide")
st.title("Domains")
labelers = read("labelers_with_labels")
if not labelers:
    st.info("No labels yet: misalign label (or misalign ingest FILE --labels ...).")
    st.stop()
tax = taxonomy()
# ?labeler=…&domain=… opens a view (a link can be shared); the URL follows every choice
linked = st.query_params
linked_domain = next((d for d in tax.domains if d.id == linked.get("domain")), None)
paired = [name for name in labelers if name in read("pair_labelers")]  # default: whose domains the pairs use
chosen = linked.get("labeler") if linked.get("labeler") in labelers else (paired or labelers)[0]
dimensions = list(tax.dimension_names)
columns = st.columns(3)
labeler = columns[0].selectbox("Labeler", labelers, index=labelers.index(chosen))
dimension = columns[1].selectbox("Dimension", dimensions, format_func=tax.dimension_names.get,
                                 index=dimensions.index(linked_domain.dimension) if linked_domain else 0)
search = columns[2].text_input("Search domains")
domains = [d for d in tax.domains_of(dimension) if search.lower() in (d.name + " " + d.description).lower()]
if not domains:
    st.warning(f"No {dimension} domain matches {literal(search)}.")
    st.stop()
domain = st.selectbox("Domain", domains, format_func=lambda d: d.name,
                      index=domains.index(linked_domain) if linked_domain in domains else 0)
st.query_params.update(labeler=labeler, domain=domain.id)
st.caption(literal(domain.description))

summary = read("domain_summary", labeler=labeler, domain=domain.id)
metrics = st.columns(4)
metrics[0].metric("Prompts (kept)", f"{summary['prompts']:,}")
metrics[1].metric("Pairs accepted", summary["pairs"].get("accepted", 0))
metrics[2].metric("Borderline / rejected", f"{summary['pairs'].get('borderline', 0)} / {summary['pairs'].get('rejected', 0)}")
metrics[3].metric("Human accepted / rejected",
                  f"{summary['human'].get('human_accepted', 0)} / {summary['human'].get('human_rejected', 0)}")

left, right = st.columns(2)
types = read("domain_semantic_types", labeler=labeler, domain=domain.id)
if types:
    counts = pd.DataFrame({"type": list(types), "prompts": list(types.values())})
    left.altair_chart(alt.Chart(counts, title="Prompts by semantic type").mark_bar().encode(
        x=alt.X("prompts:Q", title="prompts", axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("type:N", title=None), tooltip=["type", "prompts"]), width="stretch")
histogram = read("domain_probability_histogram", labeler=labeler, domain=domain.id)
if histogram:
    bins = pd.DataFrame({"from": list(histogram), "prompts": list(histogram.values())})
    bins["to"] = bins["from"] + 0.05
    right.altair_chart(alt.Chart(bins, title=f"{labeler}: probability of this domain (1% or more)").mark_rect().encode(
        x=alt.X("from:Q", title="probability", scale=alt.Scale(domain=[0, 1])), x2="to:Q",
        y=alt.Y("prompts:Q", title="prompts", axis=alt.Axis(tickMinStep=1, format="d")), y2=alt.datum(0),
        tooltip=["from", "to", "prompts"]), width="stretch")

figures = read("domain_bench_figures", domain=domain.id)
st.subheader("Benchmarked models on this domain")
if figures:
    def cell(pair):
        return None if pair[0] is None else round(pair[0], 3)

    st.dataframe(pd.DataFrame([{"model": f["engine"], "protocol": f["protocol"],
                                "on": "labelled responses" if f["items"] == "responses" else f"{f['pairs']} pairs",
                                "n": f["metrics"].get("pairs", f["metrics"].get("responses")),
                                **({"Coverage": cell(f["metrics"]["coverage"]), "FFR": cell(f["metrics"]["ffr"]),
                                    "Alignment Score": cell(f["metrics"]["alignment_score"])}
                                   if "coverage" in f["metrics"] else
                                   {"misalignment rate": cell(f["metrics"]["misalignment_rate"])})}
                               for f in figures]), hide_index=True, width="stretch")
else:
    st.caption("No benchmark has figures for this domain yet (misalign bench run).")

st.subheader("Examples")
total = sum(summary["pairs"].values())
if not total:
    st.caption("No pairs for this domain yet (misalign pairs).")
    st.stop()
page = st.number_input(f"Page (10 pairs each, {total} pairs)", min_value=1, max_value=max(1, -(-total // 10)), value=1)
shown = read("domain_pairs", labeler=labeler, domain=domain.id, offset=(page - 1) * 10, limit=10)
context = read("pair_context", pair_ids=[p["id"] for p in shown])
for pair in shown:
    show_pair(pair, context[pair["id"]], tax)
