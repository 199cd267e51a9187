"""A stage of the loop run by its registered name (``pipeline.registry``), all under one contract:

    run(store, taxonomy, config, options) -> StageReport[Notes]

``options`` is the stage's settings dataclass, checked by ``options.check()`` before any work; the run
happens inside ``store.stage_run`` (so it is recorded in ``stage_runs`` with its counts, its settings
and its typed notes), is resumable and idempotent, and shows progress through
:func:`pipeline.text.progress.progress`. A stage that reads no taxonomy or no engine takes them all
the same, so every stage is run alike:

>>> report = run_stage("ingest", store, taxonomy, config, STAGES["ingest"].options(path="prompts.csv"))
>>> report.kept, report.notes.new_prompts
(2, 2)
>>> run_stage("dedup", store, taxonomy, config).notes.fingerprinted
2
>>> run_stage("pairz", store, taxonomy, config)
Traceback (most recent call last):
...
pipeline.errors.UsageError: no stage named 'pairz' (stages: ingest, label, dedup, expand, pairs, import_responses, pairs_import, review_queue, review_label_queue, review_push, review_pull, bench, import_inspect, steer_build, export, export_responses)
"""

from __future__ import annotations

from pipeline.errors import UsageError
from pipeline.registry import STAGES
from review_store import StageReport, Store
from taxonomy import Taxonomy


def run_stage(name: str, store: Store, taxonomy: Taxonomy, config, options=None) -> StageReport:
    """Run the stage called ``name`` with ``options`` (its defaults when not given); its run is recorded
    under that name."""
    if name not in STAGES:
        raise UsageError(f"no stage named '{name}' (stages: {', '.join(STAGES)})")
    report = STAGES[name].run(store, taxonomy, config, options)
    if report.stage != name:  # a bug: the run would be recorded under a name no one can look up
        raise RuntimeError(f"stage {name} recorded its run as {report.stage!r}")
    return report
