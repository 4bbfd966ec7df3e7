"""The Python API: the `stability` marker and the `stab` fixture, as a user writes them.

The test file below is also the documented, runnable example of the Python API.
"""

from __future__ import annotations

import json

import pytest

EXAMPLE = """
import pytest


@pytest.mark.stability(
    prompt="What is the capital of Japan?",
    reference="Tokyo",
    paraphrases=["Which city is the capital of Japan?"],
    perturbations={"count": 2, "operators": ["typo", "casing"]},
    thresholds={"max_si": 0.3},
)
def test_capital_of_japan(stab_result, stab_case):
    # One item per variant plus [stability]; the plugin checks each verdict after the body.
    if stab_result is not None:
        assert stab_result.answers[0].text
    else:
        assert stab_case.metrics.answers == 4


def test_inline_check(stab):
    stab.assert_stable(
        "What is 2 + 2?",
        reference="4",
        kind="numeric",
        paraphrases=["How much is two plus two?"],
        max_si=0.2,
    )


def test_inline_check_can_fail(stab):
    stab.assert_stable(
        "Who wrote Hamlet?",
        reference="Shakespeare",
        paraphrases=["Hamlet was written by whom?"],
    )
"""

ANSWERS = {
    "capital of japan": "The capital of Japan is Tokyo.",
    "capitl of japan": "The capital of Japan is Tokyo.",
    "captial of japan": "The capital of Japan is Tokyo.",
    "2 + 2": "2 + 2 = 4. The answer is 4.",
    "two plus two": "Two plus two is 4.",
    "who wrote hamlet": "Hamlet was written by William Shakespeare.",
    "hamlet was written": "Christopher Marlowe wrote it.",
}


@pytest.fixture
def project(pytester: pytest.Pytester, stab_project) -> pytest.Pytester:
    stab_project({}, ANSWERS)
    pytester.makepyfile(test_example=EXAMPLE)
    return pytester


def test_marker_parametrizes_one_item_per_variant_plus_the_case(project):
    result = project.runpytest("--collect-only", "-q", "-k", "japan")
    ids = [line for line in result.outlines if "::" in line]
    assert ids == [
        f"test_example.py::test_capital_of_japan[{v}]"
        for v in ("v0", "v1", "v2", "v3", "stability")
    ]


def test_marker_and_fixture_run_with_results_in_the_report(project):
    result = project.runpytest("-v")
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_inline_check_can_fail*FAILED*",
            "*test_inline_check_can_fail-1: SI 1.000 > max_si 0.500*",
            "*Christopher Marlowe wrote it.*",
        ]
    )
    report = json.loads((project.path / "reports" / "stabtest.json").read_text())
    uids = {c["uid"] for c in report["cases"]}
    assert "test_example.py::test_capital_of_japan::test_capital_of_japan" in uids
    assert "test_example.py::test_inline_check::test_inline_check-1" in uids


def test_marker_with_bad_arguments_is_a_usage_error_naming_the_test(pytester, stab_project):
    stab_project({}, ANSWERS)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.stability(prompt="Hi", sampling={"temperature": -1})
        def test_bad(stab_result):
            pass
        """
    )
    result = pytester.runpytest()
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*test_bad*@pytest.mark.stability*sampling.temperature*"])
