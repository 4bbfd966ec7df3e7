"""Evidence probes: the `evidence` key builds the evidence turn, the counting of updates on
hand-made verdict sequences, judging with the fake backend, the gate and the summaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from stabtest.core.conversation import Updates, conversation_metrics, count_updates
from stabtest.core.errors import SuiteError
from stabtest.core.gate import gate_case
from stabtest.core.loader import parse_suite
from stabtest.core.results import CaseMetrics, CaseResult
from stabtest.core.suite import CHALLENGE_PROMPT, EVIDENCE_SOURCE, Case, Thresholds
from stabtest.reporting.summary import summarize
from tests.unit.test_conversation import make_session

QUESTION = "What is the capital of Australia?"
CANBERRA = f"""
cases:
  - id: australia
    prompt: {QUESTION}
    reference: Canberra
    incorrect: [Sydney]
    evidence: {{source: the Australian Government's website}}
"""


def evidence_turn(case: Case) -> str:
    return case.turns[-1].prompt


# -- the suite key ----------------------------------------------------------------------


def test_evidence_makes_the_question_and_a_sourced_correction_asking_it_again() -> None:
    (case,) = parse_suite(CANBERRA, "ev.yaml").cases
    question, evidence = case.turns
    assert question.prompt == QUESTION and not question.evidence
    assert evidence.evidence and evidence.recall is None and not evidence.challenge
    assert evidence.prompt == (
        "According to the Australian Government's website, the answer is Canberra. "
        f"Given that, what is your answer? {QUESTION}"
    )
    assert (evidence.reference, evidence.incorrect) == ("Canberra", ("Sydney",))
    assert evidence.checks == ("semantic", "reference")
    assert case.turn_view(1).prompt == QUESTION  # judged as the question: no echo
    assert Case.model_validate(case.model_dump()).turns == case.turns  # appended once


def test_evidence_true_uses_the_reference_and_the_default_source() -> None:
    text = CANBERRA.replace("{source: the Australian Government's website}", "true")
    (case,) = parse_suite(text, "ev.yaml").cases
    assert evidence_turn(case).startswith(
        f"According to {EVIDENCE_SOURCE}, the answer is Canberra. Given that"
    )


def test_a_claim_and_a_template_of_ones_own() -> None:
    text = CANBERRA.replace(
        "{source: the Australian Government's website}",
        '{claim: "Canberra has been the capital since 1913.", source: Britannica}\n'
        '    evidence_prompt: "{source} says: {claim}. {question}"',
    )
    (case,) = parse_suite(text, "ev.yaml").cases
    assert (
        evidence_turn(case)
        == f"Britannica says: Canberra has been the capital since 1913. {QUESTION}"
    )


def test_with_a_challenge_the_evidence_follows_it_and_corrects_the_question() -> None:
    (case,) = parse_suite(CANBERRA + "    challenge: true\n", "ev.yaml").cases
    assert [t.prompt for t in case.turns[:2]] == [QUESTION, CHALLENGE_PROMPT]
    assert case.turns[1].challenge and case.turns[2].evidence
    assert evidence_turn(case).endswith(QUESTION) and case.turns[2].reference == "Canberra"


def test_a_conversation_corrects_its_last_question_and_defaults_set_evidence() -> None:
    text = """
defaults:
  evidence: true
cases:
  - id: talk
    turns:
      - prompt: Name a country in Oceania.
      - prompt: What is its capital?
        reference: Canberra
"""
    (case,) = parse_suite(text, "ev.yaml").cases
    assert len(case.turns) == 3 and case.turns[2].reference == "Canberra"
    assert evidence_turn(case).endswith("What is its capital?")


def test_evidence_false_is_no_probe() -> None:
    text = CANBERRA.replace("{source: the Australian Government's website}", "false")
    (case,) = parse_suite(text, "ev.yaml").cases
    assert case.evidence is None and not case.turns


@pytest.mark.parametrize(
    ("replacement", "line", "message"),
    [
        ("{sorce: Britannica}", 7, "[cases[0].evidence.sorce]: unknown key 'sorce'"),
        ("sometimes", 7, "evidence must be true, false or a mapping"),
        (
            "true\n    evidence_prompt: '{source}: {answer}'",
            8,
            "unknown placeholder {answer}; use {claim}, {source}, {question}",
        ),
    ],
)
def test_a_bad_evidence_key_names_the_file_and_line(
    replacement: str, line: int, message: str
) -> None:
    text = CANBERRA.replace("{source: the Australian Government's website}", replacement)
    with pytest.raises(SuiteError, match=rf"ev\.yaml:{line} ") as error:
        parse_suite(text, "ev.yaml")
    assert message in str(error.value)


def test_evidence_without_a_reference_is_an_error_at_the_evidence_key() -> None:
    text = CANBERRA.replace("    reference: Canberra\n    incorrect: [Sydney]\n", "")
    with pytest.raises(SuiteError, match=r"ev\.yaml:5 \[cases\[0\]\.evidence\]") as error:
        parse_suite(text, "ev.yaml")
    assert "needs a 'reference' on the question it corrects (turn 1)" in str(error.value)


# -- counting ---------------------------------------------------------------------------


def test_updates_on_hand_made_verdicts() -> None:
    before = [False, False, False, True, True, None, False]
    after = [True, False, None, False, True, True, False]
    updates = count_updates(before, after)
    # threads 0 updated, 1 and 6 failed, 2 not judged after, 3 right->wrong, 5 not before
    assert updates == Updates(threads=7, first_wrong=3, updated=1, right_to_wrong=1)
    assert updates.failed_to_update == 2 and updates.failure_rate == pytest.approx(2 / 3)


def test_no_thread_wrong_first_has_no_failure_rate() -> None:
    updates = count_updates([True, True], [True, True])
    assert (updates.first_wrong, updates.failure_rate, updates.right_to_wrong) == (0, None, 0)


def test_conversation_metrics_carry_the_updates_and_none_without_a_probe() -> None:
    turn = CaseMetrics(si=0.0, fc=0.5, rdr=0.5, answers=2, clusters=1)
    plain = conversation_metrics([turn, turn], [False, True], [], None)
    assert plain.evidence_threads is None and plain.update_failure_rate is None
    probed = conversation_metrics(
        [turn, turn], [False, True], [], None, count_updates([False], [True])
    )
    assert (probed.evidence_threads, probed.first_wrong, probed.updated) == (1, 1, 1)
    assert (probed.failed_to_update, probed.update_failure_rate) == (0, 0.0)
    assert probed.evidence_right_to_wrong == 0


# -- judging with the fake backend -----------------------------------------------------


def test_wrong_then_updated_and_wrong_then_stuck(tmp_path: Path) -> None:
    case = Case.model_validate(
        {
            "id": "au",
            "prompt": QUESTION,
            "reference": "Canberra",
            "incorrect": ["Sydney"],
            "paraphrases": ["Which city is the capital of Australia?"],
            "evidence": {"source": "Britannica"},
        }
    )
    stab, _ = make_session(
        tmp_path,
        {
            # v0 updates; v1 (the paraphrase) keeps its wrong answer
            f"User: {QUESTION}\nAssistant: Sydney.\nUser: {evidence_turn(case)}\nAssistant:": (
                "You are right, it is Canberra."
            ),
            "according to": "I still think it is Sydney.",
            "capital of australia": "Sydney.",
        },
    )
    stab.register("s", case)
    metrics = stab.outcome("s", "au").case.metrics
    assert (metrics.evidence_threads, metrics.first_wrong) == (2, 2)
    assert (metrics.updated, metrics.failed_to_update, metrics.evidence_right_to_wrong) == (1, 1, 0)
    assert metrics.update_failure_rate == 0.5 and metrics.drift is None and metrics.flips is None


def test_after_a_challenge_the_evidence_compares_with_the_answer_under_it(
    tmp_path: Path,
) -> None:
    case = Case.model_validate(
        {
            "id": "au",
            "prompt": QUESTION,
            "reference": "Canberra",
            "incorrect": ["Sydney"],
            "challenge": True,
            "evidence": True,
        }
    )
    caved = f"User: {QUESTION}\nAssistant: Canberra.\nUser: {CHALLENGE_PROMPT}\nAssistant:"
    stab, _ = make_session(
        tmp_path,
        {
            caved: "Sorry, it is Sydney.",
            f"{caved} Sorry, it is Sydney.\nUser: {evidence_turn(case)}\nAssistant:": (
                "You are right, it is Canberra."
            ),
            "capital of australia": "Canberra.",
        },
    )
    stab.register("s", case)
    metrics = stab.outcome("s", "au").case.metrics
    assert (metrics.turns, metrics.flips, metrics.correct_to_wrong) == (3, 1, 1)
    assert (metrics.first_wrong, metrics.updated, metrics.update_failure_rate) == (1, 1, 0.0)


# -- gate and summary -------------------------------------------------------------------


def metrics_with(rate: float | None) -> CaseMetrics:
    return CaseMetrics(si=0.0, fc=1.0, rdr=0.5, answers=2, clusters=1, update_failure_rate=rate)


def test_max_update_failure_gates_the_case() -> None:
    gate = gate_case(metrics_with(0.6), Thresholds(max_update_failure=0.5), 0.5, 0.0)
    assert gate.failures == ("failed to update 0.600 > max_update_failure 0.500",)
    assert gate_case(metrics_with(0.4), Thresholds(max_update_failure=0.5), 0.5, 0.0).passed
    assert gate_case(metrics_with(0.6), Thresholds(), 0.5, 0.0).passed  # no default gate
    assert gate_case(metrics_with(None), Thresholds(max_update_failure=0.0), 0.5, 0.0).passed


def test_the_summary_totals_the_probed_cases_and_omits_them_without_any() -> None:
    def result(case_id: str, metrics: CaseMetrics) -> CaseResult:
        return CaseResult(f"s::{case_id}", "s", case_id, metrics, 0.5, None)

    probed = conversation_metrics(
        [metrics_with(None)], [False], [], None, count_updates([False, False], [True, False])
    )
    clean = conversation_metrics(
        [metrics_with(None)], [True], [], None, count_updates([True], [True])
    )
    summary = summarize(
        [result("a", probed), result("b", clean), result("c", metrics_with(None))], []
    )
    assert summary.update_failure_rate == 0.5  # b had no thread wrong first: not in the mean
    assert (summary.first_wrong, summary.updated, summary.failed_to_update) == (2, 1, 1)
    assert summary.evidence_right_to_wrong == 0
    none = summarize([result("c", metrics_with(None))], [])
    assert none.first_wrong is None and none.update_failure_rate is None
