"""Evidence probes through pytest, with the fake backend: a model wrong at first that a
sourced correction sets right (updated), one that stays wrong (failure to update), their
figures in the JSON report, the terminal columns and line, and the update gate."""

from __future__ import annotations

import json

import pytest

from stabtest.core.loader import parse_suite
from stabtest.core.report import read_report
from tests.plugin.conftest import CAPITALS, CONSISTENT, Writer

PROBED = """\
suite: evidence
cases:
  - id: australia
    prompt: What is the capital of Australia?
    reference: Canberra
    incorrect: [Sydney]
    evidence: {source: the Australian Government's website}
  - id: brazil
    prompt: What is the capital of Brazil?
    reference: Brasilia
    incorrect: [Rio de Janeiro]
    evidence: true
    thresholds: {max_update_failure: 0.5}
"""


def answers() -> dict[str, str]:
    """Australia: Sydney, then Canberra after the evidence; Brazil: Rio both times."""
    australia = parse_suite(PROBED, "evidence.yaml").cases[0]
    question, evidence = (t.prompt for t in australia.turns)
    return {
        f"User: {question}\nAssistant: Sydney.\nUser: {evidence}\nAssistant:": (
            "You are right, it is Canberra."
        ),
        "according to": "I still think it is Rio de Janeiro.",
        "capital of australia": "Sydney.",
        "capital of brazil": "Rio de Janeiro.",
    }


def test_updates_and_failures_to_update_reach_the_report_and_the_terminal(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"evidence.yaml": PROBED}, answers())
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            "*failed to update 1.000 > max_update_failure 0.500*",
            "*updated*no update*r->w*case*",
            "*australia*1/1*0.000*0*PASS*",
            "*brazil*0/1*1.000*0*FAIL*",
            "*evidence: failed to update 0.500 (mean over cases wrong before the evidence), "
            "1/2 updated, 1 failed to update, 0 right->wrong*",
        ]
    )
    assert "flips" not in result.stdout.str()  # no challenge: no FlipFlop columns
    report = read_report(pytester.path / "reports" / "stabtest.json")
    metrics = {c.case_id: c.metrics for c in report.cases}
    australia, brazil = metrics["australia"], metrics["brazil"]
    assert (australia.first_wrong, australia.updated, australia.failed_to_update) == (1, 1, 0)
    assert (brazil.first_wrong, brazil.updated, brazil.failed_to_update) == (1, 0, 1)
    assert (australia.update_failure_rate, brazil.update_failure_rate) == (0.0, 1.0)
    assert australia.turns == 2 and australia.flips is None
    failures = {c.case_id: c.failures for c in report.cases}
    assert "failed to update 1.000 > max_update_failure 0.500" in failures["brazil"]
    assert not any("failed to update" in f for f in failures["australia"])
    s = report.summary
    assert (s.first_wrong, s.updated, s.failed_to_update, s.evidence_right_to_wrong) == (
        2,
        1,
        1,
        0,
    )
    assert s.update_failure_rate == 0.5


def test_without_evidence_probes_the_terminal_has_no_evidence_columns(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT)
    result = pytester.runpytest("-p", "no:cacheprovider")
    out = result.stdout.str()
    assert "no update" not in out and "evidence:" not in out
    report = read_report(pytester.path / "reports" / "stabtest.json")
    assert report.cases[0].metrics.evidence_threads is None
    assert report.summary.first_wrong is None


def test_a_report_without_the_evidence_fields_still_reads(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT)
    pytester.runpytest("-p", "no:cacheprovider")
    path = pytester.path / "reports" / "stabtest.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    new = ("evidence_threads", "first_wrong", "updated", "failed_to_update")
    new += ("update_failure_rate", "evidence_right_to_wrong")
    for case in raw["cases"]:
        for name in new:
            del case["metrics"][name]  # as a report written before evidence probes
    path.write_text(json.dumps(raw), encoding="utf-8")
    assert read_report(path).cases[0].metrics.first_wrong is None


def test_the_inline_check_takes_evidence(pytester: pytest.Pytester, stab_project: Writer) -> None:
    stab_project({}, answers())
    pytester.makepyfile(
        test_inline="""
def test_inline(stab):
    outcome = stab.check(
        prompt="What is the capital of Brazil?",
        reference="Brasilia",
        incorrect=["Rio de Janeiro"],
        evidence={"source": "an atlas"},
    )
    m = outcome.case.metrics
    assert (m.turns, m.first_wrong, m.failed_to_update) == (2, 1, 1)
"""
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
