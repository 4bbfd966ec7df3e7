"""A sampled case gated on its repeats: pass rate and pass^k in the gate, the terminal
table and the JSON report."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.plugin.conftest import Writer

SAMPLED = """\
suite: sampled
cases:
  - id: capital-of-france
    prompt: What is the capital of France?
    reference: Paris
    incorrect: [Lyon]
    paraphrases: [Which city is the capital of France?]
    sampling: {temperature: 0.7, samples: 3}
    thresholds: {max_si: 1.0, min_fc: 0.0, THRESHOLDS}
"""
# Every wording answers Paris, Paris, Lyon over its three samples.
ANSWERS = {"capital of france": ["Paris.", "Paris.", "Lyon."]}


def run(
    pytester: pytest.Pytester, stab_project: Writer, thresholds: str, *args: str, ini: str = ""
) -> tuple[pytest.RunResult, dict[str, Any]]:
    stab_project({"sampled.yaml": SAMPLED.replace("THRESHOLDS", thresholds)}, ANSWERS, ini)
    result = pytester.runpytest("-p", "no:cacheprovider", *args)
    report = json.loads((pytester.path / "reports" / "stabtest.json").read_text())
    return result, report


def stability(result: pytest.RunResult) -> str:
    """The case item's outcome in `-rA` lines (its variants fail on the Lyon samples)."""
    line = next(
        line
        for line in result.outlines
        if line.endswith("capital-of-france[stability]") or "capital-of-france[stability] -" in line
    )
    return line.split()[0]


def test_a_pass_rate_below_min_pass_rate_fails_the_case(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    result, report = run(
        pytester, stab_project, "min_pass_rate: 0.9", "-rA", "--junitxml=junit.xml"
    )
    assert stability(result) == "FAILED"
    out = result.stdout.str()
    assert "pass rate 0.667 < min_pass_rate 0.900" in out
    case = report["cases"][0]
    m = case["metrics"]
    # Per wording: Paris, Paris, Lyon. 4 of 6 answers pass; no wording passes all three
    # samples (pass^3 = 0), every wording passes one of them (pass@3 = 1).
    assert (m["samples"], m["passing"], m["judged"], m["k"]) == (3, 4, 6, 3)
    assert m["pass_rate"] == pytest.approx(4 / 6)
    assert m["pass_rate_ci"] == pytest.approx([0.300, 0.903], abs=5e-4)
    assert (m["pass_hat_k"], m["pass_at_k"], m["variants_k"]) == (0.0, 1.0, 2)
    assert case["min_pass_rate"] == 0.9 and case["min_pass_k"] is None
    assert report["summary"]["pass_rate"] == pytest.approx(4 / 6)
    # the terminal table's repeat columns
    header = next(line for line in result.outlines if line.startswith("suite "))
    assert "pass rate" in header and "pass^k" in header and "pass@k" in header
    assert "0.667 [0.30, 0.90]" in out and "0.000 [0.00, 0.66] (k=3)" in out
    junit = (pytester.path / "junit.xml").read_text()
    assert 'name="stab_pass_rate" value="0.667"' in junit
    assert 'name="stab_pass_hat_k" value="0.000"' in junit


def test_a_pass_rate_at_min_pass_rate_passes(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    result, _ = run(pytester, stab_project, "min_pass_rate: 0.6", "-rA")
    assert stability(result) == "PASSED"


@pytest.mark.parametrize(("floor", "outcome"), [("0.5", "FAILED"), ("0.3", "PASSED")])
def test_pass_hat_k_gates_at_the_cases_k(
    pytester: pytest.Pytester, stab_project: Writer, floor: str, outcome: str
) -> None:
    # pass^2 of Paris, Paris, Lyon: C(2,2) / C(3,2) = 1/3; pass@2 = 1 - 0 = 1.
    result, report = run(pytester, stab_project, f"pass_k: 2, min_pass_k: {floor}", "-rA")
    assert stability(result) == outcome
    m = report["cases"][0]["metrics"]
    assert (m["k"], m["pass_hat_k"], m["pass_at_k"]) == (2, pytest.approx(1 / 3), 1.0)
    if outcome == "FAILED":
        assert f"pass^2 0.333 < min_pass_k {float(floor):.3f}" in result.stdout.str()


def test_one_sample_per_variant_adds_no_columns(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project(
        {
            "sampled.yaml": SAMPLED.replace("THRESHOLDS", "min_pass_rate: 0.5").replace(
                "sampling: {temperature: 0.7, samples: 3}", "sampling: {}"
            )
        },
        {"capital of france": "Paris."},
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert "pass^k" not in result.stdout.str() and "pass rate" not in result.stdout.str()
    report = json.loads((pytester.path / "reports" / "stabtest.json").read_text())
    m = report["cases"][0]["metrics"]
    assert (m["samples"], m["pass_rate"]) == (1, 1.0)  # still in the JSON


def test_the_session_default_min_pass_rate_gates_cases_without_their_own(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    result, _ = run(pytester, stab_project, "pass_k: 3", "-rA", ini="stab_min_pass_rate = 0.9\n")
    assert stability(result) == "FAILED"


INLINE = """\
def test_sampled_inline(stab):
    outcome = stab.check(
        "What is the capital of France?",
        reference="Paris",
        incorrect=["Lyon"],
        sampling={"temperature": 0.7, "samples": 3},
        max_si=1.0,
        min_fc=0.0,
        pass_k=2,
        min_pass_k=0.5,
    )
    assert outcome.case.failures == ("pass^2 0.333 < min_pass_k 0.500",)
"""


def test_stab_check_takes_the_repeat_thresholds_directly(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({}, ANSWERS)
    pytester.makepyfile(test_inline=INLINE)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
