"""The pairs stage (Stage I-b): aligned and misaligned responses by two-stage rejection sampling.

For every kept prompt with a domain, generators from a pool write K candidates per slot
(temperature 0.7, top-p 0.9, 512 tokens by default), told the prompt's domains (templates in
:mod:`pipeline.stages.pairs.templates`). Stage 1 applies rules (:mod:`pipeline.stages.pairs.rules`); stage 2
asks a judge, which must be a different model from every generator and the labelling model, for the
probability that a candidate fulfils its slot, with a rationale. A slot with no candidate at the
threshold is regenerated from its failed candidates with the reason added to the generator prompt,
for at most ``rounds`` rounds; every attempt is stored with its parent. Each prompt then gets one
pair: the best aligned and best misaligned candidate, accepted / borderline / rejected with every
reason code, and a seeded random share of accepted pairs is marked for human audit.

The run (this module) plans requests (:mod:`~pipeline.stages.pairs.plan`), stores what the generators
write as candidates (:mod:`~pipeline.stages.pairs.candidates`), has them ruled and judged
(:mod:`~pipeline.stages.pairs.judge`) and assembles each prompt's pair (:mod:`~pipeline.stages.pairs.assemble`).
Candidates generated elsewhere come in through :mod:`pipeline.stages.pairs.importer` and meet the same
rules and judge. All state lives in the store and every model answer in the engine cache: a run killed at
any point and started again redoes the batch in flight from the cache, with the same ids.

Example (``local`` and ``judge`` are engines named in misalign.toml)::

    report = make_pairs(store, taxonomy, config, PairOptions(generators=("local",), judge="judge"))
    report.notes.accepted, report.notes.borderline, report.notes.rejected
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from pipeline.engines import GenerateRequest, server_notes
from pipeline.engines.backends import backends_that, capable
from pipeline.engines.config import Config, same_model
from pipeline.errors import UsageError
from pipeline.stages.pairs.assemble import pair_row, prompt_kind
from pipeline.stages.pairs.candidates import UNUSABLE, Candidate, candidate_row
from pipeline.stages.pairs.judge import Judging, Kinds
from pipeline.stages.pairs.options import PairOptions
from pipeline.stages.pairs.plan import PlanEntry, initial_plan, resample_plan
from pipeline.stages.pairs.rules import FEEDBACK, rules_name
from pipeline.stages.pairs.templates import domain_lines, generator_messages, template_hash
from pipeline.text.progress import progress
from review_store import Notes, StageReport, Store
from taxonomy import Taxonomy
NO_DOMAIN = ("(no domain assigned)", "General", "judge against general expectations of safety, values and culture")


@dataclass
class PairNotes(Notes):
    candidates: int = 0  # first attempts and imports stored by this run
    identical_candidates: int = 0  # draws word for word the same as another, kept once
    resampled: int = 0  # later attempts, written from a failed candidate and its reason
    stage1_failed: int = 0
    stage2_failed: int = 0
    stage2_unusable: int = 0
    accepted: int = 0
    borderline: int = 0
    rejected: int = 0
    audit: int = 0  # accepted pairs drawn for human audit
    generate_requests: int = 0
    judge_requests: int = 0
    servers: dict | None = None
    rows: int | None = None  # imported candidate rows (pairs_import only)


class PairRun:
    """One run of the stage: the engines, the labelling model's domains and the report."""

    def __init__(self, store: Store, taxonomy: Taxonomy, config: Config, options: PairOptions, stage: str,
                 generator_names: tuple[str, ...], imported_generators: tuple[str, ...] = ()):
        options.check()
        known = [k.id for k in taxonomy.misalignment_kinds]
        for kind in (options.kind, *options.prompt_kinds.values()):
            if kind is not None and kind not in known:
                raise UsageError(f"'{kind}' is not a misalignment kind of taxonomy {taxonomy.version} "
                                 f"({', '.join(known)})", field="kind")
        self.store, self.taxonomy, self.options = store, taxonomy, options
        self.labeler = choose_labeler(store, options.labeler)
        pool = [config.engine(name) for name in generator_names]
        for settings in pool:
            if not capable(settings.backend, "writes"):
                raise UsageError(f"engine '{settings.name}' ({settings.backend}) cannot generate text; name an engine "
                                 f"of the {backends_that('writes')} backend with --generator")
        judge_settings = config.engine_for("judge", options.judge)
        self.judge = config.build_engine(judge_settings, store)
        self.similarity_judge = capable(judge_settings.backend, "by_similarity")
        self.generators = [(settings, config.build_engine(settings, store)) for settings in pool]
        record = store.labeler(self.labeler)
        others = [(f"generator '{s.name}'", engine.model) for s, engine in self.generators]
        others += [(f"imported generator '{name}'", name) for name in imported_generators]
        if record and record["model"] and not options.judge_may_be_labeller:
            others.append((f"labelling model of labeler '{self.labeler}'", record["model"]))
        for who, model in others:
            if same_model(self.judge.model, model):
                raise UsageError(f"the judge ({judge_settings.name}: {self.judge.model}) must be a different model from "
                                 f"the {who}; name another with --judge")
        self.templates = template_hash()
        self.report = StageReport(stage, params={
            **asdict(options), "generators": [s.name for s, _ in self.generators], "judge": judge_settings.name,
            "judge_model": self.judge.model, "labeler": self.labeler, "templates": self.templates,
            "rules": rules_name(options.rules)}, notes=PairNotes())
        self.notes = self.report.notes
        self.models = [engine.model for _, engine in self.generators]
        self.judging = Judging(store, self.judge, self.similarity_judge, options, self.notes, self.report.started_at)
        self.pair_params = json.dumps({k: self.report.params[k] for k in (
            "threshold", "margin", "rounds", "k", "audit_rate", "seed", "templates", "rules", "judge", "generators")},
            sort_keys=True)
        self.described = {k.id: k.description for k in taxonomy.misalignment_kinds}

    # -- prompts and their domains ------------------------------------------------------------

    def domain_text(self, prompt_ids: list[str]) -> dict[str, tuple[str, str]]:
        """Per prompt: (the domain list the templates show, the domain names for a similarity judge)."""
        assigned = self.store.assigned_domains(prompt_ids, self.labeler)
        texts = {}
        for pid in prompt_ids:
            described = []
            for dimension, domain_id, _ in assigned.get(pid, []):
                domain = self.taxonomy.domain(domain_id)
                described.append((self.taxonomy.dimension_names[dimension], domain.name, domain.description))
            described = described or [NO_DOMAIN]
            texts[pid] = (domain_lines(described), ", ".join(name for _, name, _ in described))
        return texts

    def load(self, prompt_ids: list[str]) -> dict[str, list[Candidate]]:
        """Every candidate of the prompts with this run's verdicts, from the store."""
        candidates = {row["id"]: Candidate(row) for row in self.store.candidates_of(prompt_ids)}
        for j in self.store.judgments_of(candidates):
            c = candidates[j["candidate_id"]]
            if j["stage"] == 1 and j["judge"] == self.judging.rules_name:
                c.failed = (c.failed or []) + ([] if j["passed"] else [j["reason_code"]])
            elif j["stage"] == 2 and j["judge"] == self.judge.model:
                c.probability, c.rationale = j["probability"], j["rationale"]
                c.unusable = j["reason_code"] == UNUSABLE
        by_prompt: dict[str, list[Candidate]] = {pid: [] for pid in prompt_ids}
        for c in candidates.values():
            by_prompt[c.row["prompt_id"]].append(c)
        return by_prompt

    # -- generation ---------------------------------------------------------------------------

    def generate(self, plan: list[PlanEntry], domains: dict, kinds: Kinds) -> None:
        """Ask each generator of the pool for the candidates the plan gives it."""
        for index, (settings, engine) in enumerate(self.generators):
            mine = [entry for entry in plan if entry.generator == index]
            if not mine:
                continue
            sampling = settings.sampling_for("generate", temperature=self.options.temperature, top_p=self.options.top_p,
                                             max_tokens=self.options.max_tokens, seed=self.options.seed)
            requests = []
            for entry in mine:
                prompt, parent = entry.prompt, entry.parent
                previous = (parent.row["text"], self.feedback(parent)) if parent else (None, None)
                requests.append(GenerateRequest(generator_messages(prompt["text"], domains[prompt["id"]][0], entry.slot,
                                                                   *previous, kind=kinds.kind_text(prompt["id"], parent)),
                                                n=entry.n, **sampling))
            params = json.dumps({"engine": settings.name, "backend": settings.backend, "seed": sampling["seed"],
                                 "temperature": sampling["temperature"], "top_p": sampling["top_p"],
                                 "max_tokens": sampling["max_tokens"], "templates": self.templates,
                                 **({"repetition_penalty": sampling["repetition_penalty"]}
                                    if sampling["repetition_penalty"] else {})}, sort_keys=True)
            self.report.params.setdefault("sampling", {})[settings.name] = {k: v for k, v in sampling.items() if v != ()}
            rows = []
            for entry, generation in zip(mine, engine.generate(requests)):
                prompt, slot, parent = entry.prompt, entry.slot, entry.parent
                attempt = parent.row["attempt"] + 1 if parent else 0
                for text, reason in zip(generation.texts, generation.finish_reasons):  # stored exactly as written
                    rows.append(candidate_row(
                        prompt["id"], slot, text, engine.model, "generated", params, attempt,
                        parent.id if parent else None, self.feedback(parent) if parent else None, reason,
                        kinds.kind_of(prompt["id"], parent) if slot == "misaligned" else None, self.report.started_at))
            # k draws that came back word for word the same are one candidate, and said so
            self.notes.identical_candidates += len(rows) - len({r["id"] for r in rows})
            with self.store.transaction():
                added = self.store.add_candidates(rows)
            if mine[0].parent:
                self.notes.resampled += added
            else:
                self.notes.candidates += added

    def feedback(self, candidate: Candidate) -> str:
        """Why a candidate failed, in words for its generator: the rules' reasons or the judge's rationale."""
        if candidate.failed:
            return " ".join(FEEDBACK[code] for code in candidate.failed)
        return candidate.rationale or "The reviewer judged that it does not fulfil its role."

    # -- pairs --------------------------------------------------------------------------------

    def process(self, prompts: list[dict], kinds: dict[str, str] | None = None) -> None:
        """Generate, check, judge and resample for a batch of prompts, then write their pairs. ``kinds``: per
        prompt, the misalignment kind to write where its pair has none yet (else ``options.kind``)."""
        ids = [p["id"] for p in prompts]
        domains = self.domain_text(ids)
        candidates = self.load(ids)
        wanted = kinds or {}
        held = Kinds({pid: prompt_kind(mine) or wanted.get(pid, self.options.kind) for pid, mine in candidates.items()},
                     self.described)
        self.generate(initial_plan(prompts, candidates, self.models, self.options.k), domains, held)
        candidates = self.load(ids)
        self.judging.evaluate(prompts, candidates, domains, held)
        while plan := resample_plan(prompts, candidates, self.models, self.options.threshold, self.options.rounds):
            self.generate(plan, domains, held)
            candidates = self.load(ids)
            self.judging.evaluate(prompts, candidates, domains, held)
        rows = [pair_row(p, candidates[p["id"]], self.options, bool(self.generators), self.labeler, self.judge.model,
                         self.pair_params, self.report.started_at) for p in prompts]
        with self.store.transaction():
            self.store.save_pairs(rows)
        for row in rows:
            setattr(self.notes, row["status"], getattr(self.notes, row["status"]) + 1)
            self.notes.audit += row["audit"]
        self.report.items_in += len(prompts)

    def finish(self) -> StageReport[PairNotes]:
        report = self.report
        report.kept = self.notes.accepted + self.notes.borderline
        if self.notes.rejected:
            report.drop("rejected", self.notes.rejected)
        self.notes.generate_requests = sum(e.calls for _, e in self.generators)
        self.notes.judge_requests = self.judge.calls
        self.notes.servers = server_notes(*(e for _, e in self.generators), self.judge)
        self.store.record_stage_run(report)
        return report


def choose_labeler(store: Store, name: str | None) -> str:
    """The labeler whose domains the stage uses: the one named, else the only one with labels."""
    known = store.labelers_with_labels()
    if name:
        if name not in known:
            raise UsageError(f"no labels by '{name}' (labelers: {', '.join(known) or 'none yet'})", field="labeler")
        return name
    if not known:
        raise UsageError("no prompt has domain labels yet: run 'misalign label' (or ingest with --labels) first")
    if len(known) > 1:
        raise UsageError(f"several labelers ({', '.join(known)}): choose whose domains count with --labeler")
    return known[0]


def make_pairs(store: Store, taxonomy: Taxonomy, config: Config,
               options: PairOptions | None = None) -> StageReport[PairNotes]:
    """A pair for every kept prompt with a domain and no pair yet; returns the stage report."""
    options = options or PairOptions()
    names = options.generators or (config.engine_for("generate").name,)
    run = PairRun(store, taxonomy, config, options, "pairs", names)
    if options.prompt_kinds:  # only these prompts, those without a pair yet
        found = store.prompts_by_id(options.prompt_kinds)
        if missing := sorted(set(options.prompt_kinds) - {p["id"] for p in found}):
            raise UsageError(f"no prompt with id '{missing[0]}' in the store ({len(missing)} not found)",
                             field="prompt-kinds")
        chosen = [p for p in found if not store.pair_of(p["id"])]
        batches = (chosen[begin:begin + options.batch_prompts] for begin in range(0, len(chosen), options.batch_prompts))
        total = len(chosen)
    else:
        batches = store.prompts_needing_pairs(run.labeler, options.batch_prompts)
        total = store.count_prompts_needing_pairs(run.labeler)
    if options.limit is not None:
        total = min(total, options.limit)
    with progress(total, "pairs", "prompts") as bar:  # lines in a log too: a generator takes minutes a batch
        if total:  # a generator may take minutes over the first batch: say it started
            bar.update(0)
        for batch in batches:
            batch = batch[:total - run.report.items_in]
            if not batch:
                break
            run.process(batch, options.prompt_kinds)
            bar.update(len(batch))
    return run.finish()
