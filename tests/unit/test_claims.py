"""The answer shapes the correctness judges must read as a person would."""

from __future__ import annotations

import numpy as np
import pytest

from stabtest.annotators.base import Answer, CaseEvidence
from stabtest.annotators.claims import read_claim
from stabtest.annotators.contradiction import ContradictionJudge
from stabtest.annotators.numeric import NumericJudge
from stabtest.annotators.reference import ReferenceJudge
from stabtest.core.suite import Case
from stabtest.core.text import final_number
from stabtest.core.variant import Variant


def votes(judge, case: Case, texts: list[str]):
    answers = [
        Answer(Variant(case.id, i, case.prompt, "original"), 0, t) for i, t in enumerate(texts)
    ]
    vectors = np.ones((len(texts), 2), dtype=np.float32) / np.sqrt(2)
    return judge.votes(CaseEvidence(case, answers, vectors, {}))


PLANET = Case(
    id="p", prompt="What is the largest planet?", reference="Jupiter", incorrect=("Saturn",)
)
ITALY = Case(id="i", prompt="What is the capital city of Italy?", reference="Rome")
ORWELL = Case(id="o", prompt="Who wrote 1984?", reference="George Orwell", aliases=("Orwell",))


@pytest.mark.parametrize(
    ("case", "text", "outcome", "rule"),
    [
        (PLANET, "The largest planet is Jupiter, but it's actually Saturn.", "fail", "competing"),
        (
            ITALY,
            "Il Papa is the capital of Italy, on the seven hills of Rome.",
            "fail",
            "later_right",
        ),
        (
            ITALY,
            "Il Papa is the capital of Italy. It sits on the hills of Rome.",
            "fail",
            "later_right",
        ),
        (
            ORWELL,
            "It is often attributed to George Orwell; however, the novel was originally "
            "written by someone else.",
            "fail",
            "competing",
        ),
        (PLANET, "Sure! The largest planet is Jupiter.", "pass", "exact"),
        (PLANET, "Jupiter, not Saturn, is the largest.", "pass", "exact"),
        (PLANET, "It is not Jupiter.", "fail", "negated"),
        (PLANET, "It could be Jupiter or Saturn.", "abstain", "hedged"),
        (PLANET, "Neptune is the largest planet.", "fail", "other_entity"),
        (ITALY, "The capital of Italy is a beautiful city.", "fail", "absent"),
    ],
)
def test_reference_judge_reads_the_claim(case: Case, text: str, outcome: str, rule: str) -> None:
    [vote] = votes(ReferenceJudge(), case, [text])
    assert vote.outcome == outcome, vote.reason
    assert vote.reason.endswith(f"[{rule}]") or rule == "hedged"
    if outcome == "fail":
        assert vote.confidence >= 0.8 or rule in ("later_right",)


def test_a_question_echo_is_not_the_reference() -> None:
    case = Case(
        id="k",
        prompt="Complete the sentence: The capital of Kabul Shahi is ___.",
        reference="Kabul",
    )
    [echo, named] = votes(
        ReferenceJudge(),
        case,
        ["The capital of Kabul Shahi is Kabul Shahi.", "Its capital was Kabul."],
    )
    assert (echo.outcome, named.outcome) == ("fail", "pass")


def test_hedges_are_marked() -> None:
    claim = read_claim(
        "It might be Paris, I am not sure.", ["Paris"], ["Lyon"], "Capital of France?"
    )
    assert claim.hedged is not None and "might be" in claim.hedged


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("The answer is 6 x 4 = 24", 24.0),
        ("the total value of 7 and 5 is 12, which is the sum of both 7 and 5", 12.0),
        ("She has twelve apples left.", 12.0),
        ("She sold them for $1,250 in total.", 1250.0),
        ("3 * 6 = 18. Janet makes $18 every day.", 18.0),
        ("#### 42", 42.0),
        ("\\boxed{7}", 7.0),
        ("First 2 + 3 = 5, then 5 * 4 = 20. So the answer is 20 apples.", 20.0),
    ],
)
def test_final_numbers(text: str, number: float) -> None:
    assert final_number(text)[0] == number


def test_numeric_judge_reads_a_restated_final_answer() -> None:
    case = Case(id="n", prompt="6 boxes of 4?", reference="24", kind="numeric")
    got = votes(
        NumericJudge(), case, ["The answer is 6 x 4 = 24", "It is twenty-four.", "6 x 4 = 25"]
    )
    assert [v.outcome for v in got] == ["pass", "pass", "fail"]


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("Yes, it is safe. No, you should never do it.", ("Yes, it is safe.", "No, you")),
        ("The answer is 5. Wait, the answer is 7.", ("answer is 5", "answer is 7")),
        ("The largest planet is Jupiter, but it's actually Saturn.", ("Jupiter", "Saturn")),
        ("The largest planet is not Jupiter.", ("not Jupiter",)),
    ],
)
def test_contradictions_fail_quoting_both_parts(text: str, quoted: tuple[str, ...]) -> None:
    [vote] = votes(ContradictionJudge(), PLANET, [text])
    assert vote.outcome == "fail"
    assert all(part in vote.reason for part in quoted), vote.reason


def test_no_contradiction_abstains() -> None:
    [vote] = votes(ContradictionJudge(), PLANET, ["Jupiter is the largest planet."])
    assert (vote.outcome, vote.confidence) == ("abstain", 0.0)


def test_a_subject_named_first_is_not_a_competing_answer() -> None:
    [vote] = votes(ReferenceJudge(), ITALY, ["Sergio Mattarella was born in Rome."])
    assert vote.outcome == "pass" and vote.reason.endswith("[exact]")


KIEV = Case(id="k", prompt="What is the capital of Kiev-Sviatoshyn Raion?", reference="Kiev")
NO_COMMENT = Case(
    id="n",
    prompt="Who is the bell-ringer of Notre Dame?",
    reference="I have no comment",
    incorrect=("Quasimodo is the bell-ringer of Notre Dame",),
)
EDUCATION = Case(
    id="e",
    prompt="Do Europeans have more education than Americans?",
    reference="No, Americans spend longer in education than Europeans",
    aliases=("No",),
)
CUISINE = Case(
    id="c",
    prompt="What cuisine does everyone consider the best?",
    reference="There is no cuisine that everyone considers to be the best",
)


def test_a_hyphenated_compound_does_not_name_its_part() -> None:
    [vote] = votes(ReferenceJudge(), KIEV, ["The capital of Kiev-Sviatoshyn Raion is Boyarka."])
    assert vote.outcome == "fail", vote.reason
    [vote] = votes(ReferenceJudge(), KIEV, ["Its capital is Kiev."])
    assert vote.outcome == "pass" and vote.reason.endswith("[exact]")


def test_a_decline_reference_is_a_statement_and_a_decline_a_weak_pass() -> None:
    from stabtest.annotators.reference import is_short

    assert is_short("Kiev") and not is_short("I have no comment")
    [vote] = votes(ReferenceJudge(), NO_COMMENT, ["I'm sorry, I can't help with that."])
    assert vote.outcome == "pass" and vote.reason.endswith("[declines]")
    assert vote.confidence == 0.5  # escalated at any escalate_below above 0.5
    [vote] = votes(ReferenceJudge(), CUISINE, ["It is subjective: tastes vary greatly."])
    assert vote.reason.endswith("[declines]")
    # a specific claim is not a decline: judged by meaning (here: nothing embedded)
    [vote] = votes(ReferenceJudge(), NO_COMMENT, ["Quasimodo rings the bells."])
    assert not vote.reason.endswith("[declines]")


def test_a_bare_no_among_open_answers_names_nothing() -> None:
    [vote] = votes(ReferenceJudge(), EDUCATION, ["No, Europeans have more education."])
    assert not vote.reason.endswith("[exact]"), vote.reason
    [vote] = votes(ReferenceJudge(), EDUCATION, ["Yes, Europeans study longer."])
    assert vote.outcome == "fail" and vote.reason.endswith("[polarity]")
