"""Peak memory of an export in every format, texts read a chunk at a time (``chunk_pairs``, 20k by
default) against all at once (the baseline: one chunk of every pair, as export worked before), each
in a fresh process on its own copy of a store kept by ``benchmarks/full_scale.py --keep DIR``.

    python benchmarks/export_memory.py --db DIR/full.db [--chunks 20000,0] [--json]

A chunk of 0 means every pair in one chunk.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def one_export(db: Path, out: Path, chunk: int) -> dict:
    """Export every pair of ``db`` in every format; seconds and this process's peak RSS."""
    from pipeline.export.options import FORMATS
    from pipeline.export.splits import ExportOptions, export
    from review_store import Store
    from taxonomy import load_taxonomy

    with Store(db) as store:
        began = time.perf_counter()
        report = export(store, load_taxonomy(), options=ExportOptions(licence="unknown", out=out, formats=FORMATS, pairs="all",
                                                               chunk_pairs=chunk or 10 ** 12))
        seconds = time.perf_counter() - began
    return {"chunk_pairs": chunk, "pairs": report.kept, "seconds": round(seconds, 1),
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2)}


def measured(db: Path, chunk: int) -> dict:
    """:func:`one_export` in a fresh process, on a copy of the store (an export records itself there)."""
    with tempfile.TemporaryDirectory(dir=db.parent) as folder:
        copy = Path(folder) / db.name
        shutil.copy(db, copy)
        done = subprocess.run([sys.executable, __file__, "--db", str(copy), "--one", str(chunk),
                               "--out", str(Path(folder) / "export")], capture_output=True, text=True, check=True)
        return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True, help="a store with pairs (full_scale.py --keep DIR)")
    parser.add_argument("--chunks", default="20000,0", help="chunk sizes to compare; 0: all pairs at once")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child: one export, its figures
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one_export(args.db, args.out, args.one)))
        return
    rows = [measured(args.db.resolve(), int(chunk)) for chunk in args.chunks.split(",")]
    baseline = next((r for r in rows if r["chunk_pairs"] == 0), rows[-1])
    for row in rows:
        row["rss_vs_all_at_once"] = round(row["peak_rss_gib"] / baseline["peak_rss_gib"], 2)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"export of {rows[0]['pairs']:,} pairs in every format, {args.db}")
    print(f"{'texts read':22} {'seconds':>8} {'peak RSS GiB':>13} {'vs all at once':>15}")
    for r in rows:
        name = "all at once" if r["chunk_pairs"] == 0 else f"{r['chunk_pairs']:,} pairs a chunk"
        print(f"{name:22} {r['seconds']:8.1f} {r['peak_rss_gib']:13.2f} {r['rss_vs_all_at_once']:14.2f}x")


if __name__ == "__main__":
    main()
