"""Domains: explore one domain: its prompts and labels, every benchmarked model's Coverage, FFR and
Alignment Score there with intervals, the domain's own trade-off matrix (click a cell for the pairs
behind it) and its pairs, each with what the model flagged."""

import altair as alt
import pandas as pd
import streamlit as st

from pipeline.app.charts import tradeoff_explorer
from pipeline.app.pair_card import show_pair
from pipeline.app.shared import read, taxonomy
from pipeline.bench.report import MIN_INTERVAL_ITEMS, benchmark_names, interval_text, mean_sd_text
from pipeline.text.cells import markdown_literal as literal
from review_store import Store

st.set_page_config(page_title="Domains · misalign studio", layout="wide")
st.title("Domains")
labelers = read(Store.labelers_with_labels)
if not labelers:
    st.info("No labels yet: misalign label (or misalign ingest FILE --labels ...).")
    st.stop()
tax = taxonomy()
# ?labeler=…&domain=…&benchmark=…&cell=… opens a view (a link can be shared); the URL follows every choice
linked = st.query_params
linked_domain = next((d for d in tax.domains if d.id == linked.get("domain")), None)
pair_labelers = read(Store.pair_labelers)
paired = [name for name in labelers if name in pair_labelers]  # default: whose domains the pairs use
chosen = linked.get("labeler") if linked.get("labeler") in labelers else (paired or labelers)[0]
for key, known in (("domain", linked_domain is not None), ("labeler", linked.get("labeler") in labelers)):
    if linked.get(key) is not None and not known:  # a link from another store, or mistyped
        st.warning(literal(f"The link's {key} {linked.get(key)!r} is not in this store; showing the first instead."))
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
if domain.id != linked.get("domain"):
    st.query_params.pop("cell", None)  # a cell of another domain's matrix
st.query_params.update(labeler=labeler, domain=domain.id)
st.caption(literal(domain.description))

summary = read(Store.domain_summary, labeler=labeler, domain=domain.id)
metrics = st.columns(4)
metrics[0].metric("Prompts (kept)", f"{summary['prompts']:,}")
metrics[1].metric("Pairs accepted", summary["pairs"].get("accepted", 0))
metrics[2].metric("Borderline / rejected", f"{summary['pairs'].get('borderline', 0)} / {summary['pairs'].get('rejected', 0)}")
metrics[3].metric("Human accepted / rejected",
                  f"{summary['human'].get('human_accepted', 0)} / {summary['human'].get('human_rejected', 0)}")
if pair_labelers and labeler not in pair_labelers:
    st.caption(literal(f"Pairs and benchmarks use the domains of {', '.join(pair_labelers)}; the figures below "
                       f"count this domain's pairs by those labels, the prompts above by {labeler}'s."))

# every benchmarked model on this domain, side by side
groups = {g["group_id"]: g for g in read(Store.bench_groups)}
run_names = benchmark_names(list(groups.values()))
figures = read(Store.domain_bench_figures, domain=domain.id)
detectors = [f for f in figures if "coverage" in f["metrics"]]
st.subheader("Models on this domain")
if detectors:
    names = {"coverage": "Coverage", "ffr": "FFR", "alignment_score": "Alignment Score"}
    table, points = [], []
    engines = [f["engine"] for f in detectors]  # the chart names a run by its model where that is enough
    chart_names = {f["group_id"]: f["engine"] if engines.count(f["engine"]) == 1 else run_names[f["group_id"]]
                   for f in detectors}
    for f in detectors:
        m, runs = f["metrics"], groups[f["group_id"]]["runs"]
        n = m.get("pairs", m.get("responses"))
        row = {"model": f["engine"], "run": run_names[f["group_id"]].removeprefix(f"{f['engine']} · "), "n": n}
        for key, name in names.items():
            row[name] = mean_sd_text(m[key], runs)
            shown = n >= MIN_INTERVAL_ITEMS and "ci" in m
            row[f"{name} 95% CI"] = interval_text(m["ci"][key], items=n) if "ci" in m else "—"
            if m[key][0] is not None and m[key][0] == m[key][0]:
                low, high = m["ci"][key] if shown else (None, None)
                points.append({"model": chart_names[f["group_id"]], "measure": name, "value": m[key][0],
                               "low": low, "high": high, "n": n})  # a row per run: two runs never share one
        table.append(row)
    st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")
    st.caption(f"n: pairs (or labelled responses) in this domain. 95% bootstrap intervals over pairs, shown on "
               f"{MIN_INTERVAL_ITEMS} or more; FFR: share of aligned responses flagged (lower is better).")
    if points:
        chart = pd.DataFrame(points)
        base = alt.Chart(chart)
        y = alt.Y("model:N", title=None, axis=alt.Axis(labelLimit=260, labelFontSize=12))
        x = alt.X("value:Q", scale=alt.Scale(domain=[0, 1]), title=None, axis=alt.Axis(values=[0, 0.25, 0.5, 0.75, 1], format=".2f"))
        colour = alt.Color("model:N", legend=None, scale=alt.Scale(scheme="tableau10"))
        dots = base.mark_point(filled=True, size=90, opacity=1).encode(
            x=x, y=y, color=colour, tooltip=["model", "measure", "value", "low", "high", "n"])
        bars = base.transform_filter("isValid(datum.low)").mark_rule(strokeWidth=2).encode(
            x="low:Q", x2="high:Q", y=y, color=colour)
        # 380 px of plot beside labels of up to 260 px: whole in the 1024 px layout's column
        st.altair_chart(alt.layer(bars, dots).properties(width=380, height=28 * chart["model"].nunique() + 20).facet(
            row=alt.Row("measure:N", title=None, sort=list(names.values()),
                        header=alt.Header(labelFontSize=13, labelAngle=0, labelAlign="left", labelOrient="top")),
            title=f"{domain.name}: each model's figures with 95% intervals"))
else:
    st.caption("No detector benchmark has figures for this domain yet (misalign bench run --model ENGINE).")
rates = [f for f in figures if "misalignment_rate" in f["metrics"]]
if rates:
    st.dataframe(pd.DataFrame([{"model (generating answers)": f["engine"], "n": f["metrics"]["pairs"],
                                "misalignment rate": mean_sd_text(f["metrics"]["misalignment_rate"],
                                                                  groups[f["group_id"]]["runs"])} for f in rates]),
                 hide_index=True, width="stretch")

# the domain's own trade-offs, for one benchmarked model at a time
on_pairs = [f for f in detectors if f["items"] == "pairs" and f["protocol"] == "detect"]
flagged_by = None
if on_pairs:
    st.subheader("Trade-offs in this domain")
    ids = [f["group_id"] for f in on_pairs]
    benchmark = st.selectbox("Model", ids, format_func=run_names.get,
                             index=ids.index(linked["benchmark"]) if linked.get("benchmark") in ids else 0)
    if linked.get("benchmark") not in (None, benchmark):
        st.query_params.pop("cell", None)
    st.query_params["benchmark"] = benchmark
    model = groups[benchmark]["engine"]
    [tradeoff] = [s["metrics"] for s in read(Store.bench_summaries, group_id=benchmark, scope="tradeoff", key=domain.id)] or [None]
    if tradeoff is None or "behind" not in tradeoff:
        st.caption(f"This benchmark's figures predate per-domain trade-offs: misalign bench report {benchmark} "
                   "--refresh computes them.")
    elif not tradeoff["items"]:
        st.caption("No pair of this domain is labelled in two or more dimensions, so there is no trade-off to show.")
    else:
        st.metric(f"Trade-off rate here (n = {tradeoff['items']} pairs)", mean_sd_text(tradeoff["rate"], groups[benchmark]["runs"]),
                  help=f"{tradeoff['items']} pairs of this domain labelled in two or more dimensions")
        tradeoff_explorer(tradeoff, tax, f"{run_names[benchmark]}, on {domain.name}", f"matrix-{domain.id}-{benchmark}",
                          benchmark, model)
    flagged_by = (benchmark, model)

with st.expander("Labels: semantic types and the labelling model's probabilities"):
    left, right = st.columns(2)
    types = read(Store.domain_semantic_types, labeler=labeler, domain=domain.id)
    if types:
        counts = pd.DataFrame({"type": list(types), "prompts": list(types.values())})
        left.altair_chart(alt.Chart(counts, title="Prompts by semantic type").mark_bar().encode(
            x=alt.X("prompts:Q", title="prompts", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("type:N", title=None), tooltip=["type", "prompts"]), width="stretch")
    histogram = read(Store.domain_probability_histogram, labeler=labeler, domain=domain.id)
    if histogram:
        bins = pd.DataFrame({"from": list(histogram), "prompts": list(histogram.values())})
        bins["to"] = bins["from"] + 0.05
        right.altair_chart(alt.Chart(bins, title=alt.TitleParams(
            "Probability of this domain", anchor="start", subtitle=[f"by {labeler}", "prompts at 1% or more"])).mark_rect().encode(
            x=alt.X("from:Q", title="probability", scale=alt.Scale(domain=[0, 1])), x2="to:Q",
            y=alt.Y("prompts:Q", title="prompts", axis=alt.Axis(tickMinStep=1, format="d")), y2=alt.datum(0),
            tooltip=["from", "to", "prompts"]), width="stretch")
    if not types and not histogram:
        st.caption("No semantic types or probabilities recorded for this domain.")

st.subheader("Prompts in this domain")
columns = st.columns(2)
unsure = columns[0].toggle("Only the unsure ones", help="Prompts whose probability for this domain, by the "
                           "labelling model, is below the threshold beside: the labels to check first.")
below = columns[1].slider("Probability below", 0.05, 1.0, 0.7, 0.05) if unsure else None
listed = read(Store.domain_prompts, labeler=labeler, domain=domain.id, below=below, limit=50)
if listed["prompts"]:
    st.dataframe(pd.DataFrame([{"prompt": p["text"], "probability": round(p["probability"], 3)}
                               for p in listed["prompts"]]), hide_index=True, width="stretch", column_config={
        "prompt": st.column_config.TextColumn(width="large", help="The whole prompt shows on hover"),
        "probability": st.column_config.NumberColumn(width="small", format="%.3f",
                                                     help="The labelling model's probability of this domain")})
    st.caption(literal(f"{len(listed['prompts'])} of {listed['total']} prompts{f' under {below:g}' if below else ''}, "
                       f"least sure first, by {labeler}."))
else:
    st.caption(literal(f"No prompts {f'under {below:g} ' if below else ''}in this domain by {labeler}."))

st.subheader("Pairs in this domain")
total = sum(summary["pairs"].values())
if not total:
    st.caption("No pairs for this domain yet (misalign pairs).")
    st.stop()
page = st.number_input(f"Page (10 pairs each, {total} pairs)", min_value=1, max_value=max(1, -(-total // 10)), value=1)
shown = read(Store.domain_pairs, labeler=labeler, domain=domain.id, offset=(page - 1) * 10, limit=10)
context = read(Store.pair_context, pair_ids=[p["id"] for p in shown])
flags = read(Store.pair_bench_flags, group_id=flagged_by[0], pair_ids=[p["id"] for p in shown]) if flagged_by else {}
for pair in shown:
    show_pair(pair, context[pair["id"]], tax, flagged=(flagged_by[1], flags[pair["id"]]) if pair["id"] in flags else None)
