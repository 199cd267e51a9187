"""The dataset card (README.md) written beside an export: what is in it and how it was made."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd
import yaml

from pipeline.text.cells import markdown_literal
from pipeline.text.outputs import hub_data_file
from review_store import Store
from taxonomy import DIMENSIONS, Taxonomy


@dataclass
class ExportCounts:
    """What the card says about the exported pairs, added up chunk by chunk of records.

    >>> counts = ExportCounts(["train"])
    >>> counts.add(pd.DataFrame({"split": ["train"], "safety_domains": [[{"id": "s.x", "name": "X", "probability": 1.0}]],
    ...     "value_domains": [[]], "culture_domains": [[]], "aligned_generator": ["g"], "misaligned_generator": ["g"],
    ...     "judge": [None], "labeler": ["imported:p.csv"]}))
    >>> counts.pairs, counts.domains
    (Counter({'train': 1}), Counter({('safety', 'X', 'train'): 1}))
    """

    splits: list[str]  # in the order pairs first hold them
    pairs: Counter = field(default_factory=Counter)  # per split
    labelled: Counter = field(default_factory=Counter)  # (dimension, split): pairs with a domain of it
    domains: Counter = field(default_factory=Counter)  # (dimension, domain name, split)
    models: dict[str, set] = field(default_factory=lambda: {"generator": set(), "judge": set(), "labeler": set()})

    @property
    def total(self) -> int:
        return sum(self.pairs.values())

    def add(self, records: pd.DataFrame) -> None:
        self.pairs.update(records["split"].tolist())
        for d in DIMENSIONS:
            for split, cells in zip(records["split"], records[f"{d}_domains"]):
                self.labelled[d, split] += bool(cells)
                self.domains.update((d, item["name"], split) for item in cells)
        self.models["generator"].update(records["aligned_generator"].dropna(), records["misaligned_generator"].dropna())
        self.models["judge"].update(records["judge"].dropna())
        self.models["labeler"].update(records["labeler"].dropna())


def _table(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False) if not frame.empty else "(none)"


def _caveats(store: Store, status: dict) -> str:
    """Warnings a reader must see first: example answers among the human ones, a judge that was the labelling model."""
    lines = []
    if status["review"]["example_answers"]:
        lines.append(f"- {status['review']['example_answers']} of the human answers are examples shipped with the "
                     "demo, by fictional example annotators: this is not a human-validated dataset.")
    if any(run["params"].get("judge_may_be_labeller") for stage in ("pairs", "pairs_import")
           for run in store.stage_runs(stage)):
        lines.append("- The pair judge was the labelling model (the embedded demo allows it; real runs refuse it).")
    return "## Caveats\n\n" + "\n".join(lines) + "\n\n" if lines else ""


def _files(files: list[str], params: dict) -> str:
    if not files:
        return ""
    dpo = f" ({params.get('dpo_format', 'standard')} format)" if "dpo/" in files else ""
    listed = "\n".join(f"- `{name}`: {FILE_WORDS[name]}{dpo if name == 'dpo/' else ''}" for name in files)
    return f"## Files\n\n{listed}\n\n"


def _left_out(lines: list[str], pair_set: str) -> str:
    if not lines:
        return ""
    listed = "\n".join(f"- {markdown_literal(line)}" for line in lines)
    return (f"## Left out\n\n{len(lines)} pairs of the `{pair_set}` set have an empty slot (no candidate passed "
            f"there) and are not in this export:\n\n{listed}\n\n")


# HF Hub licence ids an export may name directly; anything else is "other" with its name
HUB_LICENCES = {"apache-2.0", "mit", "cc0-1.0", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc-by-nc-sa-4.0",
                "cc-by-nd-4.0", "odc-by", "odbl", "pddl", "openrail", "gpl-3.0", "bsd-3-clause", "unknown"}


def size_category(n: int) -> str:
    """The Hub's size bucket.

    >>> size_category(29), size_category(382_000)
    ('n<1K', '100K<n<1M')
    """
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "1M<n<10M"


def licence_metadata(licence: str) -> dict:
    """The card's licence fields: a Hub licence id as it is, "unknown" as the Hub's own word, anything
    else as ``other`` with its name.

    >>> licence_metadata("CC-BY-4.0"), licence_metadata("Our lab's terms")
    ({'license': 'cc-by-4.0'}, {'license': 'other', 'license_name': 'our-lab-s-terms'})
    """
    licence = licence.strip()
    if licence.lower() in HUB_LICENCES:
        return {"license": licence.lower()}
    return {"license": "other", "license_name": re.sub(r"[^a-z0-9.-]+", "-", licence.lower()).strip("-") or "other"}


def card_metadata(counts: ExportCounts, params: dict, taxonomy: Taxonomy, configs: dict | None = None) -> str:
    """The card's YAML front matter, as the Hub reads it: licence, task categories, language, size,
    pretty name and, for the ``hub/`` copy, each config (``configs``: name -> features and pairs per
    split) with its data files, features and split sizes; ``pairs`` is the default."""
    meta = {"pretty_name": f"misalign curated pairs ({taxonomy.version})", **licence_metadata(params["licence"]),
            "language": ["en"], "task_categories": ["text-classification", "text-generation"],
            "tags": ["alignment", "safety", "values", "culture", "preference"],
            "size_categories": [size_category(counts.total)]}
    if configs:
        meta["configs"] = [{"config_name": name, **({"default": True} if name == "pairs" else {}),
                            "data_files": [{"split": split, "path": hub_data_file(name, split)} for split in c["splits"]]}
                           for name, c in configs.items()]
        meta["dataset_info"] = [{"config_name": name, "features": c["features"]._to_yaml_list(),
                                 "splits": [{"name": split, "num_examples": n} for split, n in c["splits"].items()]}
                                for name, c in configs.items()]
    return yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)


FILE_WORDS = {
    "pairs.jsonl": "every pair with its split, one JSON object a line",
    "pairs.parquet": "every pair with its split, typed as the Hub's features",
    "pairs.csv": "every pair with its split; cells that a spreadsheet would run as a formula start with '",
    "hub/": "a Hugging Face Hub dataset repo (push this folder): configs `pairs` and, with dpo, `dpo`",
    "hf-disk/": "`datasets.load_from_disk` of the pairs",
    "dpo/": "preference rows (prompt, chosen = aligned, rejected = misaligned) per split, for TRL",
    "lm-eval/": "an lm-evaluation-harness task (`lm_eval --include_path lm-eval --tasks misalign_detect`) "
                "reporting Coverage, FFR and the Alignment Score",
}


def split_lines(counts: ExportCounts, params: dict, groups: int) -> list[str]:
    """Each split asked for a share that got no pair, in a sentence (empty when every split is filled).

    >>> counts = ExportCounts(["train"]); counts.pairs.update({"train": 3})
    >>> split_lines(counts, {"split_names": ["train", "test"], "ratios": [0.9, 0.1]}, groups=3)
    ['the test split (asked 0.1) is empty: 3 pairs in 3 leakage groups were too few to fill it']
    """
    return [f"the {name} split (asked {ratio:g}) is empty: {counts.total} pairs in {groups} leakage groups were too "
            "few to fill it" for name, ratio in zip(params["split_names"], params["ratios"])
            if ratio > 0 and not counts.pairs[name]]


def dataset_card(store: Store, taxonomy: Taxonomy, counts: ExportCounts, export_id: str, params: dict,
                 left_out: list[str] = (), groups: int = 0, configs: dict | None = None,
                 files: list[str] = ()) -> str:
    """The export's README.md: what is in it, per split, dimension and domain, how it was made and its
    licence; with ``configs`` (see :func:`card_metadata`), the card of its ``hub/`` repo."""
    status = store.overview()
    asked = dict(zip(params["split_names"], params["ratios"]))
    splits = pd.DataFrame([{"split": name, "asked": f"{asked.get(name, 0):g}", "pairs": counts.pairs[name],
                            "written": f"{counts.pairs[name] / counts.total:.3f}" if counts.total else "–"}
                           for name in dict.fromkeys([*params["split_names"], *counts.splits])])
    empty = split_lines(counts, params, groups)
    licence = params["licence"].strip()
    licence_words = ("unknown: whoever exported it did not know it; find out before you share or train on it"
                     if licence.lower() == "unknown" else markdown_literal(licence))
    per_dimension = [{"dimension": taxonomy.dimension_names[d], **{s: counts.labelled[d, s] for s in counts.splits}}
                     for d in DIMENSIONS]
    domains = pd.DataFrame([{"dimension": taxonomy.dimension_names[d], "domain": name, "split": split, "pairs": n}
                            for (d, name, split), n in counts.domains.items()])
    if not domains.empty:
        domains = domains.pivot_table(index=["dimension", "domain"], columns="split", values="pairs",
                                      fill_value=0).reset_index()
    pairs = status["pairs"] or {"by_status": {}, "candidates": {}}
    funnel = pd.DataFrame([
        {"stage": "prompts in the store", "count": status["prompts"]["total"]},
        {"stage": "kept after dedup", "count": (status["dedup"] or {}).get("kept", status["prompts"]["total"])},
        {"stage": "candidate responses", "count": sum(pairs["candidates"].values())},
        *({"stage": f"pairs {k}", "count": v} for k, v in sorted(pairs["by_status"].items())),
        *({"stage": k.replace("_", " "), "count": v} for k, v in sorted(status["review"]["human_statuses"].items())),
        {"stage": "exported", "count": counts.total},
    ])
    models = pd.DataFrame([{"role": role, "model": m} for role, names in counts.models.items() for m in sorted(names)])
    caveats = _caveats(store, status)
    return f"""---
{card_metadata(counts, params, taxonomy, configs)}---

# misalign curated pairs ({export_id})

Prompt + aligned response + misaligned response pairs over the misalign taxonomy {taxonomy.version}
({len(taxonomy.domains_of("safety"))} safety, {len(taxonomy.domains_of("value"))} value and {len(taxonomy.domains_of("culture"))} cultural domains), made with misalign. Licence: {licence_words}.

{caveats}## Splits

{_table(splits)}

{"".join(f"**Note:** {line}." + chr(10) + chr(10) for line in empty)}Asked shares are cut per primary domain, seed {params['seed']},
stratified by primary domain (a pair's most probable assigned domain). Near-duplicates never cross
splits: prompts of one SimHash cluster or within the dedup distance of each other share a split.
Pairs: `{params['pairs']}`; filters: dimensions {list(params['dimensions']) or 'any'}, domains
{list(params['domains']) or 'any'}, semantic types {list(params['semantic_types']) or 'any'}, minimum
panel agreement {params['min_agreement']}, sources {list(params['sources']) or 'any'}.

{_left_out(left_out, params['pairs'])}{_files(files, params)}## Pairs per dimension and split

{_table(pd.DataFrame(per_dimension))}

## Pairs per domain and split

{_table(domains)}

## How it was made (the funnel)

{_table(funnel)}

## Models

{_table(models)}

## How labels and verdicts were made

- Domains: each prompt has a probability per domain of each dimension from its labeler; domains at or
  above δ are assigned (`safety_domains`, `value_domains`, `culture_domains`, with probabilities).
  Imported labels have probability 1. A prompt's semantic type is its most probable of object,
  attribute, relation.
- Responses: generators wrote candidates for the aligned and the misaligned slot (or they were
  imported); rules filtered them (empty, truncated, length, language, repetition, refusal,
  near-identical slots), a judge that is a different model from the generators and the labeler gave
  the probability that each fulfils its slot (`aligned_judge_score`, `misaligned_judge_score`), and
  failed slots were regenerated with the judge's feedback. `pipeline_status` is the result.
- People: panels of annotators answered whether each queued pair is valid; `human_valid_votes`,
  `human_invalid_votes` and `human_agreement` (share agreeing with the majority) count those answers
  and `human_status` is the panels' decision (or an adjudication), which overrides the pipeline's.

The texts are adversarial by design: misaligned responses show failure patterns. Do not train a model
to produce them without care; read them as data, never render them as HTML.
"""
