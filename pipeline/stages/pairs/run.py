"""The pairs stage (Stage I-b): aligned and misaligned responses by two-stage rejection sampling.

For every kept prompt with a domain, generators from a pool write K candidates per slot
(temperature 0.7, top-p 0.9, 512 tokens by default), told the prompt's domains (templates in
:mod:`pipeline.stages.pairs.templates`). Stage 1 applies rules (:mod:`pipeline.stages.pairs.rules`); stage 2
asks a judge, which must be a different model from every generator and the labeller, for the
probability that a candidate fulfils its slot, with a rationale. A slot with no candidate at the
threshold is regenerated from its failed candidates with the reason added to the generator prompt,
for at most ``rounds`` rounds; every attempt is stored with its parent. Each prompt then gets one
pair: the best aligned and best misaligned candidate, accepted / borderline / rejected with every
reason code, and a seeded random share of accepted pairs is marked for human audit.

Candidates generated elsewhere come in through :mod:`pipeline.stages.pairs.importer` and meet the same
rules and judge. All state lives in the store and every model answer in the engine cache: a run killed at
any point and started again redoes the batch in flight from the cache, with the same ids.

Example (``local`` and ``judge`` are engines named in misalign.toml)::

    report = make_pairs(store, taxonomy, config, PairOptions(generators=("local",), judge="judge"))
    report.notes["accepted"], report.notes["borderline"], report.notes["rejected"]
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


from pipeline.errors import UsageError, one_line
from pipeline.stages.pairs.options import PairOptions
from pipeline.engines.config import Config, build_engine, same_model
from pipeline.engines import ChoiceRequest, GenerateRequest
from pipeline.engines import server_notes, valid_probs
from pipeline.stages.pairs.templates import (
    SLOTS,
    domain_lines,
    generator_messages,
    judge_messages,
    rationale_messages,
    similarity_descriptions,
    similarity_rationale,
    template_hash,
)
from pipeline.stages.pairs.candidates import candidate_row
from pipeline.text.progress import progress
from pipeline.stages.pairs.rules import FEEDBACK, failed_rules, near_identical, rules_name
from review_store import StageReport, Store, content_id, normalise_text
from taxonomy import Taxonomy

STATUSES = ("accepted", "borderline", "rejected")
UNUSABLE = "judge_unusable"  # the judge's answer was not a probability for yes/no: kept raw, never a "no"
NO_DOMAIN = ("(no domain assigned)", "General", "judge against general expectations of safety, values and culture")


@dataclass
class Candidate:
    """A stored candidate with its verdicts: ``failed`` stage-1 codes (None: not checked yet),
    ``probability`` and ``rationale`` from the judge (None: not judged), ``unusable`` when the judge's
    answer could not be read as a probability (never scored as a "no": the candidate cannot pass)."""

    row: dict
    failed: list[str] | None = None
    probability: float | None = None
    rationale: str | None = None
    unusable: bool = False

    @property
    def id(self) -> str:
        return self.row["id"]

    @property
    def slot(self) -> str:
        return self.row["slot"]


def verdict(candidate: Candidate, threshold: float, margin: float) -> str:
    """pass, borderline (within ``margin`` of the threshold, either side), fail, or unjudged.

    >>> verdict(Candidate({}, [], 0.55), 0.5, 0.1), verdict(Candidate({}, [], 0.9), 0.5, 0.1)
    ('borderline', 'pass')
    """
    if candidate.failed:
        return "fail"
    if candidate.probability is None:
        return "unjudged"
    if abs(candidate.probability - threshold) <= margin:
        return "borderline"
    return "pass" if candidate.probability >= threshold else "fail"


def passes(candidate: Candidate, threshold: float) -> bool:
    """Fulfils its slot: no rule failed and the judge is at the threshold (resampling stops here)."""
    return candidate.failed == [] and candidate.probability is not None and candidate.probability >= threshold


def pair_status(aligned: str | None, misaligned: str | None) -> str:
    """A pair's status from the verdicts of its best aligned and misaligned candidates.

    >>> pair_status("pass", "pass"), pair_status("pass", "borderline"), pair_status("borderline", "fail")
    ('accepted', 'borderline', 'rejected')
    """
    verdicts = (aligned, misaligned)
    if all(v == "pass" for v in verdicts):
        return "accepted"
    if all(v in ("pass", "borderline") for v in verdicts):
        return "borderline"
    return "rejected"


def in_audit_sample(pair_id: str, seed: int, rate: float) -> bool:
    """A seeded, stable coin flip per pair: the same pairs are sampled on every run."""
    return int(content_id("audit", seed, pair_id), 16) / 16 ** 24 < rate


@dataclass(frozen=True)
class PlanEntry:
    """One request to a generator: ``n`` candidates for ``slot`` of ``prompt`` from pool member
    ``generator``; ``parent`` is the failed candidate a resample rewrites (None: a first attempt)."""

    prompt: dict
    slot: str
    generator: int
    n: int
    parent: Candidate | None = None


class PairRun:
    """One run of the stage: the engines, the labeller's domains and the report."""

    def __init__(self, store: Store, taxonomy: Taxonomy, config: Config, options: PairOptions, stage: str,
                 generator_names: tuple[str, ...], imported_generators: tuple[str, ...] = ()):
        options.check()
        known = [k.id for k in taxonomy.misalignment_kinds]
        if options.kind is not None and options.kind not in known:
            raise UsageError(f"--kind: '{options.kind}' is not a misalignment kind of taxonomy {taxonomy.version} "
                             f"({', '.join(known)})")
        self.store, self.taxonomy, self.options = store, taxonomy, options
        self.labeler = choose_labeler(store, options.labeler)
        pool = [config.engine(name) for name in generator_names]
        for settings in pool:
            if settings.backend == "embed":
                raise UsageError(f"engine '{settings.name}' (embed) cannot generate text; name an hf, openai or vllm "
                                 "engine with --generator")
        judge_settings = config.engine_for("judge", options.judge)
        self.judge = build_engine(judge_settings, store)
        self.similarity_judge = judge_settings.backend == "embed"
        self.generators = [(settings, build_engine(settings, store)) for settings in pool]
        labeller = store.labeler(self.labeler)
        others = [(f"generator '{s.name}'", engine.model) for s, engine in self.generators]
        others += [(f"imported generator '{name}'", name) for name in imported_generators]
        if labeller and labeller["model"] and not options.judge_may_be_labeller:
            others.append((f"labeller '{self.labeler}'", labeller["model"]))
        for who, model in others:
            if same_model(self.judge.model, model):
                raise UsageError(f"the judge ({judge_settings.name}: {self.judge.model}) must be a different model from "
                                 f"the {who}; name another with --judge")
        self.rules = options.rules
        self.rules_name = rules_name(options.rules)
        self.templates = template_hash()
        self.report = StageReport(stage, params={
            **asdict(options), "generators": [s.name for s, _ in self.generators], "judge": judge_settings.name,
            "judge_model": self.judge.model, "labeler": self.labeler, "templates": self.templates,
            "rules": self.rules_name})
        self.pair_params = json.dumps({k: self.report.params[k] for k in (
            "threshold", "margin", "rounds", "k", "audit_rate", "seed", "templates", "rules", "judge", "generators")},
            sort_keys=True)
        self.kinds: dict[str, str | None] = {}  # per prompt of the batch in hand: its pair's misalignment kind
        self.wanted_kinds: dict[str, str] = {}  # per prompt: the kind to write when it has none (else options.kind)
        # candidates: first attempts and imports; resampled: later attempts
        self.counts = dict.fromkeys(("candidates", "identical_candidates", "resampled", "stage1_failed", "stage2_failed", "stage2_unusable",
                                     *STATUSES, "audit"), 0)

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
            if j["stage"] == 1 and j["judge"] == self.rules_name:
                c.failed = (c.failed or []) + ([] if j["passed"] else [j["reason_code"]])
            elif j["stage"] == 2 and j["judge"] == self.judge.model:
                c.probability, c.rationale = j["probability"], j["rationale"]
                c.unusable = j["reason_code"] == UNUSABLE
        by_prompt: dict[str, list[Candidate]] = {pid: [] for pid in prompt_ids}
        for c in candidates.values():
            by_prompt[c.row["prompt_id"]].append(c)
        return by_prompt

    # -- generation ---------------------------------------------------------------------------

    def generate(self, plan: list[PlanEntry], domains: dict) -> None:
        """Ask each generator of the pool for the candidates the plan gives it."""
        for index, (settings, engine) in enumerate(self.generators):
            mine = [entry for entry in plan if entry.generator == index]
            if not mine:
                continue
            sampling = settings.sampling_for("pairs", temperature=self.options.temperature, top_p=self.options.top_p,
                                             max_tokens=self.options.max_tokens, seed=self.options.seed)
            requests = []
            for entry in mine:
                prompt, parent = entry.prompt, entry.parent
                previous = (parent.row["text"], self.feedback(parent)) if parent else (None, None)
                requests.append(GenerateRequest(generator_messages(prompt["text"], domains[prompt["id"]][0], entry.slot,
                                                                   *previous, kind=self.kind_text(prompt["id"], parent)),
                                                n=entry.n, **sampling))
            params = json.dumps({"engine": settings.name, "backend": settings.backend, "seed": sampling["seed"],
                                 "temperature": sampling["temperature"], "top_p": sampling["top_p"],
                                 "max_tokens": sampling["max_tokens"], "templates": self.templates}, sort_keys=True)
            self.report.params.setdefault("sampling", {})[settings.name] = {k: v for k, v in sampling.items() if v != ()}
            rows = []
            for entry, generation in zip(mine, engine.generate(requests)):
                prompt, slot, parent = entry.prompt, entry.slot, entry.parent
                attempt = parent.row["attempt"] + 1 if parent else 0
                for text, reason in zip(generation.texts, generation.finish_reasons):  # stored exactly as written
                    rows.append(candidate_row(
                        prompt["id"], slot, text, engine.model, "generated", params, attempt,
                        parent.id if parent else None, self.feedback(parent) if parent else None, reason,
                        self.kind_of(prompt["id"], parent) if slot == "misaligned" else None, self.report.started_at))
            # k draws that came back word for word the same are one candidate, and said so
            self.counts["identical_candidates"] += len(rows) - len({r["id"] for r in rows})
            with self.store.transaction():
                added = self.store.add_candidates(rows)
            self.counts["resampled" if mine[0].parent else "candidates"] += added

    def kind_of(self, prompt_id: str, candidate: Candidate | None) -> str | None:
        """The misalignment kind whose rules a candidate meets: a misaligned candidate's own, else the prompt's."""
        if candidate is not None and candidate.slot == "misaligned" and candidate.row.get("kind"):
            return candidate.row["kind"]
        return self.kinds.get(prompt_id)

    def kind_text(self, prompt_id: str, candidate: Candidate | None) -> str | None:
        """The description of that kind: what a misaligned response of it shows (None: no kind said)."""
        kind = self.kind_of(prompt_id, candidate)
        return next((k.description for k in self.taxonomy.misalignment_kinds if k.id == kind), None) if kind else None

    def feedback(self, candidate: Candidate) -> str:
        """Why a candidate failed, in words for its generator: the rules' reasons or the judge's rationale."""
        if candidate.failed:
            return " ".join(FEEDBACK[code] for code in candidate.failed)
        return candidate.rationale or "The reviewer judged that it does not fulfil its role."

    def generator_for(self, prompt_id: str, candidate: Candidate | None = None, offset: int = 0) -> int:
        """The pool index that writes a candidate: the parent's generator if it is in the pool, else
        a spread over the pool by prompt."""
        if candidate is not None:
            for index, (_, engine) in enumerate(self.generators):
                if engine.model == candidate.row["generator"]:
                    return index
        return (int(prompt_id[:8], 16) + offset) % len(self.generators)

    def initial_plan(self, prompts: list[dict], candidates: dict[str, list[Candidate]]) -> list[PlanEntry]:
        """K candidates for each slot that has none yet, spread over the generators."""
        if not self.generators:
            return []
        plan = []
        for prompt in prompts:
            for slot in SLOTS:
                if any(c.slot == slot for c in candidates[prompt["id"]]):
                    continue
                shares: dict[int, int] = {}
                for j in range(self.options.k):
                    index = self.generator_for(prompt["id"], offset=j)
                    shares[index] = shares.get(index, 0) + 1
                plan += [PlanEntry(prompt, slot, index, n) for index, n in sorted(shares.items())]
        return plan

    def resample_plan(self, prompts: list[dict], candidates: dict[str, list[Candidate]]) -> list[PlanEntry]:
        """One new attempt per failed candidate of the latest attempt, for slots with no candidate at
        the threshold, until the round budget."""
        if not self.generators:
            return []
        plan = []
        for prompt in prompts:
            for slot in SLOTS:
                mine = [c for c in candidates[prompt["id"]] if c.slot == slot]
                if not mine or any(passes(c, self.options.threshold) for c in mine):
                    continue
                latest = max(c.row["attempt"] for c in mine)
                if latest >= self.options.rounds:
                    continue
                # a new attempt cannot mend a judge's unusable answer
                plan += [PlanEntry(prompt, slot, self.generator_for(prompt["id"], c), 1, c)
                         for c in mine if c.row["attempt"] == latest and not c.unusable]
        return plan

    # -- stage 1 and stage 2 ------------------------------------------------------------------

    def evaluate(self, prompts: list[dict], candidates: dict[str, list[Candidate]], domains: dict) -> None:
        """Rules for the candidates not checked yet, then the judge for those that passed; stored."""
        rows = []
        for prompt in prompts:
            mine = candidates[prompt["id"]]
            unchecked = {c.id for c in mine if c.failed is None}
            for c in mine:
                if c.id in unchecked:
                    c.failed = failed_rules(c.row["text"], c.row["finish_reason"], c.slot, self.rules,
                                            self.kind_of(prompt["id"], c))
            self.mark_near_identical(mine, unchecked)
            for c in (c for c in mine if c.id in unchecked):
                rows += [self.judgment(c, 1, code, False, rationale=FEEDBACK[code]) for code in c.failed] or \
                        [self.judgment(c, 1, "pass", True)]
                self.counts["stage1_failed"] += bool(c.failed)
        with self.store.transaction():
            self.store.add_judgments(rows)
        self.judge_candidates(prompts, candidates, domains)

    def mark_near_identical(self, mine: list[Candidate], unchecked: set[str]) -> None:
        """A new misaligned candidate is compared with every aligned one, a new aligned candidate with
        the misaligned ones checked before it: the newer of two near-identical responses fails."""
        for slot, other in (("aligned", "misaligned"), ("misaligned", "aligned")):
            new = [c for c in mine if c.slot == slot and c.id in unchecked and not c.failed]
            others = [o for o in mine if o.slot == other and (slot == "misaligned" or o.id not in unchecked)]
            close = near_identical([c.row["text"] for c in new], [o.row["text"] for o in others],
                                   self.rules.near_identical)
            for c, is_close in zip(new, close):
                if is_close:
                    c.failed = c.failed + ["near_identical"]

    def judgment(self, c: Candidate, stage: int, code: str, passed: bool, probability: float | None = None,
                 rationale: str | None = None) -> dict:
        return {"candidate_id": c.id, "stage": stage, "judge": self.rules_name if stage == 1 else self.judge.model,
                "reason_code": code, "passed": int(passed), "probability": probability, "rationale": rationale,
                "created_at": self.report.started_at}

    def judge_candidates(self, prompts: list[dict], candidates: dict[str, list[Candidate]], domains: dict) -> None:
        """The judge's probability that each candidate fulfils its slot, and a rationale where it falls
        short of a clear pass."""
        todo = [(prompt, c) for prompt in prompts for c in candidates[prompt["id"]]
                if c.failed == [] and c.probability is None and not c.unusable]
        if not todo:
            return
        if self.similarity_judge:
            requests = [ChoiceRequest((("user", c.row["text"]),), ("yes", "no"),
                                      similarity_descriptions(c.slot, domains[p["id"]][1], self.kind_text(p["id"], c)),
                                      query=c.row["text"])
                        for p, c in todo]
        else:
            requests = [ChoiceRequest(judge_messages(p["text"], domains[p["id"]][0], c.slot, c.row["text"],
                                                     self.kind_text(p["id"], c)), ("yes", "no"))
                        for p, c in todo]
        rows = []
        for (_, c), answer in zip(todo, self.judge.choice_probs(requests)):
            if valid_probs(answer, ("yes", "no")):
                c.probability = float(answer["yes"])
                continue
            c.unusable, c.rationale = True, one_line(f"unusable answer: {answer!r}")[:500]
            rows.append(self.judgment(c, 2, UNUSABLE, False, None, c.rationale))
            self.counts["stage2_unusable"] += 1
        todo = [(p, c) for p, c in todo if not c.unusable]
        t, m = self.options.threshold, self.options.margin
        unclear = [(p, c) for p, c in todo if c.probability < t + m]
        for (_, c), rationale in zip(unclear, self.rationales(unclear, domains)):
            c.rationale = rationale
        for _, c in todo:
            code = {"pass": "pass", "borderline": "borderline", "fail": "below_threshold"}[verdict(c, t, m)]
            rows.append(self.judgment(c, 2, code, c.probability >= t, c.probability, c.rationale))
            self.counts["stage2_failed"] += c.probability < t
        with self.store.transaction():
            self.store.add_judgments(rows)

    def rationales(self, todo: list[tuple[dict, Candidate]], domains: dict) -> list[str]:
        """One sentence per candidate from the judge; a similarity judge cannot write, so its
        rationale states what it measured."""
        if self.similarity_judge:
            return [similarity_rationale(c.slot, c.probability, self.options.threshold) for _, c in todo]
        requests = [GenerateRequest(rationale_messages(p["text"], domains[p["id"]][0], c.slot, c.row["text"],
                                                       self.kind_text(p["id"], c)),
                                    temperature=0.0, max_tokens=self.options.rationale_tokens, seed=self.options.seed)
                    for p, c in todo]
        return [normalise_text(g.texts[0])[:500] for g in self.judge.generate(requests)]

    # -- pairs --------------------------------------------------------------------------------

    def pair_row(self, prompt: dict, mine: list[Candidate]) -> dict:
        """The prompt's pair: the most probable candidate per slot, the status, every reason code."""
        t, m = self.options.threshold, self.options.margin
        codes, chosen, verdicts = set(), {}, {}
        for c in mine:
            codes.update(f"{c.slot}:{code}" for code in c.failed or [])
            v = verdict(c, t, m)
            if v == "borderline" or (v == "fail" and c.failed == []):
                codes.add(f"{c.slot}:judge_{v}")
            if c.unusable:
                codes.add(f"{c.slot}:{UNUSABLE}")
        for slot in SLOTS:
            judged = [c for c in mine if c.slot == slot and c.failed == [] and c.probability is not None]
            if not judged:
                codes.add(f"{slot}:no_candidate")
                chosen[slot], verdicts[slot] = None, None
                continue
            best = max(judged, key=lambda c: (c.probability, -c.row["attempt"], c.id))
            chosen[slot], verdicts[slot] = best, verdict(best, t, m)
            if passes(best, t) and best.row["attempt"] > 0:
                codes.add(f"{slot}:recovered_by_resampling")
        for slot in SLOTS:
            attempts = [c.row["attempt"] for c in mine if c.slot == slot]
            if self.generators and attempts and max(attempts) >= self.options.rounds and \
                    not any(passes(c, t) for c in mine if c.slot == slot):
                codes.add(f"{slot}:resampling_exhausted")
        status = pair_status(verdicts["aligned"], verdicts["misaligned"])
        pair_id = content_id("pair", prompt["id"])
        audit = status == "accepted" and in_audit_sample(pair_id, self.options.seed, self.options.audit_rate)
        if audit:
            codes.add("audit_sample")
        return {"id": pair_id, "prompt_id": prompt["id"], "status": status, "reason_codes": sorted(codes),
                "aligned_id": chosen["aligned"].id if chosen["aligned"] else None,
                "misaligned_id": chosen["misaligned"].id if chosen["misaligned"] else None,
                "audit": int(audit), "labeler": self.labeler, "judge": self.judge.model, "params": self.pair_params,
                "created_at": self.report.started_at}

    def process(self, prompts: list[dict]) -> None:
        """Generate, check, judge and resample for a batch of prompts, then write their pairs."""
        ids = [p["id"] for p in prompts]
        domains = self.domain_text(ids)
        candidates = self.load(ids)
        self.kinds = {pid: prompt_kind(mine) or self.wanted_kinds.get(pid, self.options.kind)
                      for pid, mine in candidates.items()}
        self.generate(self.initial_plan(prompts, candidates), domains)
        candidates = self.load(ids)
        self.evaluate(prompts, candidates, domains)
        while plan := self.resample_plan(prompts, candidates):
            self.generate(plan, domains)
            candidates = self.load(ids)
            self.evaluate(prompts, candidates, domains)
        rows = [self.pair_row(p, candidates[p["id"]]) for p in prompts]
        with self.store.transaction():
            self.store.save_pairs(rows)
        for row in rows:
            self.counts[row["status"]] += 1
            self.counts["audit"] += row["audit"]
        self.report.items_in += len(prompts)

    def finish(self) -> StageReport:
        report = self.report
        report.kept = self.counts["accepted"] + self.counts["borderline"]
        if self.counts["rejected"]:
            report.drop("rejected", self.counts["rejected"])
        report.notes = {**report.notes, **self.counts, "generate_requests": sum(e.calls for _, e in self.generators),
                        "judge_requests": self.judge.calls,
                        **server_notes(*(e for _, e in self.generators), self.judge)}
        self.store.record_stage_run(report)
        return report


def prompt_kind(candidates: list[Candidate]) -> str | None:
    """The misalignment kind a prompt's pair is about, from its misaligned candidates' kinds: over-refusal
    when any is one (the prompt is harmless, so its aligned response must not refuse), else the first said."""
    kinds = [c.row["kind"] for c in candidates if c.slot == "misaligned" and c.row.get("kind")]
    return "over_refusal" if "over_refusal" in kinds else next(iter(kinds), None)


def choose_labeler(store: Store, name: str | None) -> str:
    """The labeler whose domains the stage uses: the one named, else the only one with labels."""
    known = store.labelers_with_labels()
    if name:
        if name not in known:
            raise UsageError(f"--labeler: no labels by '{name}' (labelers: {', '.join(known) or 'none yet'})")
        return name
    if not known:
        raise UsageError("no prompt has domain labels yet: run 'misalign label' (or ingest with --labels) first")
    if len(known) > 1:
        raise UsageError(f"several labelers ({', '.join(known)}): choose whose domains count with --labeler")
    return known[0]


def make_pairs(store: Store, taxonomy: Taxonomy, config: Config, options: PairOptions | None = None) -> StageReport:
    """A pair for every kept prompt with a domain and no pair yet; returns the stage report."""
    options = options or PairOptions()
    names = options.generators or (config.engine_for("generate").name,)
    run = PairRun(store, taxonomy, config, options, "pairs", names)
    total = store.count_prompts_needing_pairs(run.labeler)
    if options.limit is not None:
        total = min(total, options.limit)
    with progress(total, "pairs", "prompts") as bar:  # lines in a log too: a generator takes minutes a batch
        if total:  # a generator may take minutes over the first batch: say it started
            bar.update(0)
        for batch in store.prompts_needing_pairs(run.labeler, options.batch_prompts):
            batch = batch[:total - run.report.items_in]
            if not batch:
                break
            run.process(batch)
            bar.update(len(batch))
    return run.finish()
