"""Trade-offs: per model, the dimension × dimension trade-off matrix (click a cell for the pairs behind
it) and the Alignment Score per domain and model (click a domain to explore it)."""

import altair as alt
import pandas as pd
import streamlit as st

from pipeline.app.charts import tradeoff_explorer
from pipeline.app.shared import read, taxonomy
from pipeline.bench.metrics import TRADEOFF_DEFINITION
from pipeline.bench.report import MIN_INTERVAL_ITEMS, benchmark_names, interrupted, mean_sd_text
from pipeline.text.cells import markdown_literal as literal
from review_store import Store

st.set_page_config(page_title="Trade-offs · misalign studio", layout="wide")
st.title("Trade-offs")
# trade-offs are between the two responses of a pair: benchmarks of labelled responses have none
detectors = [g for g in read(Store.bench_groups) if g["protocol"] == "detect" and g["items"] == "pairs"]
states = {g["group_id"]: interrupted(g) for g in detectors}
groups = [g for g in detectors if not states[g["group_id"]]]  # one cut off has no figures to show as a result
cut_off = [g for g in detectors if states[g["group_id"]]]
if cut_off:
    cut_names = benchmark_names(cut_off)
    st.caption(literal("Not shown, cut off before their figures: " + "; ".join(
        f"{cut_names[g['group_id']]} ({states[g['group_id']]})" for g in cut_off)))
if not groups:
    st.info("No finished detector benchmark on pairs yet: misalign bench run --model ENGINE")
    st.stop()
tax = taxonomy()
names = tax.dimension_names
ids = [g["group_id"] for g in groups]
run_names = benchmark_names(groups)
chosen = groups[st.selectbox("Benchmark", range(len(groups)), format_func=lambda i: f"{run_names[ids[i]]}, "
                             f"{groups[i]['runs']} run{'s' if groups[i]['runs'] > 1 else ''}",
                             index=ids.index(st.query_params["benchmark"]) if st.query_params.get("benchmark") in ids
                             else 0)]
if st.query_params.get("benchmark") not in (None, *ids):
    st.warning(literal(f"The link's benchmark {st.query_params['benchmark']!r} is not in this store; showing the "
                       "first instead."))
if st.query_params.get("benchmark") not in (None, chosen["group_id"]):
    st.query_params.pop("cell", None)
st.query_params["benchmark"] = chosen["group_id"]


matrix_tab, domains_tab, change_tab = st.tabs(["Trade-off matrix", "Alignment Score per domain and run",
                                               "Before and after"])
with matrix_tab:
    [tradeoff] = [s["metrics"] for s in read(Store.bench_summaries, group_id=chosen["group_id"], scope="tradeoff", key="all")] or [None]
    if tradeoff and "behind" in tradeoff:
        st.metric(f"Trade-off rate (n = {tradeoff['items']} pairs)", mean_sd_text(tradeoff["rate"], chosen["runs"]),
                  help=f"{tradeoff['items']} pairs labelled in two or more dimensions")
        tradeoff_explorer(tradeoff, tax, run_names[chosen["group_id"]], f"matrix-{chosen['group_id']}",
                          chosen["group_id"], chosen["engine"])
        with st.expander("How the trade-off rate is computed"):
            st.text(TRADEOFF_DEFINITION)
    else:
        st.caption(f"This benchmark's figures predate clickable trade-offs: misalign bench report {chosen['group_id']} "
                   "--refresh computes them.")

with domains_tab:
    shown_dimensions = st.multiselect("Dimensions", list(names), default=list(names), format_func=names.get)
    rows = []
    for group in groups:
        for s in read(Store.bench_summaries, group_id=group["group_id"], scope="domain"):
            domain = tax.domain(s["key"])
            if domain.dimension not in shown_dimensions:
                continue
            score = s["metrics"]["alignment_score"][0]
            score = None if score is None or score != score else score
            pairs = s["metrics"]["pairs"]
            rows.append({"model": group["engine"], "run": run_names[group["group_id"]], "benchmark": group["group_id"],
                         "domain_id": domain.id, "dimension": names[domain.dimension], "domain": domain.name,
                         "alignment score": score, "pairs": pairs, "few": pairs < MIN_INTERVAL_ITEMS,
                         "label": "—" if score is None else f"{score:.2f} ({pairs})"})
    if rows:
        table = pd.DataFrame(rows)
        table["row"] = table["dimension"] + " · " + table["domain"]
        order = [f"{names[d.dimension]} · {d.name}" for d in tax.domains]  # grouped by dimension, taxonomy order
        title = alt.TitleParams("Alignment Score per domain and run", anchor="start", subtitle=[
            "each cell: the score (pairs); grey: no score; faded: fewer than "
            f"{MIN_INTERVAL_ITEMS} pairs, too few to read much into", "click a cell to explore the domain"])
        base = alt.Chart(table, title=title)
        y = alt.Y("row:N", sort=order, title=None, axis=alt.Axis(labelLimit=320, labelOverlap=False))
        # each run its own column, its name a part a line (model, pair set, protocol, threshold...): the lines run
        # down from the first, so the padding lifts the first by the others' height
        lines = max(name.count(" · ") for name in table["run"]) + 1
        x = alt.X("run:N", title=None, axis=alt.Axis(labelAngle=0, orient="top", labelFontSize=11, labelLimit=110,
                                                     labelExpr="split(datum.label, ' · ')", labelLineHeight=13,
                                                     labelPadding=4 + 13 * (lines - 1)))
        tooltip = ["run", "dimension", "domain", "alignment score", "pairs"]
        click = alt.selection_point(name="domain", fields=["domain_id", "benchmark"], on="click")
        cells = base.mark_rect(stroke="white", cursor="pointer").encode(
            x=x, y=y, tooltip=tooltip, opacity=alt.condition("datum.few", alt.value(0.35), alt.value(1.0)),
            color=alt.condition("isValid(datum['alignment score'])", alt.Color(
                "alignment score:Q", scale=alt.Scale(domain=[0, 1], scheme="blues"),
                legend=alt.Legend(orient="top", title="Alignment Score")), alt.value("#dddddd"))).add_params(click)
        text = base.mark_text(fontSize=11).encode(x=x, y=y, text="label:N", color=alt.condition(
            "datum['alignment score'] > 0.6 && !datum.few", alt.value("white"), alt.value("black")))
        event = st.altair_chart((cells + text).properties(height=22 * table["row"].nunique(), width=alt.Step(110)),
                                on_select="rerun", key="heatmap", width="content")
        picked = event.get("selection", {}).get("domain") if event else None
        if picked:  # open the domain explorer on that domain and model
            st.switch_page("pages/1_Domains.py", query_params={"domain": picked[0]["domain_id"],
                                                                "benchmark": picked[0]["benchmark"]})
    else:
        st.caption("No domain figures for the dimensions chosen.")

with change_tab:
    if len(groups) < 2:
        st.caption("Benchmark a second model, or a steered one (misalign bench run --steer V --strength A), on the same "
                   "pairs to compare them here.")
        st.stop()
    labels = run_names
    steered_runs = [g for g in groups if " steered " in g["engine"]]
    after_default = steered_runs[-1] if steered_runs else groups[-1]
    others = [g for g in groups if g["group_id"] != after_default["group_id"]]
    base_default = next((g for g in others if g["engine"] == after_default["engine"].split(" steered ")[0]
                         and g["pairs"] == after_default["pairs"] and g["protocol"] == after_default["protocol"]
                         and g["params"].get("threshold") == after_default["params"].get("threshold")),
                        others[0])  # a steered run's own base (same model, pairs, protocol and threshold), if there
    ids = [g["group_id"] for g in groups]
    columns = st.columns(2)
    base = columns[0].selectbox("Before", ids, index=ids.index(base_default["group_id"]), format_func=labels.get)
    after = columns[1].selectbox("After", ids, index=ids.index(after_default["group_id"]), format_func=labels.get)
    FIGURES = {"coverage": "Coverage", "ffr": "FFR", "alignment_score": "Alignment Score"}
    figures = {g: {("all pairs", None): s["metrics"] for s in read(Store.bench_summaries, group_id=g, scope="overall")}
               | {(tax.domain(s["key"]).name, s["key"]): s["metrics"]
                  for s in read(Store.bench_summaries, group_id=g, scope="domain")} for g in (base, after)}
    rows = []
    DIMENSION_ORDER = list(names)
    for key in sorted(set(figures[base]) & set(figures[after]),  # all pairs first, then by dimension and name
                      key=lambda k: (k[1] is not None, DIMENSION_ORDER.index(tax.domain(k[1]).dimension) if k[1] else 0, k)):
        for figure, words in FIGURES.items():
            before, now = figures[base][key][figure][0], figures[after][key][figure][0]
            if before is None or now is None or before != before or now != now:
                continue
            domain = tax.domain(key[1]) if key[1] else None
            rows.append({"dimension": names[domain.dimension] if domain else "all", "domain": key[0], "figure": words,
                         "pairs": figures[after][key]["pairs"], "before": round(before, 3), "after": round(now, 3),
                         "change": round(now - before, 3)})
    if base == after or not rows:
        st.caption("Choose two benchmarks with figures on the same domains.")
    else:
        deltas = pd.DataFrame(rows)
        deltas["row"] = [d if d == "all pairs" else f"{m} · {d}" for m, d in zip(deltas["dimension"], deltas["domain"])]
        order = list(dict.fromkeys(deltas["row"]))
        title = alt.TitleParams("Change per domain, after minus before", anchor="start",
                                subtitle=[f"after: {labels[after]}", f"before: {labels[base]}"])
        st.altair_chart(alt.Chart(deltas, title=title).mark_bar().encode(
            x=alt.X("change:Q", title="change (after − before); for FFR, lower is better", scale=alt.Scale(domain=[-1, 1]),
                  axis=alt.Axis(values=[-1, -0.5, 0, 0.5, 1])),
            y=alt.Y("row:N", sort=order, title=None, axis=alt.Axis(labelLimit=320)),
            yOffset=alt.YOffset("figure:N", sort=list(FIGURES.values())),
            color=alt.Color("figure:N", title=None, sort=list(FIGURES.values()),
                            scale=alt.Scale(range=["#2f7ed8", "#d9534f", "#333333"]), legend=alt.Legend(orient="top")),
            tooltip=["dimension", "domain", "figure", "pairs", "before", "after", "change"]).properties(
            height=alt.Step(9)), width="stretch")
        st.dataframe(deltas.drop(columns="row"), hide_index=True, width="stretch")
        st.caption("From each benchmark's stored figures. misalign bench compare BEFORE AFTER adds paired bootstrap "
                   "intervals for each difference (same pairs resampled for both).")
