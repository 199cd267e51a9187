"""What a labelling model stores, and how: assigned labels at δ, whole distributions, semantic types and
unusable answers, committed batch by batch (shared by the zero-shot and the learned labelling model)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.text.progress import progress
from review_store import Notes, StageReport, Store
from taxonomy import DIMENSIONS, Taxonomy


def label_rows(prompt_id: str, dimension: str, probs: dict[str, float], delta: float,
               labeler: str) -> tuple[list[dict], dict | None]:
    """A dimension's assigned labels (the domains at δ, or None when none is; Unknown for an unusable
    answer) and its whole distribution to store (none for Unknown)."""
    if "unknown" in probs:
        return [{"prompt_id": prompt_id, "dimension": dimension, "domain": "unknown", "probability": 1.0,
                 "labeler": labeler}], None
    reached = [d for d, p in probs.items() if d != "none" and p >= delta] or ["none"]
    assigned = [{"prompt_id": prompt_id, "dimension": dimension, "domain": d, "probability": float(probs[d]),
                 "labeler": labeler} for d in reached]
    return assigned, {"prompt_id": prompt_id, "dimension": dimension, "labeler": labeler, "probabilities": probs}


def domain_layout(taxonomy: Taxonomy) -> dict[str, list[str]]:
    """The order a labeler's distributions are stored in: each dimension's domains, then None."""
    return {d: [domain.id for domain in taxonomy.domains_of(d)] + ["none"] for d in DIMENSIONS}


@dataclass
class LabelRows:
    """What labelling a batch stores: assigned labels, distributions, semantic types, unusable answers."""

    labels: list[dict] = field(default_factory=list)
    distributions: list[dict] = field(default_factory=list)
    types: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)

    def add(self, labels: list[dict], distribution: dict | None) -> None:
        self.labels += labels
        if distribution:
            self.distributions.append(distribution)

    def of(self, prompt_ids: set[str]) -> "LabelRows":
        """The rows of these prompts only."""
        return LabelRows(*([r for r in rows if r["prompt_id"] in prompt_ids]
                           for rows in (self.labels, self.distributions, self.types, self.failures)))

    def save(self, store: Store) -> None:
        """Write them (inside the caller's transaction)."""
        store.add_label_rows(self.labels, self.distributions, self.types, self.failures)


@dataclass
class LabelNotes(Notes):
    """The label stage's figures, zero-shot and learned alike (a field one of them does not fill is None)."""

    left_out_outside_subset: int | None = None
    prompts_per_s: float | None = None
    engine_requests: int | None = None
    servers: dict | None = None  # per server: answered, failed, seconds (several replicas only)
    model: str | None = None  # the learned labelling model's id
    training_prompts: int | None = None
    refitted: int | None = None  # 1 when the model was fitted by this run, 0 when a stored fit was reused
    cross_validation: dict | None = None  # per dimension, the labelling figures of out-of-fold predictions
    no_none_in_training: str | None = None  # dimensions whose training labels never say None
    labelling_prompts_per_s: float | None = None
    # answers the labelling model gave that could not be read, per dimension (and "type"); the prompt's label
    # there is "unknown" and the raw answer is kept in label_failures
    unusable_answers: dict[str, int] | None = None

    def count_unusable(self, dimension: str) -> None:
        if self.unusable_answers is None:
            self.unusable_answers = {}
        self.unusable_answers[dimension] = self.unusable_answers.get(dimension, 0) + 1


def label_pending(store: Store, name: str, batch_size: int, report: StageReport[LabelNotes],
                  rows_for: Callable[[list[dict]], LabelRows], subset: dict | None = None) -> None:
    """Label, batch by batch, every prompt ``name`` has not labelled yet (of ``subset`` only, when given:
    the others are counted as left out): ``rows_for(batch)`` gives its rows, committed with the batch,
    so a cut-off run resumes where it stopped; progress shown as it goes."""
    todo = store.count_prompts_without_labels(name, subset)
    if subset:
        report.notes.left_out_outside_subset = store.count_prompts_without_labels(name) - todo
    with progress(todo, f"label ({name})", "prompts") as bar:
        for batch in store.prompts_without_labels(name, batch_size, subset):
            rows = rows_for(batch)
            with store.transaction():
                rows.save(store)
            report.items_in += len(batch)
            report.kept += len(batch)
            bar.update(len(batch))
