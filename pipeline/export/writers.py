"""The export's files: the same pairs as JSON Lines, Parquet, CSV (formulas neutralised) or a Hugging Face dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipeline.text.cells import spreadsheet_safe
from taxonomy import DIMENSIONS


def write_formats(public: pd.DataFrame, out: Path, formats: tuple[str, ...]) -> list[str]:
    """Write the exported pairs (one ``split`` column) in each of ``formats`` into ``out``; the names written."""
    written = []
    if "jsonl" in formats:
        public.to_json(out / "pairs.jsonl", orient="records", lines=True, force_ascii=False)
        written.append("pairs.jsonl")
    if "parquet" in formats:
        public.to_parquet(out / "pairs.parquet", index=False)
        written.append("pairs.parquet")
    if "csv" in formats:
        flat = public.copy()
        for column in (f"{d}_domains" for d in DIMENSIONS):
            flat[column] = flat[column].map(lambda cell: json.dumps(cell, ensure_ascii=False))
        flat.map(spreadsheet_safe).to_csv(out / "pairs.csv", index=False)
        written.append("pairs.csv")
    if "hf" in formats:
        import datasets

        splits = {name: datasets.Dataset.from_pandas(part.reset_index(drop=True), preserve_index=False)
                  for name, part in public.groupby("split", sort=False)}
        datasets.DatasetDict(splits).save_to_disk(str(out / "hf"))
        written.append("hf/")
    return written
