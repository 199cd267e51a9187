"""How a labeler agrees with reference labels (e.g. the paper's, imported), in the figures of
:mod:`pipeline.labelling.figures`, from the labeler's stored distributions.

Per dimension, over prompts both have labelled; every domain the reference gives a prompt counts as right.
What is not scored is counted by reason: the reference says Unknown, the reference has no label for that
dimension, the prompt is outside the subset, the labeler answered Unknown. Also the most frequent
confusions of the argmax.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from pipeline.labelling.figures import label_figures
from review_store import Store
from taxonomy import DIMENSIONS, Taxonomy


def _references(store: Store, labeler: str) -> tuple[dict[tuple[str, str], tuple[str, ...]], set]:
    """Each (prompt, dimension)'s domains by ``labeler``, Unknown left out; and the (prompt, dimension)s it
    says only Unknown of."""
    labels: dict = {}
    unknown = set()
    for prompt_id, dimension, domain, _ in store.assigned_labels(labeler):
        if domain != "unknown":
            labels.setdefault((prompt_id, dimension), set()).add(domain)
        else:
            unknown.add((prompt_id, dimension))
    return {key: tuple(sorted(domains)) for key, domains in labels.items()}, unknown - labels.keys()


def label_agreement(store: Store, labeler: str, reference: str, taxonomy: Taxonomy, delta: float,
                    subset: dict | None = None) -> dict:
    """{dimension: the figures of :func:`label_figures` at ``delta``, with the top confusions and what was
    left out, by reason}; only the prompts of ``subset`` when given (as the store takes it)."""
    theirs, theirs_unknown = _references(store, reference)
    ours = {(p, d) for p, d, _, _ in store.assigned_labels(labeler)}
    outside = set()
    if subset:
        inside = store.prompt_ids_in(subset)
        outside = {key for key in ours & theirs.keys() if key[0] not in inside}
        theirs = {key: value for key, value in theirs.items() if key[0] in inside}
        theirs_unknown = {key for key in theirs_unknown if key[0] in inside}
        ours = {key for key in ours if key[0] in inside} | outside
    name = {d.id: d.name for d in taxonomy.domains} | {"none": "None", "unknown": "Unknown"}
    report = {}
    for dimension in DIMENSIONS:
        classes = [d.id for d in taxonomy.domains_of(dimension)] + ["none"]
        column = {c: i for i, c in enumerate(classes)}
        stored_ids, stored_domains, stored = store.label_distributions(labeler, dimension)
        rows = [(i, theirs[(p, dimension)]) for i, p in enumerate(stored_ids) if (p, dimension) in theirs]
        # labelled by both, but the labeler's answer was unusable (Unknown, no distribution): said, not scored
        unknown = sum(1 for key in ours & theirs.keys() if key[1] == dimension) - len(rows)
        probabilities = np.zeros((len(rows), len(classes)))
        into = [(j, column[d]) for j, d in enumerate(stored_domains) if d in column]
        sources = [i for i, _ in rows]
        for j, c in into:
            probabilities[:, c] = stored[sources, j]
        answered = probabilities.sum(axis=1) > 0  # an Unknown stored as an assigned label has no domain
        unknown += int((~answered).sum())
        probabilities, references = probabilities[answered], [r for (_, r), a in zip(rows, answered) if a]
        mine = {key for key in ours if key[1] == dimension} - outside
        reasons = (("the reference says Unknown", len(mine & theirs_unknown)),
                   ("no reference label", len(mine - theirs.keys() - theirs_unknown)),
                   ("outside the subset", sum(k[1] == dimension for k in outside)),
                   (f"answered Unknown by {labeler}", unknown))
        left_out = {reason: n for reason, n in reasons if n}
        if not references:
            report[dimension] = {"n": 0, "left_out": left_out}
            continue
        figures = label_figures(references, probabilities, classes, delta)
        predicted = [classes[i] for i in probabilities.argmax(axis=1)]
        confusions = Counter((r[0], p) for r, p in zip(references, predicted) if p not in r).most_common(5)
        figures["confusions"] = [{"reference": name.get(t, t), "predicted": name.get(p, p), "count": c}
                                 for (t, p), c in confusions]
        report[dimension] = figures | {"left_out": left_out}
    return report
