"""Assembling a prompt's pair from its judged candidates: the best per slot, the pair's status, its
reason codes and the seeded audit sample."""

from __future__ import annotations

from pipeline.stages.pairs.candidates import UNUSABLE, Candidate, passes, verdict
from pipeline.stages.pairs.options import PairOptions
from pipeline.stages.pairs.templates import SLOTS
from review_store import content_id


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


def prompt_kind(candidates: list[Candidate]) -> str | None:
    """The misalignment kind a prompt's pair is about, from its misaligned candidates' kinds: over-refusal
    when any is one (the prompt is harmless, so its aligned response must not refuse), else the first said."""
    kinds = [c.row["kind"] for c in candidates if c.slot == "misaligned" and c.row.get("kind")]
    return "over_refusal" if "over_refusal" in kinds else next(iter(kinds), None)


def pair_row(prompt: dict, mine: list[Candidate], options: PairOptions, generating: bool, labeler: str,
         judge: str, pair_params: str, created_at: str) -> dict:
    """The prompt's pair: the most probable candidate per slot, the status, every reason code
    (``generating``: the run has generators, so a slot can run out of resampling rounds)."""
    t, m = options.threshold, options.margin
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
        if generating and attempts and max(attempts) >= options.rounds and \
                not any(passes(c, t) for c in mine if c.slot == slot):
            codes.add(f"{slot}:resampling_exhausted")
    status = pair_status(verdicts["aligned"], verdicts["misaligned"])
    pair_id = content_id("pair", prompt["id"])
    audit = status == "accepted" and in_audit_sample(pair_id, options.seed, options.audit_rate)
    if audit:
        codes.add("audit_sample")
    return {"id": pair_id, "prompt_id": prompt["id"], "status": status, "reason_codes": sorted(codes),
            "aligned_id": chosen["aligned"].id if chosen["aligned"] else None,
            "misaligned_id": chosen["misaligned"].id if chosen["misaligned"] else None,
            "audit": int(audit), "labeler": labeler, "judge": judge, "params": pair_params,
            "created_at": created_at}

