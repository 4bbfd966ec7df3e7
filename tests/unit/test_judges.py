"""Judges and ensemble on hand-made evidence (embeddings chosen by hand, no model)."""

from __future__ import annotations

import numpy as np
import pytest

from stabtest.annotators.base import Answer, CaseEvidence
from stabtest.annotators.ensemble import Ensemble, combine, decide_aspect, equivalence
from stabtest.annotators.numeric import NumericJudge
from stabtest.annotators.reference import ReferenceJudge
from stabtest.annotators.semantic import SemanticJudge
from stabtest.core.metrics import cluster, stability_index
from stabtest.core.results import Vote
from stabtest.core.suite import Case
from stabtest.core.text import contains_phrase, final_number, normalize
from stabtest.core.variant import Variant


def unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def evidence(case: Case, texts: list[str], vectors: list[np.ndarray], refs=None) -> CaseEvidence:
    answers = [
        Answer(Variant(case.id, i, f"p{i}", "paraphrase"), 0, t) for i, t in enumerate(texts)
    ]
    return CaseEvidence(case, answers, np.stack(vectors), refs or {}, semantic_threshold=0.8)


FRANCE = Case(id="fr", prompt="Capital of France?", reference="Paris", incorrect=("Lyon",))


def test_text_helpers():
    assert normalize("The  Capital: Paris!") == "capital paris"
    assert contains_phrase("It is São Paulo.", "Sao Paulo")
    assert not contains_phrase("Parisian food", "Paris")
    assert final_number("3 + 4 = 7. The answer is 7.") == (7.0, True)
    assert final_number("Apples: 1,200; pears: 3") == (3.0, False)  # the last number
    assert final_number("He has 1,200 apples.") == (1200.0, False)  # a stated result
    assert final_number("#### -12.5") == (-12.5, True)
    assert final_number("none") == (None, False)


def test_reference_judge_reads_the_claim_of_a_short_answer():
    texts = ["The capital is Paris.", "It is Lyon.", "It is the city of light.", "Paris or Lyon?"]
    vectors = [unit(1, 0), unit(0, 1), unit(1, 0.2), unit(1, 1)]
    refs = {"Paris": unit(1, 0.1), "Lyon": unit(0, 1)}
    votes = ReferenceJudge().votes(evidence(FRANCE, texts, vectors, refs))
    assert [v.outcome for v in votes] == ["pass", "fail", "fail", "abstain"]
    assert votes[1].category == "hallucination"
    assert "[absent]" in votes[2].reason  # a short reference must be named, not resembled
    assert "hedges" in votes[3].reason


def test_reference_judge_open_ended_answers_by_meaning():
    case = Case(
        id="o",
        prompt="What happens if you swallow gum?",
        reference="It passes through your digestive system",
        incorrect=("It stays in your stomach for seven years",),
    )
    texts = ["It just passes through.", "Seven years in the stomach.", "Nobody knows."]
    vectors = [unit(1, 0), unit(1, 0.45), unit(0, 1)]
    refs = {case.reference: unit(1, 0.1), case.incorrect[0]: unit(1, 0.5)}
    votes = ReferenceJudge().votes(evidence(case, texts, vectors, refs))
    assert [v.outcome for v in votes] == ["pass", "fail", "fail"]
    rules = [v.reason.rsplit("[", 1)[1] for v in votes]
    assert rules == ["near_right]", "closer_wrong]", "far]"]
    assert votes[0].confidence < 0.6  # near a right answer is a near coin flip, and says so
    assert votes[2].confidence >= 0.9  # far from every right answer: wrong or no answer


def test_reference_judge_yes_no_polarity():
    case = Case(id="y", prompt="Did humans land on the moon?", reference="Yes, in 1969 they did")
    [vote] = ReferenceJudge().votes(evidence(case, ["No, it was staged."], [unit(1, 0)], {}))
    assert vote.outcome == "fail" and vote.reason.endswith("[polarity]")


def test_numeric_judge_prefers_explicit_final_answer():
    case = Case(id="n", prompt="2+2?", reference="4", kind="numeric")
    texts = ["2 + 2 = 4. The answer is 4.", "I think 5", "no idea"]
    votes = NumericJudge().votes(evidence(case, texts, [unit(1, 0)] * 3))
    assert [(v.outcome, v.confidence) for v in votes] == [
        ("pass", 0.95),
        ("fail", 0.9),
        ("fail", 0.75),
    ]
    assert votes[1].category == "reasoning_breakdown"


def test_semantic_judge_flags_the_outlier():
    texts = ["a", "a'", "b", "a''"]
    vectors = [unit(1, 0), unit(1, 0.05), unit(0, 1), unit(1, -0.05)]
    votes = SemanticJudge().votes(evidence(FRANCE, texts, vectors))
    assert [v.outcome for v in votes] == ["pass", "pass", "fail", "pass"]
    assert votes[2].category == "semantic_divergence"
    assert votes[2].confidence == votes[0].confidence == 0.95  # no borderline pair
    # one borderline pair (cosine within 0.1 of the threshold) that could flip a vote
    close = SemanticJudge().votes(evidence(FRANCE, ["a", "c"], [unit(1, 0), unit(1, 0.8)]))
    assert [v.confidence for v in close] == [0.55, 0.55]


def test_two_disagreeing_answers_both_diverge():
    votes = SemanticJudge().votes(evidence(FRANCE, ["a", "b"], [unit(1, 0), unit(0, 1)]))
    assert [(v.outcome, v.confidence) for v in votes] == [("fail", 0.95), ("fail", 0.95)]


def test_semantic_tie_is_broken_by_the_original_answer():
    a, b = unit(1, 0), unit(0, 1)
    votes = SemanticJudge().votes(evidence(FRANCE, list("aaabb"), [a, a, a, b, b]))
    # confidence is the vote's robustness, not the majority's size (SI measures that)
    assert [(v.outcome, v.confidence) for v in votes] == [("pass", 0.95)] * 3 + [("fail", 0.95)] * 2


def test_aspect_vote_confidence_reflects_agreement():
    agree = decide_aspect("correctness", [Vote("a", "pass", 0.9), Vote("b", "pass", 0.9)], {})
    split = decide_aspect("correctness", [Vote("a", "pass", 0.9), Vote("b", "fail", 0.6)], {})
    assert agree.outcome == "pass" and agree.confidence == pytest.approx(0.9)
    assert split.outcome == "pass" and split.confidence == pytest.approx(0.6 * 0.9)
    muted = decide_aspect("correctness", [Vote("a", "pass", 0.9), Vote("b", "fail", 0.6)], {"a": 0})
    assert muted.outcome == "fail"
    assert decide_aspect("x", [Vote("a", "abstain", 0.0)], {}) is None


def test_any_failing_aspect_fails_and_low_confidence_escalates():
    consistent = decide_aspect("consistency", [Vote("semantic", "pass", 0.9)], {})
    wrong = decide_aspect(
        "correctness", [Vote("reference", "fail", 0.9, category="hallucination")], {}
    )
    verdict = combine([consistent, wrong], [], escalate_below=0.0)
    assert (verdict.outcome, verdict.category) == ("fail", "hallucination")
    unsure = combine([consistent], [], escalate_below=0.95)
    assert (unsure.outcome, unsure.auto_outcome) == ("escalate", "pass")
    assert combine([], [], 0.0).outcome == "escalate"


def test_ensemble_and_equivalence_give_expected_si():
    texts = ["The capital is Paris.", "Paris is the capital.", "Lyon is the capital."]
    vectors = [unit(1, 0), unit(1, 0.1), unit(1, 0.3)]  # all close: embeddings miss Lyon
    ev = evidence(FRANCE, texts, vectors, {"Paris": unit(1, 0), "Lyon": unit(0, 1)})
    verdicts, correct = Ensemble([SemanticJudge(), ReferenceJudge()]).judge(ev)
    assert correct == [True, True, False]
    assert [v.outcome for v in verdicts] == ["pass", "pass", "fail"]
    clusters = cluster(3, equivalence(ev, correct))
    assert clusters == [0, 0, 1]
    assert stability_index(clusters) == pytest.approx(2 / 3)


def sampled(case: Case, layout: list[str]) -> CaseEvidence:
    """One answer per letter; each string of `layout` is one variant's samples, and a
    letter's vector says which answer it gives (`a` and `b` disagree)."""
    vector = {"a": unit(1, 0), "b": unit(0, 1)}
    answers, vectors = [], []
    for index, samples in enumerate(layout):
        variant = Variant(case.id, index, f"p{index}", "original" if index == 0 else "rule")
        for sample, letter in enumerate(samples):
            answers.append(Answer(variant, sample, letter))
            vectors.append(vector[letter])
    return CaseEvidence(case, answers, np.stack(vectors), {}, semantic_threshold=0.8)


def failures(layout: list[str]) -> list[tuple[str, str | None]]:
    votes = SemanticJudge().votes(sampled(FRANCE, layout))
    return [(v.outcome, v.category) for v in votes if v.outcome == "fail"]


def test_an_answer_its_own_prompt_does_not_repeat_is_session_drift():
    # v0 asked three times gives b once; the other prompts agree on a
    votes = SemanticJudge().votes(sampled(FRANCE, ["aab", "aaa"]))
    assert [(v.outcome, v.category) for v in votes][2] == ("fail", "session_drift")
    assert "drifts" in votes[2].reason
    verdicts, _ = Ensemble([SemanticJudge()]).judge(sampled(FRANCE, ["aab", "aaa"]))
    assert (verdicts[2].outcome, verdicts[2].category) == ("fail", "session_drift")
    assert failures(["aab", "aaa"]) == [("fail", "session_drift")]
    # repeats of one prompt only: any disagreement is drift
    assert failures(["aaab"]) == [("fail", "session_drift")]
    # the same prompt gives both answers everywhere: b is as alone at home as elsewhere
    assert failures(["ab", "ab", "aa"]) == [("fail", "session_drift")] * 2


def test_a_rewording_that_consistently_moves_the_answer_is_divergence():
    # v1's three samples agree with each other and not with the other prompts
    assert failures(["aaa", "bbb", "aaa"]) == [("fail", "semantic_divergence")] * 3
    # v0 leans to b: half its own samples agree, none of the others
    assert failures(["bba", "aaa", "aaa"]) == [("fail", "semantic_divergence")] * 2


def test_one_sample_per_variant_is_never_drift():
    assert failures(["a", "a", "b", "a"]) == [("fail", "semantic_divergence")]
