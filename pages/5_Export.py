"""Export: filters, a preview of split counts per domain, write, and download."""

from pathlib import Path

import pandas as pd
import streamlit as st

from pipeline.app.actions import plan, write_export
from pipeline.app.shared import store_path, taxonomy
from pipeline.errors import UsageError
from pipeline.text.cells import markdown_literal as literal
from pipeline.export.options import DPO_FORMATS, FORMATS, UNKNOWN_LICENCE, ExportOptions
from review_store.bench import PAIR_SETS

st.set_page_config(page_title="Export · misalign studio", layout="wide")
# the form's words for the options an export's error can be about
FORM_FIELDS = {"ratios": "train,validation,test", "licence": "Licence", "status": "Pairs", "format": "Formats",
               "dpo-format": "DPO rows", "dimension": "Dimensions", "domain": "Domains", "out": "Folder"}
st.title("Export")
tax = taxonomy()
with st.form("filters"):
    columns = st.columns(3)
    pair_set = columns[0].selectbox("Pairs", list(PAIR_SETS), index=list(PAIR_SETS).index("curated"),
                                    help="curated: human-accepted, then pipeline-accepted pairs people did not reject")
    seed = columns[1].number_input("Seed", value=0, step=1)
    ratios = columns[2].text_input("train,validation,test", "0.8,0.1,0.1")
    dimensions = st.multiselect("Dimensions", list(tax.dimension_names))
    domains = st.multiselect("Domains", [d.id for d in tax.domains], format_func=lambda d: tax.domain(d).name)
    types = st.multiselect("Semantic types", [t.id for t in tax.semantic_types])
    formats = st.multiselect("Formats", FORMATS, default=["jsonl", "parquet"],
                             help="hf: a Hugging Face Hub dataset repo in hub/; dpo: preference rows for TRL; "
                                  "lm-eval: a task reporting Coverage, FFR and the Alignment Score")
    columns = st.columns(2)
    licence = columns[0].text_input("Licence", help="Required to write: a Hub licence id (cc-by-4.0, apache-2.0, "
                                    "...), another licence's name, or 'unknown'")
    dpo_format = columns[1].selectbox("DPO rows", DPO_FORMATS, help="standard: prompt, chosen and rejected as "
                                      "text; conversational: as lists of chat messages (TRL's two formats)")
    store_file = Path(store_path()).resolve()  # beside the store, never the app's working directory
    out = st.text_input("Folder", str(store_file.with_name(f"{store_file.stem}-export")),
                        help="Where the files go, on the machine running the app.")
    preview, write = st.columns(2)
    wants_preview = preview.form_submit_button("Preview")
    wants_write = write.form_submit_button("Write")

if not (wants_preview or wants_write):
    st.stop()
try:
    shares = tuple(float(r) for r in ratios.split(","))
except ValueError:
    st.error(literal(f"train,validation,test: '{ratios}' is not three numbers separated by commas, e.g. 0.8,0.1,0.1"))
    st.stop()
try:
    options = ExportOptions(out=Path(out).resolve(), formats=tuple(formats), seed=int(seed), ratios=shares, pairs=pair_set,
                            dimensions=tuple(dimensions), domains=tuple(domains), semantic_types=tuple(types),
                            licence=licence or (None if wants_write else UNKNOWN_LICENCE), dpo_format=dpo_format)
    frame, export_id, _ = plan(tax, options)
except UsageError as exc:
    st.error(literal(f"{FORM_FIELDS.get(exc.field, exc.field)}: {exc.reason}" if exc.field else str(exc)))
    st.stop()
names = tax.dimension_names
frame = frame.assign(dimension=[names[tax.domain(d).dimension] if d != "none" else "no domain" for d in frame["primary_domain"]],
                     domain=[tax.domain(d).name if d != "none" else "no domain" for d in frame["primary_domain"]])
splits = [s for s in ("train", "validation", "test") if s in set(frame["split"])]


def split_counts(by: list[str]) -> pd.DataFrame:
    """Pairs per group and split, with a total column and a total row (click a column to sort)."""
    table = frame.groupby(by, observed=True)["split"].value_counts().unstack(fill_value=0).reindex(
        columns=splits, fill_value=0).reset_index()
    table["total"] = table[splits].sum(axis=1)
    totals = {**{column: "" for column in by}, by[-1]: "all", **table[splits + ["total"]].sum().to_dict()}
    return pd.concat([table, pd.DataFrame([totals])], ignore_index=True)


st.write(f"{len(frame):,} pairs, export {export_id}")
left, right = st.columns([1, 2])
left.markdown("**Per dimension** (of the pair's primary domain)")
left.dataframe(split_counts(["dimension"]), hide_index=True, width="stretch")
right.markdown("**Per domain**")
right.dataframe(split_counts(["dimension", "domain"]), hide_index=True, width="stretch")
if wants_write:
    report = write_export(tax, options)
    st.success(literal(f"Wrote {options.out}: {report.summary()}"))
    for line in report.notes.empty_splits:
        st.warning(literal(line[0].upper() + line[1:] + "."))
    for path in sorted(p for p in options.out.iterdir() if p.is_file()):
        st.download_button(f"Download {path.name}", path.read_bytes(), file_name=path.name, key=str(path))
