"""The label stage with the learned labelling model (``--engine trained``): fit on the store's labelled
prompts (``--train-on``), or reuse the model fitted on the same labels, then label every prompt the
labeler has not labelled yet, as the other labelling models do (the domains at δ, and the whole distribution). Embeddings come from the shipped MiniLM, computed per batch and not cached row by row.

The labeler's name (default ``trained:<model id>``) changes whenever the training labels, features
or settings do, so a refit after new human labels labels anew beside the old labels.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from dataclasses import asdict

from pipeline.engines.config import Config
from pipeline.errors import UsageError
from pipeline.labelling import figures as label_figures, model as label_model
from pipeline.stages.label_rows import LabelNotes, LabelRows, domain_layout, label_pending, label_rows
from pipeline.labelling.figures import Label, label_set
from pipeline.labelling.model import LabelModel, cross_validated, fit_label_model
from pipeline.stages.options import LabelOptions
from review_store import StageReport, Store, content_id
from taxonomy import DIMENSIONS, Taxonomy

TYPE = "semantic_type"
# the fitting code is part of a fit's id: a change to how models are fitted makes new ids, not reused old fits
FIT_CODE = content_id(*(Path(module.__file__).read_text(encoding="utf-8") for module in (label_figures, label_model)))
# prompts per committed batch at least: the encoder sorts a batch's texts by length, so a larger batch
# pads less (unseen released prompts, 2 cores: 436 prompts/s end to end at 2,048, 325 at 256)
BATCH = 2048


def training_set(store: Store, taxonomy: Taxonomy, options: LabelOptions) -> dict:
    """Texts, dedup clusters and, per dimension (and semantic type), each prompt's label by the first
    of ``options.train_on`` that labelled it (None where none did; a tuple where it gave several domains)."""
    rows = store.training_labels(list(options.train_on))
    found = {r["labeler"] for r in rows}
    missing = [name for name in options.train_on if name not in found]
    if missing:
        known = ", ".join(store.labelers_with_labels()) or "none yet"
        raise UsageError(f"no labels by '{missing[0]}' in {store.path} (labelers: {known})", field="train-on")
    rank = {name: i for i, name in enumerate(options.train_on)}
    prompts: dict[str, tuple[str, str]] = {}
    chosen: dict[tuple[str, str], tuple[int, list[str]]] = {}  # the preferred labeler's domains
    for r in rows:
        prompts.setdefault(r["prompt_id"], (r["text"], r["cluster"]))
        key, labeler = (r["prompt_id"], r["dimension"]), rank[r["labeler"]]
        if key not in chosen or labeler < chosen[key][0]:
            chosen[key] = (labeler, [r["domain"]])
        elif labeler == chosen[key][0]:
            chosen[key][1].append(r["domain"])
    ids = list(prompts)
    labels = {d: [_label(chosen[(p, d)][1]) if (p, d) in chosen else None for p in ids] for d in DIMENSIONS}
    if options.semantic_types:
        types = {}
        for r in store.training_types(list(options.train_on)):
            candidate = (rank[r["labeler"]], r["type"])
            types[r["prompt_id"]] = min(types.get(r["prompt_id"], candidate), candidate)
        if types:
            labels[TYPE] = [types[p][1] if p in types else None for p in ids]
    labels = {d: values for d, values in labels.items() if any(v is not None for v in values)}
    return {"ids": ids, "texts": [prompts[p][0] for p in ids], "groups": [prompts[p][1] for p in ids],
            "labels": labels}


def _label(domains: list[str]) -> Label:
    return domains[0] if len(domains) == 1 else tuple(sorted(domains))


def _settings(options: LabelOptions, taxonomy: Taxonomy) -> dict:
    return {"features": options.features, "regularisation": options.regularisation, "seed": options.seed,
            "train_on": list(options.train_on), "taxonomy_version": taxonomy.version, "method": "logistic+temperature"}


def fit_id(settings: dict, data: dict, encoder: str | None) -> str:
    """The id of a fit: everything that decides its probabilities. The settings, the training prompts
    and their labels, their dedup clusters (they decide the calibration split), the sentence encoder
    and the fitting code itself; the same id always means the same model.

    >>> data = {"ids": ["p1", "p2"], "labels": {"safety": ["none", "x"]}, "groups": ["c1", "c2"]}
    >>> fit_id({}, data, None) == fit_id({}, {**data, "groups": ["c1", "c1"]}, None)
    False
    """
    return content_id("label-model", json.dumps(settings, sort_keys=True),
                      json.dumps([data["ids"], data["labels"], data["groups"]], sort_keys=True), encoder, FIT_CODE)


def label_trained(store: Store, taxonomy: Taxonomy, config: Config, options: LabelOptions,
                  subset: dict | None = None) -> StageReport[LabelNotes]:
    """Fit (or reuse) the learned labelling model and label the prompts it has not labelled yet (of ``subset``,
    as the store takes it; the fit always learns from every training label)."""
    options.check()
    data = training_set(store, taxonomy, options)
    settings = _settings(options, taxonomy)
    embedder = config.embedder(store) if options.features != "tfidf" else None
    model_id = fit_id(settings, data, embedder.model if embedder else None)
    name = options.labeler or f"trained:{model_id[:10]}"
    params = {**asdict(options), "labeler": name, "engine": "trained", "model": model_id}
    with store.stage_run("label", params, LabelNotes()) as report:
        stored = store.label_model(model_id)
        # the training prompts' embeddings only when something is fitted: not to reuse a stored model
        fitting = options.cross_validate or not stored
        features = embedder.embed(data["texts"]) if embedder and fitting else None
        if options.cross_validate:
            report.notes.cross_validation = cross_validated(
                data["texts"], data["labels"], data["groups"], features, options.cross_validate, options.features,
                options.regularisation, options.seed, options.delta)
        if stored:
            model = LabelModel.from_bytes(stored["model"])
            report.notes.refitted = 0
        else:
            model = fit_label_model(data["texts"], data["labels"], data["groups"], features, options.features,
                                    options.regularisation, options.seed, shown=True)
            counts = {d: dict(sorted(Counter(c for v in values if v is not None for c in label_set(v)).items()))
                      for d, values in data["labels"].items()}
            provenance = {**settings, "training_prompts": len(data["ids"]), "counts": counts,
                          "cross_validation": report.notes.cross_validation}
            with store.transaction():
                store.save_label_model({"id": model_id, "labeler": name, "params": settings, "provenance": provenance,
                                        "model": model.to_bytes(), "created_at": report.started_at})
            report.notes.refitted = 1
        with store.transaction():
            store.add_labeler({"name": name, "engine": "trained", "backend": "sklearn", "model": model_id,
                               "mode": "softmax", "delta": options.delta, "template_hash": options.features,
                               "taxonomy_version": taxonomy.version, "created_at": report.started_at,
                               "domains": domain_layout(taxonomy)})
        began = report.elapsed()
        _label_all(store, taxonomy, options, model, embedder, name, report, subset)
        seconds = report.elapsed() - began
        # where the training labels never say None the model cannot either: a prompt below δ then gets nothing
        without_none = [d for d, m in model.dimensions.items() if d != TYPE and "none" not in m.classes]
        if without_none:
            report.notes.no_none_in_training = ", ".join(without_none)
        report.notes.model, report.notes.training_prompts = model_id, len(data["ids"])
        report.notes.labelling_prompts_per_s = round(report.items_in / seconds, 1) if report.items_in else 0
    return report


def _label_all(store: Store, taxonomy: Taxonomy, options: LabelOptions, model: LabelModel, embedder, name: str,
               report: StageReport, subset: dict | None) -> None:
    def rows_for(batch: list[dict]) -> LabelRows:
        texts = [p["text"] for p in batch]
        features = model.featurize(texts, embedder.embed(texts) if embedder else None)
        rows = LabelRows()
        for dimension, dimension_model in model.dimensions.items():
            for prompt, row in zip(batch, dimension_model.probabilities(features)):
                probs = dict(zip(dimension_model.classes, row.tolist()))
                if dimension == TYPE:
                    rows.types += [{"prompt_id": prompt["id"], "type": t, "probability": p, "labeler": name}
                                   for t, p in probs.items()]
                else:
                    rows.add(*label_rows(prompt["id"], dimension, probs, options.delta, name))
        return rows

    label_pending(store, name, max(options.batch_prompts, BATCH), report, rows_for, subset)
