"""``misalign bench report``: a benchmark's stored figures as tables, CSV files and a markdown report."""

from __future__ import annotations

import math
import shlex
from pathlib import Path

import pandas as pd

from pipeline.errors import UsageError
from pipeline.review.agreement import judge_calibration
from pipeline.bench.metrics import TRADEOFF_DEFINITION
from pipeline.text.cells import spreadsheet_safe
from pipeline.text.outputs import atomic_folder
from review_store import Store
from taxonomy import DIMENSIONS, Taxonomy

REPORT = "report.md"
MIN_INTERVAL_ITEMS = 5  # fewer items: an interval says little, so reports and pages show none


def number_text(value: float | None, digits: int = 3) -> str:
    """A figure as shown everywhere: fixed digits, "n/a" where there is none (None or NaN).

    >>> number_text(0.12345), number_text(float("nan")), number_text(None, 2)
    ('0.123', 'n/a', 'n/a')
    """
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def mean_sd_text(pair: list, runs: int = 2) -> str:
    """mean ± sd over runs; the mean alone for one run (nothing varied)."""
    mean, sd = pair
    if runs == 1 or mean is None or math.isnan(mean):
        return number_text(mean)
    return f"{mean:.3f} ± {sd:.3f}"


def interval_text(bounds: list | tuple, digits: int = 3, missing: str = "n/a", items: int | None = None) -> str:
    """A 95% interval as "[low, high]", ``missing`` where it could not be computed (fewer than 2 items a side),
    and none on fewer than MIN_INTERVAL_ITEMS ``items``: it would look more certain than it is.

    >>> interval_text([0.5, 0.75]), interval_text([float("nan"), float("nan")]), interval_text([0.5, 1], 2)
    ('[0.500, 0.750]', 'n/a', '[0.50, 1.00]')
    >>> interval_text([1.0, 1.0], items=2)
    'none: n < 5'
    """
    if items is not None and items < MIN_INTERVAL_ITEMS:
        return f"none: n < {MIN_INTERVAL_ITEMS}"
    if any(b is None or math.isnan(b) for b in bounds):
        return missing
    return f"[{bounds[0]:.{digits}f}, {bounds[1]:.{digits}f}]"


def resume_command(group: dict) -> str:
    """The command that resumes a benchmark cut off before its end (an import: that imports it again).

    >>> resume_command({"engine": "tiny", "protocol": "generate", "items": "pairs", "pairs": "all",
    ...                 "params": {"judge": "embedded", "runs": 3, "threshold": 0.5, "split": None}})
    'misalign bench run --model tiny --protocol generate --judge embedded --runs 3 --pairs all'
    """
    params = group.get("params") or {}
    if params.get("inspect_log"):
        return f"misalign bench import-inspect {shlex.quote(params['inspect_log'])}"
    words = ["misalign", "bench", "run", "--model", group["engine"]]
    if group["protocol"] != "detect":
        words += ["--protocol", group["protocol"]]
    if params.get("judge"):
        words += ["--judge", params["judge"]]
    words += ["--runs", str(params.get("runs", 1))]
    if group["items"] == "responses":
        words += ["--on", "responses", *(["--models", ",".join(params["models"])] if params.get("models") else []),
                  *(["--labeler", params["labeler"]] if params.get("labeler") else [])]
    else:
        words += ["--pairs", group["pairs"]]
        if params.get("split"):
            words += ["--split", ":".join(params["split"])]
    if params.get("threshold", 0.5) != 0.5:
        words += ["--threshold", f"{params['threshold']:g}"]
    return shlex.join(words)


def interrupted(group: dict) -> str | None:
    """What a benchmark cut off before its end (so without figures) lacks, and how to resume it; None for one
    that finished.

    >>> interrupted({"group_id": "g", "engine": "embedded", "protocol": "detect", "items": "pairs", "pairs": "all",
    ...              "judged": 40, "has_figures": 0, "params": {"runs": 1, "to_judge": 100, "threshold": 0.5}})
    'interrupted: 40 of 100 judged; misalign bench run --model embedded --runs 1 --pairs all resumes it'
    """
    if group["has_figures"]:
        return None
    params = group.get("params") or {}
    expected = f" of {params['to_judge'] * params.get('runs', 1)}" if params.get("to_judge") is not None else ""
    return f"interrupted: {group['judged']}{expected} judged; {resume_command(group)} resumes it"


def benchmark_names(groups: list[dict]) -> dict[str, str]:
    """Each benchmark's name as a person tells runs apart: model, pair set, protocol, threshold (a steered
    model's engine says its vector and strength); when two would read the same, when each began.

    >>> groups = [{"group_id": "a", "engine": "embedded", "pairs": "curated", "protocol": "detect", "items": "pairs",
    ...            "params": {"threshold": 0.5}, "created_at": "2026-12-04T03:10:00+00:00"},
    ...           {"group_id": "b", "engine": "embedded", "pairs": "all", "protocol": "detect", "items": "pairs",
    ...            "params": {"threshold": 0.5}, "created_at": "2026-12-04T03:12:00+00:00"}]
    >>> benchmark_names(groups)["b"]
    'embedded · all pairs · detect · threshold 0.5'
    >>> benchmark_names([groups[0], {**groups[0], "group_id": "c", "created_at": "2026-12-04T04:00:00+00:00"}])["c"]
    'embedded · curated pairs · detect · threshold 0.5 · run 2026-12-04 04:00'
    """
    def plain(g: dict) -> str:
        parts = [g["engine"], f"{g['pairs']} {'labelled responses' if g['items'] == 'responses' else 'pairs'}",
                 g["protocol"]]
        if (g.get("params") or {}).get("threshold") is not None and g["protocol"] == "detect":
            parts.append(f"threshold {g['params']['threshold']:g}")
        return " · ".join(parts)

    names = {g["group_id"]: plain(g) for g in groups}
    counts = {n: list(names.values()).count(n) for n in names.values()}
    for g in groups:
        if counts[names[g["group_id"]]] > 1:
            names[g["group_id"]] += f" · run {g['created_at'][:16].replace('T', ' ')}"
    taken = list(names.values())
    for g in groups:  # begun in the same minute: the id tells them apart
        if taken.count(names[g["group_id"]]) > 1:
            names[g["group_id"]] += f" ({g['group_id'][:8]})"
    return names


def _key_name(scope: str, key: str, taxonomy: Taxonomy) -> str:
    """A summary's key as a reader names it: a domain or kind by its name, the rest as they are."""
    if scope == "domain":
        return taxonomy.domain(key).name
    if scope == "kind":
        return next((k.name for k in taxonomy.misalignment_kinds if k.id == key), key)
    return key


def report_tables(store: Store, taxonomy: Taxonomy, group_id: str) -> dict[str, pd.DataFrame]:
    """The benchmark's tables by name: overall, dimension, semantic_type, domain (and tradeoff for detectors)."""
    summaries = store.bench_summaries(group_id)
    if not summaries:
        raise UsageError(f"no figures for benchmark '{group_id}' (misalign bench list shows them)")
    if summaries[0]["scope"] == "raters":
        return _rater_tables(summaries[0]["metrics"])
    if "responses" in summaries[0]["metrics"]:
        return _response_tables(summaries, taxonomy)
    detector = "coverage" in summaries[0]["metrics"]
    keys = ("coverage", "ffr", "alignment_score") if detector else ("misalignment_rate",)
    runs = next((s["metrics"].get("runs", 2) for s in summaries if s["scope"] == "overall"), 2)
    tables = {}
    for scope in ("overall", "dimension", "semantic_type", "kind", "domain"):
        rows = []
        for s in (s for s in summaries if s["scope"] == scope):
            m = s["metrics"]
            row = {scope if scope != "overall" else "set": _key_name(scope, s["key"], taxonomy), "pairs": m["pairs"],
                   **{k: mean_sd_text(m[k], runs) for k in keys}}
            if "ci" in m:
                row.update({f"{k} 95% CI": interval_text(m["ci"][k], items=m["pairs"]) for k in keys})
            if scope == "overall" and detector:
                row.update({f"macro {k}": mean_sd_text(m["macro_domain"][k], runs) for k in keys})
            if scope == "overall":
                row["left out: unusable answers"] = m.get("unusable_pairs", 0)
            rows.append(row)
        if rows or scope != "kind":  # pairs say their kind only when imported with one
            tables[scope] = pd.DataFrame(rows)
    if detector:
        [tradeoff] = [s["metrics"] for s in summaries if s["scope"] == "tradeoff" and s["key"] == "all"]
        matrix = pd.DataFrame({d2: {d1: mean_sd_text(tradeoff["matrix"][d1][d2]) for d1 in DIMENSIONS} for d2 in DIMENSIONS})
        matrix.index.name = "right on \\ wrong on"
        tables["tradeoff"] = matrix.reset_index()
        tables["tradeoff_rate"] = pd.DataFrame([{"items in 2+ dimensions": tradeoff["items"],
                                                 "trade-off rate": mean_sd_text(tradeoff["rate"])}])
    calibration = judge_calibration(store)
    if calibration["overall"]["pairs"]:
        tables["judge_calibration"] = pd.DataFrame(
            [{"scope": "all", **_calibration_row(calibration["overall"])}] +
            [{"scope": taxonomy.domain(d).name, **_calibration_row(f)} for d, f in calibration["domains"].items()])
    return tables


RESPONSE_SCOPES = {"overall": "set", "model": "model", "kind": "kind", "dimension": "dimension", "domain": "domain"}


def _response_tables(summaries: list[dict], taxonomy: Taxonomy) -> dict[str, pd.DataFrame]:
    """A benchmark on labelled responses: overall, per model, kind, dimension and domain."""
    runs = next(s["metrics"]["runs"] for s in summaries if s["scope"] == "overall")
    tables = {}
    for scope, column in RESPONSE_SCOPES.items():
        rows = []
        for s in (s for s in summaries if s["scope"] == scope):
            m = s["metrics"]
            name = "labelled responses" if scope == "overall" else _key_name(scope, s["key"], taxonomy)
            row = {column: name, "misaligned": m["misaligned"], "aligned": m["aligned"],
                   **{k: mean_sd_text(m[k], runs) for k in ("coverage", "ffr", "alignment_score")}}
            if scope == "overall":
                row.update({f"{k} 95% CI": interval_text(m["ci"][k], items=min(m["misaligned"], m["aligned"]))
                            for k in ("coverage", "ffr", "alignment_score")})
                row.update({"runs": m["runs"], "left out: unusable answers": m["unusable_responses"]})
            rows.append(row)
        if rows:
            tables[scope] = pd.DataFrame(rows)
    return tables


def _rater_tables(m: dict) -> dict[str, pd.DataFrame]:
    tables = {"raters": pd.DataFrame([{"personas": len(m["personas"]), "pairs": m["pairs"],
                                       m["icc_form"]: number_text(m["icc"]), "demographic sensitivity": number_text(m["ds"]),
                                       "pairs decided by people": m["decided_by_people"],
                                       "left out: unusable answers": m.get("unusable_pairs", 0)}])}
    if m["fairness"]:
        tables["fairness"] = pd.DataFrame([{"attribute": a, "groups": f["groups"], "items": f["items"],
                                            "DPD": number_text(f["dpd"]), "EOD": number_text(f["eod"])}
                                           for a, f in m["fairness"].items()])
    return tables


def _calibration_row(figures: dict) -> dict:
    kappa, (low, high) = figures["kappa"], figures["kappa_interval"]
    return {"pairs": figures["pairs"], "kappa": number_text(kappa),
            "kappa 95% interval": "n/a" if math.isnan(low) else f"[{low:.3f}, {high:.3f}]",
            "agreement": f"{figures['agreement']:.3f}",
            **{f"{s} -> {h}": n for s, row in figures["confusion"].items() for h, n in row.items()}}


def holds_a_report(folder: Path) -> bool:
    """Whether ``folder`` holds an earlier benchmark report (which a new one replaces whole)."""
    return (folder / REPORT).is_file()


def write_report(tables: dict[str, pd.DataFrame], run: dict, out: Path, overwrite: bool = False) -> Path:
    """CSV per table (formula-safe) and report.md in ``out``, written whole and atomically (an earlier
    report there is replaced; another non-empty folder only with ``overwrite``); returns the markdown file."""
    with atomic_folder(out, owned=holds_a_report, overwrite=overwrite) as folder:
        _write_report(tables, run, folder)
    return out / REPORT


def _write_report(tables: dict[str, pd.DataFrame], run: dict, out: Path) -> None:
    for name, table in tables.items():
        table.map(spreadsheet_safe).to_csv(out / f"{name}.csv", index=False)
    lines = [f"# Benchmark {run['group_id']}", "",
             f"Model under test: `{run['engine']}` ({run['model']}), protocol `{run['protocol']}`, pairs "
             f"`{run['pairs']}`, {run['runs']} runs" + (f", judge `{run['judge']}`" if run["judge"] else "") + ".", ""]
    for name, table in tables.items():
        lines += [f"## {name.replace('_', ' ').capitalize()}", "", table.to_markdown(index=False), ""]
    if "tradeoff" in tables:
        lines += ["## How the trade-off rate is computed", "", "```", TRADEOFF_DEFINITION, "```", ""]
    (out / REPORT).write_text("\n".join(lines), encoding="utf-8")
