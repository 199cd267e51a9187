"""Stage 1 and stage 2 of the pairs stage: the rules (:mod:`pipeline.stages.pairs.rules`, near-identical
responses included) for candidates not checked yet, then the judge's probability that each candidate
fulfils its slot, with a rationale where it falls short of a clear pass; every judgment stored."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.engines import ChoiceRequest, GenerateRequest, valid_probs
from pipeline.errors import one_line
from pipeline.stages.pairs.candidates import UNUSABLE, Candidate, verdict
from pipeline.stages.pairs.options import PairOptions
from pipeline.stages.pairs.rules import FEEDBACK, failed_rules, near_identical, rules_name
from pipeline.stages.pairs.templates import (
    judge_messages,
    rationale_messages,
    similarity_descriptions,
    similarity_rationale,
)
from review_store import Store, normalise_text


@dataclass(frozen=True)
class Kinds:
    """Which misalignment kind the candidates of a batch are held to: ``by_prompt``, each prompt's (its pair's
    kind, else the one asked for), over a misaligned candidate's own; ``described``, each kind's description."""

    by_prompt: dict
    described: dict

    def kind_of(self, prompt_id: str, candidate: Candidate | None) -> str | None:
        """The misalignment kind whose rules a candidate meets: a misaligned candidate's own, else the prompt's."""
        if candidate is not None and candidate.slot == "misaligned" and candidate.row.get("kind"):
            return candidate.row["kind"]
        return self.by_prompt.get(prompt_id)

    def kind_text(self, prompt_id: str, candidate: Candidate | None) -> str | None:
        """The description of that kind: what a misaligned response of it shows (None: no kind said)."""
        kind = self.kind_of(prompt_id, candidate)
        return self.described.get(kind) if kind else None


class Judging:
    """The rules and the judge of one run; counts go to ``notes`` (the run's :class:`PairNotes`)."""

    def __init__(self, store: Store, judge, similarity_judge: bool, options: PairOptions, notes, created_at: str):
        self.store, self.judge, self.similarity_judge, self.options = store, judge, similarity_judge, options
        self.rules, self.rules_name = options.rules, rules_name(options.rules)
        self.notes, self.created_at = notes, created_at

    def evaluate(self, prompts: list[dict], candidates: dict[str, list[Candidate]], domains: dict, kinds: Kinds) -> None:
        """Rules for the candidates not checked yet, then the judge for those that passed; stored."""
        rows = []
        for prompt in prompts:
            mine = candidates[prompt["id"]]
            unchecked = {c.id for c in mine if c.failed is None}
            for c in mine:
                if c.id in unchecked:
                    c.failed = failed_rules(c.row["text"], c.row["finish_reason"], c.slot, self.rules,
                                            kinds.kind_of(prompt["id"], c))
            self.mark_near_identical(mine, unchecked)
            for c in (c for c in mine if c.id in unchecked):
                rows += [self.judgment(c, 1, code, False, rationale=FEEDBACK[code]) for code in c.failed] or \
                        [self.judgment(c, 1, "pass", True)]
                self.notes.stage1_failed += bool(c.failed)
        with self.store.transaction():
            self.store.add_judgments(rows)
        self.judge_candidates(prompts, candidates, domains, kinds)

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
                "created_at": self.created_at}

    def judge_candidates(self, prompts: list[dict], candidates: dict[str, list[Candidate]], domains: dict,
                         kinds: Kinds) -> None:
        """The judge's probability that each candidate fulfils its slot, and a rationale where it falls
        short of a clear pass."""
        todo = [(prompt, c) for prompt in prompts for c in candidates[prompt["id"]]
                if c.failed == [] and c.probability is None and not c.unusable]
        if not todo:
            return
        if self.similarity_judge:
            requests = [ChoiceRequest((("user", c.row["text"]),), ("yes", "no"),
                                      similarity_descriptions(c.slot, domains[p["id"]][1], kinds.kind_text(p["id"], c)),
                                      query=c.row["text"])
                        for p, c in todo]
        else:
            requests = [ChoiceRequest(judge_messages(p["text"], domains[p["id"]][0], c.slot, c.row["text"],
                                                     kinds.kind_text(p["id"], c)), ("yes", "no"))
                        for p, c in todo]
        rows = []
        for (_, c), answer in zip(todo, self.judge.choice_probs(requests)):
            if valid_probs(answer, ("yes", "no")):
                c.probability = float(answer["yes"])
                continue
            c.unusable, c.rationale = True, one_line(f"unusable answer: {answer!r}")[:500]
            rows.append(self.judgment(c, 2, UNUSABLE, False, None, c.rationale))
            self.notes.stage2_unusable += 1
        todo = [(p, c) for p, c in todo if not c.unusable]
        t, m = self.options.threshold, self.options.margin
        unclear = [(p, c) for p, c in todo if c.probability < t + m]
        for (_, c), rationale in zip(unclear, self.rationales(unclear, domains, kinds)):
            c.rationale = rationale
        for _, c in todo:
            code = {"pass": "pass", "borderline": "borderline", "fail": "below_threshold"}[verdict(c, t, m)]
            rows.append(self.judgment(c, 2, code, c.probability >= t, c.probability, c.rationale))
            self.notes.stage2_failed += c.probability < t
        with self.store.transaction():
            self.store.add_judgments(rows)

    def rationales(self, todo: list[tuple[dict, Candidate]], domains: dict, kinds: Kinds) -> list[str]:
        """One sentence per candidate from the judge; a similarity judge cannot write, so its
        rationale states what it measured."""
        if self.similarity_judge:
            return [similarity_rationale(c.slot, c.probability, self.options.threshold) for _, c in todo]
        requests = [GenerateRequest(rationale_messages(p["text"], domains[p["id"]][0], c.slot, c.row["text"],
                                                       kinds.kind_text(p["id"], c)),
                                    temperature=0.0, max_tokens=self.options.rationale_tokens, seed=self.options.seed)
                    for p, c in todo]
        return [normalise_text(g.texts[0])[:500] for g in self.judge.generate(requests)]
