"""`--stab-explore=N`: after the run, each passed case is explored and the findings are
listed in the terminal summary; the suite file is left alone."""

from __future__ import annotations

import json

import hypothesis  # noqa: F401  (imported once here: see conftest's note on pytester)
import pytest

from stabtest.core.report import read_report
from stabtest.variants.perturb import _DISTRACTORS
from tests.plugin.conftest import Writer

SUITE = """\
suite: capitals
cases:
  - id: france
    prompt: What is the capital of France?
    reference: Paris
    incorrect: [Lyon]
  - id: japan
    prompt: What is the capital of Japan?
    reference: Tokyo
"""
# Rules match case-insensitive substrings, first rule first. A distractor sentence makes
# the model wrong; any other wording of the France question (typos included: they only
# touch words of 4+ letters) still contains "the" and gets the right answer. Japan is
# never right, so it fails and is not explored.
ANSWERS = {sentence.lower(): "It is Lyon." for sentence in _DISTRACTORS} | {
    "japan": "It is Kyoto.",
    "the": "The capital of France is Paris.",
}


def test_passed_cases_are_explored_and_listed(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"capitals.yaml": SUITE}, ANSWERS)
    result = pytester.runpytest("--stab-explore=60", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=2)  # france: v0 + case; japan: v0 + case
    result.stdout.fnmatch_lines(
        [
            "*stabtest explore*",
            "smallest breaking perturbation of each passed case (budget 60 generations each):",
            "suites/capitals.yaml::france: breaks with 1 operator(s) (distractor): *"
            "-> It is Lyon. [[]hallucination[]] (* generation(s), * candidate(s))",
        ]
    )
    assert "suites/capitals.yaml::japan:" not in result.stdout.str()
    assert (pytester.path / "suites" / "capitals.yaml").read_text() == SUITE
    report = read_report(pytester.path / "reports" / "stabtest.json")
    assert report.explore is not None
    (france,) = report.explore
    assert (france.uid, france.status, france.operators) == (
        "suites/capitals.yaml::france",
        "found",
        ("distractor",),
    )
    assert france.answer == "It is Lyon." and france.prompt is not None
    assert any(sentence in france.prompt for sentence in _DISTRACTORS)
    assert france.generations >= 1 and france.reason
    assert any((pytester.path / ".stabtest" / "explore").rglob("*"))


def test_a_case_that_never_breaks_says_so_within_its_budget(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"capitals.yaml": SUITE}, {"the": "Paris and Tokyo."})
    result = pytester.runpytest("-p", "no:cacheprovider", "-o", "stab_explore=3")
    result.stdout.fnmatch_lines(
        [
            "suites/capitals.yaml::france: no break within 3 generations (budget spent; "
            "3 generation(s), 3 candidate(s))",
        ]
    )


def test_off_by_default(pytester: pytest.Pytester, stab_project: Writer) -> None:
    stab_project({"capitals.yaml": SUITE}, ANSWERS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert "stabtest explore" not in result.stdout.str()
    assert "explore" not in json.loads((pytester.path / "reports" / "stabtest.json").read_text())
    assert not (pytester.path / ".stabtest" / "explore").exists()


def test_a_negative_budget_is_a_usage_error(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"capitals.yaml": SUITE}, ANSWERS)
    result = pytester.runpytest("--stab-explore=-1", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*setting --stab-explore: expected 0 or a positive integer*"])


THREAD = """\
suite: threads
cases:
  - id: france-thread
    turns:
      - prompt: What is the capital of France?
        reference: Paris
        incorrect: [Lyon]
      - prompt: Remind me, what is the capital of France?
        recall: 1
"""


def test_a_passed_conversation_is_explored_through_its_opening(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"threads.yaml": THREAD}, ANSWERS)
    result = pytester.runpytest("--stab-explore=60", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)  # v0 + the case
    report = read_report(pytester.path / "reports" / "stabtest.json")
    assert report.explore is not None
    (thread,) = report.explore
    assert (thread.uid, thread.status, thread.operators) == (
        "suites/threads.yaml::france-thread",
        "found",
        ("distractor",),
    )
    assert thread.prompt is not None and "What is the capital of France?" in thread.prompt
    assert (pytester.path / "suites" / "threads.yaml").read_text() == THREAD
