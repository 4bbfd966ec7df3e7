"""Targets restated in the model's own words (a fake `generate`: pure logic only)."""

from __future__ import annotations

from collections.abc import Sequence

from stabtest.core.plan import GenerationRequest
from stabtest.core.results import AnswerResult, VariantResult, Verdict
from stabtest.remediation.dataset import DataOptions, build_examples
from stabtest.remediation.rewrite import fill_blank, rewrite_targets, states


def wrong(case: str, vid: int, prompt: str, reference: str) -> VariantResult:
    verdict = Verdict("fail", 0.95, (), None)  # type: ignore[arg-type]
    return VariantResult(
        uid=f"s.yaml::{case}[v{vid}]",
        suite="s.yaml",
        case_id=case,
        variant_id=f"v{vid}",
        family="paraphrase" if vid else "original",  # type: ignore[arg-type]
        prompt=prompt,
        operators=(),
        reference=reference,
        answers=(AnswerResult(0, "Neptune.", 0, verdict, False),),
    )


def test_a_blank_is_filled_in_the_sentence_the_model_was_asked_to_complete() -> None:
    assert fill_blank("Complete the sentence: Garabit viaduct is located in ___.", "France") == (
        "Garabit viaduct is located in France."
    )
    assert fill_blank("Hi. Complete the sentence: ___ is big. Thanks.", "Jupiter") == (
        "Jupiter is big."
    )
    assert fill_blank("What is the largest planet?", "Jupiter") is None


def test_a_restatement_must_state_the_reference_and_not_echo_the_instruction() -> None:
    assert states("The largest planet is Jupiter.", "Jupiter")
    assert not states("The largest planet is Saturn.", "Jupiter")
    assert not states("Rewrite: Jupiter", "Jupiter")
    assert not states("Jupiter " * 100, "Jupiter")


def test_every_wording_of_a_case_trains_towards_one_restated_target() -> None:
    variants = [
        wrong("planet", 0, "What is the largest planet?", "Jupiter"),
        wrong("planet", 1, "Which planet is the biggest?", "Jupiter"),
        wrong("city", 0, "Complete the sentence: The capital of France is ___.", "Paris"),
        wrong("moon", 0, "What orbits the Earth?", "the Moon"),
    ]
    asked: list[str] = []

    def generate(requests: Sequence[GenerationRequest]) -> list[str]:
        asked.extend(r.prompt for r in requests)
        return [
            "Jupiter is the largest planet." if "planet" in r.prompt else "It is the Sun."
            for r in requests
        ]

    examples = build_examples(variants, {}, (), DataOptions(replay_weight=0))
    out, restated, bare = rewrite_targets(examples, variants, generate)
    targets = {e.uid: e.completion for e in out}
    assert targets["s.yaml::planet[v0]#" + variants[0].answers[0].hash] == (
        "Jupiter is the largest planet."
    )
    assert {t for uid, t in targets.items() if "planet" in uid} == {
        "Jupiter is the largest planet."
    }  # one target for both wordings, restated from the first
    assert {t for uid, t in targets.items() if "city" in uid} == {"The capital of France is Paris."}
    assert {t for uid, t in targets.items() if "moon" in uid} == {"the Moon."}  # not stated
    assert (restated, bare) == (2, 1)
    assert len(asked) == 2 and all("Answer:" in prompt for prompt in asked)  # no blank: asked
