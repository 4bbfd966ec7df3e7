"""Roles of a remediation round's data: control by hash, retain, validation wordings."""

from __future__ import annotations

from stabtest.core.ids import answer_uid, case_of, scope_of, variant_of
from stabtest.core.results import AnswerResult, VariantResult, Verdict
from stabtest.remediation.dataset import DataOptions, build_examples
from stabtest.remediation.partition import RETAIN, Roles, partition
from stabtest.remediation.split import is_control, is_validation


def variant(case: int, vid: int, right: bool) -> VariantResult:
    verdict = Verdict("pass" if right else "fail", 0.95, (), None)  # type: ignore[arg-type]
    return VariantResult(
        uid=f"s.yaml::c{case}[v{vid}]",
        suite="s.yaml",
        case_id=f"c{case}",
        variant_id=f"v{vid}",
        family="paraphrase" if vid else "original",  # type: ignore[arg-type]
        prompt=f"Question {case}, wording {vid}?",
        operators=(),
        reference=f"Answer {case}",
        answers=(AnswerResult(0, f"Answer {case}." if right else "Wrong.", 0, verdict, right),),
    )


# 60 cases of 6 wordings; even cases fail their odd wordings, odd cases pass everything
VARIANTS = [variant(c, v, right=c % 2 == 1 or v % 2 == 0) for c in range(60) for v in range(6)]
EXAMPLES = build_examples(VARIANTS, {}, (), DataOptions(replay_weight=0.5))


def test_ids_are_read_back_in_one_place() -> None:
    uid = answer_uid("suites/a.yaml::c#1[v3]", "ab12")
    assert variant_of(uid) == "suites/a.yaml::c#1[v3]"
    assert case_of(uid) == case_of("suites/a.yaml::c#1[v3]") == "suites/a.yaml::c#1"
    assert scope_of(uid) == "suites/a.yaml"


def test_control_cases_are_never_trained_and_chosen_by_hash() -> None:
    part = partition(EXAMPLES, VARIANTS, (), Roles())
    drawn = {f"s.yaml::c{c}" for c in range(60) if is_control(f"s.yaml::c{c}")}
    assert 5 <= len(drawn) <= 25 and drawn <= part.control
    assert not {case_of(e.uid) for e in part.train} & part.control
    assert part.treated and part.retain and not part.treated & part.retain
    assert partition(EXAMPLES, VARIANTS, (), Roles()).control == part.control  # stable


def test_retain_cases_train_on_the_models_own_answers_at_their_weight() -> None:
    part = partition(EXAMPLES, VARIANTS, (), Roles(retain_weight=0.7))
    retain = [e for e in part.train if e.family == RETAIN]
    assert retain and {case_of(e.uid) for e in retain} == part.retain
    assert all(e.weight == 0.7 and e.rejected is None for e in retain)
    assert all(e.completion.startswith("Answer") for e in retain)
    off = partition(EXAMPLES, VARIANTS, (), Roles(retain_weight=0))
    assert not off.retain and part.retain <= off.control  # nothing to correct: control
    dpo = partition(EXAMPLES, VARIANTS, (), Roles(), method="dpo")
    assert all(e.rejected is not None for e in dpo.train)


def test_validation_wordings_are_never_trained_on() -> None:
    part = partition(EXAMPLES, VARIANTS, (), Roles())
    assert part.held_back > 0 and part.validation_prompts() > 0
    trained = {e.prompt for e in part.train}
    held = {text for texts in part.validation.values() for text in texts}
    assert held and not trained & held
    assert all(is_validation(text) for text in held)
    assert set(part.validation) <= part.treated | part.retain
    none = partition(EXAMPLES, VARIANTS, (), Roles(validation_fraction=0))
    assert none.held_back == 0 and not none.validation
