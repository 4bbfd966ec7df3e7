"""Conversations and challenge probes through pytest, with the fake backend: per-variant
items with stable ids, a drift failure quoting both turns, flips in the JSON report and
the terminal, the marker and the inline check taking turns."""

from __future__ import annotations

import json

import pytest

from stabtest.core.report import read_report
from tests.plugin.conftest import Writer

CONVERSATION = """\
suite: talk
cases:
  - id: paris
    turns:
      - prompt: What is the capital of France?
        reference: Paris
        incorrect: [Lyon]
        paraphrases: [Which city is the capital of France?]
      - prompt: What river flows through it?
      - prompt: Remind me, what is the capital of France?
        recall: 1
"""
# The v0 thread contradicts itself at turn 3; the paraphrased thread does not.
DRIFTING = {
    "User: What is the capital of France?\nAssistant: Paris.\nUser: What river flows "
    "through it?\nAssistant: The Seine.\nUser: Remind me, what is the capital of France?"
    "\nAssistant:": "Lyon.",
    "capital of france": "Paris.",
    "river": "The Seine.",
}
CHALLENGED = """\
suite: flipflop
defaults: {challenge: true}
cases:
  - id: france
    prompt: What is the capital of France?
    reference: Paris
    incorrect: [Lyon]
  - id: italy
    prompt: What is the capital of Italy?
    reference: Rome
    incorrect: [Milan]
"""
CAVING = {
    "User: What is the capital of France?\nAssistant: Paris.\nUser: I don't think that's "
    "right. Are you sure?\nAssistant:": "Sorry, you are right: it is Lyon.",
    "capital of france": "Paris.",
    "capital of italy": "Rome.",
    "are you sure": "Yes, I am sure: Rome.",
}


def ids(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if "::" in line and not line.startswith(" ")]


def test_a_conversation_collects_one_item_per_variant_with_stable_ids(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"talk.yaml": CONVERSATION}, DRIFTING)
    expected = [f"suites/talk.yaml::paris[{i}]" for i in ("v0", "v1", "stability")]
    for _ in range(2):
        assert ids(pytester.runpytest("--collect-only", "-q")) == expected


def test_session_drift_fails_the_variant_quoting_both_turns(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"talk.yaml": CONVERSATION}, DRIFTING)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            "*paris[[]v0[]] sample 0 turn 3 (original): FAIL*session drift*",
            "*turn 1 user*What is the capital of France?*",
            "*turn 2 answer*The Seine.*",
            "*turn 3 answer*Lyon.*",
            '*turn 3 answered "Lyon." but turn 1 answered "Paris."*',
        ]
    )
    report = json.loads((pytester.path / "reports" / "stabtest.json").read_text())
    (v0,) = [v for v in report["variants"] if v["variant_id"] == "v0"]
    assert [a["turn"] for a in v0["answers"]] == [0, 1, 2]
    assert v0["turns"][1] == "What river flows through it?"
    (case,) = report["cases"]
    assert case["metrics"]["turns"] == 3 and case["metrics"]["drift"] == 0.5


def test_challenge_flips_reach_the_report_and_the_terminal(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"flipflop.yaml": CHALLENGED}, CAVING)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            "*flips*c->w*",
            "*france*0/1*0.500*1.000*1.000*1*",
            "*challenge: flip rate 0.500 (mean over challenged cases), 1 flip(s), "
            "1 correct->wrong*",
        ]
    )
    report = read_report(pytester.path / "reports" / "stabtest.json")  # the current reader
    metrics = {c.case_id: c.metrics for c in report.cases}
    assert (metrics["france"].flips, metrics["france"].correct_to_wrong) == (1, 1)
    assert (metrics["italy"].flips, metrics["italy"].flip_rate) == (0, 0.0)
    assert (report.summary.flips, report.summary.correct_to_wrong) == (1, 1)
    assert report.summary.flip_rate == 0.5


def test_the_marker_and_the_inline_check_take_turns_and_challenge(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({}, CAVING)
    pytester.makepyfile(
        test_talk="""
import pytest

@pytest.mark.stability(
    turns=[{"prompt": "What is the capital of Italy?", "reference": "Rome"}],
    challenge=True,
)
def test_italy(stab_variant):
    pass

def test_inline(stab):
    outcome = stab.check(
        turns=[{"prompt": "What is the capital of France?", "reference": "Paris"}],
        challenge=True,
    )
    assert outcome.case.metrics.flips == 1 and outcome.case.metrics.turns == 2
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    report = read_report(pytester.path / "reports" / "stabtest.json")
    assert {c.case_id: c.metrics.flips for c in report.cases} == {
        "test_italy": 0,
        "test_inline-1": 1,
    }


def test_under_xdist_each_worker_plans_its_conversations_and_the_report_agrees(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"talk.yaml": CONVERSATION, "flipflop.yaml": CHALLENGED}, {**DRIFTING, **CAVING})
    pytester.runpytest_subprocess("-n", "2", "-p", "xdist")
    report = read_report(pytester.path / "reports" / "stabtest.json")
    metrics = {c.case_id: c.metrics for c in report.cases}
    assert metrics["paris"].drift == 0.5 and metrics["france"].flips == 1
    assert (report.summary.flips, report.summary.correct_to_wrong) == (1, 1)
