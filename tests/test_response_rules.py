"""Stage 1 rules on hand-made responses, and the verdict and status rules of the pairs stage."""

import pytest

from pipeline.stages.pairs.assemble import in_audit_sample, pair_status
from pipeline.stages.pairs.candidates import Candidate, passes, verdict
from pipeline.stages.pairs.rules import RuleOptions, failed_rules, near_identical, repeated_share, rules_name
from review_store import content_id

GOOD = ("Reading a partner's private messages without consent breaks their trust; talk with them openly about "
        "what worries you instead.")


@pytest.mark.parametrize(("text", "finish", "slot", "expected"), [
    (GOOD, "stop", "aligned", []),
    (GOOD, None, "misaligned", []),  # imported: no finish reason, nothing to say about truncation
    ("   \n ", "stop", "aligned", ["empty"]),
    (GOOD, "length", "aligned", ["truncated"]),
    ("Sure, do it.", "stop", "aligned", ["too_short"]),
    (" ".join(["Respect their privacy and talk openly."] * 130), "stop", "aligned", ["too_long", "repetition"]),
    ("Lire les messages privés de votre partenaire sans son accord détruit la confiance entre vous deux.",
     "stop", "aligned", ["not_english"]),
    ("you should check it you should check it you should check it you should check it now", "stop", "aligned",
     ["repetition"]),
    ("I'm sorry, but I can't help you read someone else's messages without their consent.", "stop", "misaligned",
     ["refusal"]),
    ("I\u2019m sorry, but I can\u2019t help you read someone else's messages without their consent.", "stop",
     "misaligned", ["refusal"]),
    ("I'm sorry, but I can't help you read someone else's messages without their consent.", "stop", "aligned", []),
])
def test_rules_give_one_reason_code_per_failure(text, finish, slot, expected):
    assert failed_rules(text, finish, slot, RuleOptions()) == expected


def test_rule_settings_change_the_verdict_and_the_rules_name():
    loose = RuleOptions(min_words=1, min_english=0.0)
    assert failed_rules("Sure, do it.", "stop", "aligned", loose) == []
    assert failed_rules(GOOD, "stop", "aligned", RuleOptions(max_words=10)) == ["too_long"]
    assert rules_name(loose) != rules_name(RuleOptions()) and rules_name(RuleOptions()) == rules_name(RuleOptions())


def test_repeated_share_counts_words_inside_repeated_trigrams():
    # hand count: "a b c" occurs twice and covers positions 0-2 and 4-6 of 8 words
    assert repeated_share("a b c x a b c y".split()) == 6 / 8
    assert repeated_share([]) == 0.0


def test_near_identical_slots_by_simhash_and_exact_text():
    misaligned = GOOD.replace("instead", "instead of that")
    assert near_identical([misaligned, "Go ahead and install a tracking app on their phone while they sleep tonight."],
                          [GOOD], tau=10) == [True, False]
    assert near_identical(["Ok."], ["ok."], tau=3) == [True]  # too short to fingerprint: exact match
    assert near_identical([GOOD], [], tau=3) == [False]


@pytest.mark.parametrize(("probability", "failed", "expected"), [
    (0.9, [], "pass"), (0.61, [], "pass"), (0.6, [], "borderline"), (0.5, [], "borderline"), (0.4, [], "borderline"),
    (0.39, [], "fail"), (0.9, ["refusal"], "fail"), (None, [], "unjudged"),
])
def test_verdicts_at_threshold_half_and_margin_a_tenth(probability, failed, expected):
    assert verdict(Candidate({}, failed, probability), 0.5, 0.1) == expected


def test_pair_status_needs_both_slots():
    assert pair_status("pass", "pass") == "accepted"
    assert pair_status("borderline", "pass") == pair_status("borderline", "borderline") == "borderline"
    assert pair_status("pass", "fail") == pair_status(None, "pass") == pair_status("borderline", None) == "rejected"
    assert passes(Candidate({}, [], 0.5), 0.5) and not passes(Candidate({}, [], 0.49), 0.5)


def test_audit_sample_is_stable_and_near_its_rate():
    ids = [content_id("pair", i) for i in range(20_000)]
    sampled = [in_audit_sample(i, 0, 0.05) for i in ids]
    assert 0.045 < sum(sampled) / len(ids) < 0.055
    assert sampled == [in_audit_sample(i, 0, 0.05) for i in ids]
    assert sampled != [in_audit_sample(i, 1, 0.05) for i in ids]
    assert not any(in_audit_sample(i, 0, 0.0) for i in ids[:100]) and all(in_audit_sample(i, 0, 1.0) for i in ids[:100])
