"""Every stage in ``STAGES`` keeps one contract: ``run(store, taxonomy, config, options)`` returning a
report whose notes are the stage's own typed dataclass, settings checked by ``options.check()``, and
progress through the one helper (no stage calls tqdm itself)."""

import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from pipeline.errors import UsageError
from pipeline.flow.run import run_stage
from pipeline.registry import STAGES
from review_store import Notes

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(STAGES))
def test_each_stage_keeps_the_contract(name):
    stage = STAGES[name]
    assert list(inspect.signature(stage.run).parameters) == ["store", "taxonomy", "config", "options"]
    assert issubclass(stage.notes, Notes) and stage.notes().as_dict() is not None  # every figure has a default
    assert all(f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
               for f in dataclasses.fields(stage.notes))
    assert callable(getattr(stage.options, "check", None))
    source = inspect.getsource(inspect.getmodule(stage.run))
    assert "stage_run(" in source or "PairRun(" in source  # recorded in stage_runs
    assert stage.notes.__name__ in source or stage.notes.__module__ == stage.run.__module__


def test_no_stage_draws_its_own_progress_bar():
    calls = [f"{p.relative_to(REPO)}" for p in (REPO / "pipeline").rglob("*.py")
             if p.name != "progress.py" and re.search(r"^\s*(from tqdm|import tqdm)", p.read_text(encoding="utf-8"), re.M)]
    assert not calls, calls


def test_an_unknown_stage_or_bad_settings_are_one_line_and_leave_the_store_unchanged(store, taxonomy, tmp_path,
                                                                                      monkeypatch):
    with pytest.raises(UsageError, match="no stage named 'pairz'"):
        run_stage("pairz", store, taxonomy, None)
    with pytest.raises(UsageError, match="--tau"):
        run_stage("dedup", store, taxonomy, None, STAGES["dedup"].options(tau=99))
    with pytest.raises(UsageError, match="no file of prompts"):
        run_stage("ingest", store, taxonomy, None)
    with pytest.raises(UsageError, match="--queue: 'nope' is not a queue"):
        run_stage("review_push", store, taxonomy, None, STAGES["review_push"].options("South Asia", ("nope",)))
    monkeypatch.delenv("ARGILLA_API_URL", raising=False)
    with pytest.raises(UsageError, match="set ARGILLA_API_URL and ARGILLA_API_KEY"):
        run_stage("review_pull", store, taxonomy, None)
    assert store.stage_runs() == []


def test_the_readme_lists_the_registry():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\| `(\w+)` \| `misalign [^`]+` \|", readme, re.M)
    assert listed == list(STAGES)


def test_every_stage_the_demo_runs_counts_in_as_kept_plus_dropped(demo_run):
    """One meaning of a report's figures across stages: what came in was kept or dropped for a reason."""
    from review_store import Store

    with Store(demo_run[0], read_only=True) as store:
        runs = store.stage_runs(limit=1000)
    assert {"ingest", "dedup", "label", "pairs_import", "review_queue", "bench", "export"} <= {r["stage"] for r in runs}
    assert {r["stage"] for r in runs} <= set(STAGES)  # each run under the name its stage is registered with
    for run in runs:
        assert run["items_in"] == run["kept"] + sum(run["dropped"].values()), run
