"""The judge noise floor (annotators.noise): perturbations that should change no verdict,
flips counted against the unperturbed judging, and Krippendorff's alpha between judges."""

from __future__ import annotations

import random

import pytest

from stabtest.adjudication.noise_floor import case_answers
from stabtest.annotators.base import Answer, Aspect, CaseEvidence, Judge
from stabtest.annotators.case_outcome import Judging
from stabtest.annotators.ensemble import Ensemble
from stabtest.annotators.noise import (
    KINDS,
    Tally,
    judge_alpha,
    measure_case,
    perturb_answer,
    shuffle_references,
    summarize,
    wilson_interval,
)
from stabtest.annotators.reference import ReferenceJudge
from stabtest.annotators.semantic import SemanticJudge
from stabtest.core.results import AnswerResult, VariantResult, Verdict, Vote
from stabtest.core.suite import Case
from stabtest.core.variant import Variant
from stabtest.generation.lexical import LexicalEmbedder

FRANCE = Case(
    id="fr",
    prompt="What is the capital of France?",
    reference="Paris",
    aliases=("City of Paris", "Paris, France"),
    incorrect=("Lyon", "Marseille"),
    checks=("semantic", "reference"),
)
TEXTS = [
    "The capital of France is Paris.",
    "Paris is the capital of France",
    "It is Lyon.",
    "paris!",
]


class CaseSensitive:
    """A deliberately bad judge: passes an answer only if it starts with a capital."""

    name = "capitals"
    aspect: Aspect = "correctness"

    def applies(self, case: Case) -> bool:
        return True

    def votes(self, evidence: CaseEvidence) -> list[Vote]:
        return [
            Vote(self.name, "pass" if a.text[:1].isupper() else "fail", 1.0, reason="capital")
            for a in evidence.answers
        ]


def judging(*judges: Judge) -> Judging:
    return Judging(Ensemble(list(judges)), LexicalEmbedder().encode, 0.8, 0.5, 0.5)


def answers(texts: list[str] = TEXTS) -> list[Answer]:
    variants = [
        Variant("fr", i, FRANCE.prompt, "original" if i == 0 else "paraphrase")
        for i in range(len(texts))
    ]
    return [Answer(v, 0, text) for v, text in zip(variants, texts, strict=True)]


def test_perturbations_change_only_what_a_reader_would_not_notice() -> None:
    rng = random.Random(0)
    for _ in range(20):
        spaced = perturb_answer("whitespace", "The capital is Paris.", rng)
        assert spaced != "The capital is Paris." and spaced.split() == [
            "The",
            "capital",
            "is",
            "Paris.",
        ]
    assert perturb_answer("casing", "  paris", rng) == "  Paris"
    assert perturb_answer("casing", "42", rng) == "42"
    assert perturb_answer("punctuation", "Paris.\n", rng) == "Paris\n"
    assert perturb_answer("punctuation", "Paris", rng) == "Paris."
    shuffled = shuffle_references(FRANCE, rng)
    assert shuffled is not None
    assert shuffled.aliases != FRANCE.aliases and sorted(shuffled.aliases) == sorted(FRANCE.aliases)
    assert sorted(shuffled.incorrect) == sorted(FRANCE.incorrect)
    assert (
        shuffle_references(FRANCE.model_copy(update={"aliases": (), "incorrect": ("Lyon",)}), rng)
        is None
    )


def test_whitespace_casing_and_order_do_not_flip_the_reference_judge() -> None:
    noise = measure_case(judging(ReferenceJudge()), FRANCE, answers(), seed=1, rounds=3, key="fr")
    assert set(noise.kinds) == set(KINDS)
    assert all(t.verdicts == 3 * len(TEXTS) and t.flips == 0 for t in noise.kinds.values())
    assert noise.votes["reference"]["whitespace"] == Tally(0, 12)
    assert [c["reference"] for c in noise.codes] == ["pass", "pass", "fail", "pass"]


def test_a_judge_sensitive_to_casing_shows_flips_under_casing_only() -> None:
    noise = measure_case(judging(CaseSensitive()), FRANCE, answers(), seed=1, rounds=2, key="fr")
    assert noise.kinds["casing"] == Tally(2 * len(TEXTS), 2 * len(TEXTS))  # every first letter
    assert noise.kinds["whitespace"].flips == 0 and noise.kinds["reference_order"].flips == 0
    assert noise.votes["capitals"]["casing"].flips == 8
    result = summarize([noise], seed=1, rounds=2, cases=1)
    assert result.overall == Tally(8, 32) and result.noise_floor == 0.25
    low, high = result.overall.interval or (0, 0)
    assert low < 0.25 < high
    assert result.to_json()["kinds"]["casing"]["rate"] == 1.0


def test_the_same_seed_gives_the_same_result_and_another_may_differ() -> None:
    def run(seed: int) -> object:
        judges = judging(CaseSensitive(), ReferenceJudge(), SemanticJudge())
        return summarize(
            [measure_case(judges, FRANCE, answers(), seed=seed, key="fr")],
            seed=seed,
            rounds=1,
            cases=1,
        ).to_json()

    first = run(7)
    assert first == run(7)
    assert isinstance(first, dict) and set(first["judges"]) == {"capitals", "reference", "semantic"}


def test_krippendorff_alpha_on_the_published_example() -> None:
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the 4 observers x
    # 12 units example with missing values: nominal alpha = 0.743.
    rows = {
        "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    }
    units = [
        {coder: str(values[u]) for coder, values in rows.items() if values[u] is not None}
        for u in range(12)
    ]
    alpha, pairable = judge_alpha(units)
    assert alpha == pytest.approx(0.743, abs=5e-4) and pairable == 11


def test_alpha_perfect_agreement_is_one_and_undefined_without_variation() -> None:
    agree = [{"a": "pass", "b": "pass"}, {"a": "fail", "b": "fail"}, {"a": "pass"}]
    assert judge_alpha(agree) == (1.0, 2)
    assert judge_alpha([{"a": "pass", "b": "pass"}] * 3) == (None, 3)
    assert judge_alpha([{"a": "pass"}]) == (None, 0)
    # two coders who always disagree on two values: alpha < 0 (systematic disagreement)
    opposite = [{"a": "pass", "b": "fail"}, {"a": "fail", "b": "pass"}]
    alpha, _ = judge_alpha(opposite)
    assert alpha is not None and alpha < 0


def test_wilson_interval() -> None:
    assert wilson_interval(0, 0) is None
    low, high = wilson_interval(0, 10) or (1.0, 0.0)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(0.2775, abs=1e-3)


def test_a_conversation_is_measured_turn_by_turn_with_each_threads_history() -> None:
    case = Case(
        id="talk",
        turns=(
            {"prompt": "What is the capital of France?", "reference": "Paris"},
            {"prompt": "Remind me, what is the capital?", "recall": 1},
        ),
    )
    messages = ("What is the capital of France?", "Remind me, what is the capital?")
    rows = tuple(
        AnswerResult(sample, f"turn {turn} sample {sample}", 0, Verdict("pass", 1.0), None, turn)
        for turn in (0, 1)
        for sample in (0, 1)
    )
    result = VariantResult(
        uid="s.yaml::talk::v0",
        suite="s.yaml",
        case_id="talk",
        variant_id="v0",
        family="original",
        prompt=messages[0],
        operators=(),
        reference="Paris",
        answers=rows,
        turns=messages,
    )
    (view0, first), (view1, second) = case_answers(case, [result])
    assert view0.reference == "Paris" and view1.reference == "Paris" and not view1.turns
    assert [a.text for a in first] == ["turn 0 sample 0", "turn 0 sample 1"]
    assert [a.history for a in first] == [(), ()]
    assert second[1].variant.text == messages[1]
    assert second[1].history == ((messages[0], "turn 0 sample 1"),)
    noise = measure_case(judging(ReferenceJudge()), view1, second, seed=0, key="talk#1")
    assert noise.kinds["casing"].verdicts == 2 and "reference_order" not in noise.kinds
