"""The pytest_stabtest_* hooks, implemented in a conftest.py as a user would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.plugin.conftest import CAPITALS, CONSISTENT
from tests.plugin.test_collection import CASE_ID, VARIANT_IDS, collected_ids

GRUMPY_JUDGE = """
from stabtest.core.results import Vote


class Grumpy:
    name = "grumpy"
    aspect = "correctness"

    def applies(self, case):
        return True

    def votes(self, evidence):
        return [
            Vote("grumpy", "fail", 1.0, reason="nothing is ever right", category="hallucination")
            for _ in evidence.answers
        ]


def pytest_stabtest_add_judges(settings):
    assert settings.backend == "fake"
    return [Grumpy()]
"""

FIRST_TWO_VARIANTS = """
def pytest_stabtest_modify_variants(case, variants):
    return variants[:2]
"""

REPORT_SEEN = """
import json

import pytest
from pathlib import Path


def pytest_stabtest_report_written(path, report):
    seen = {"path": str(path), "status": report.status, "variants": len(report.variants)}
    with Path("seen.jsonl").open("a") as out:
        print(json.dumps(seen), file=out)
"""


# A judge that fails everything splits the correctness aspect against the reference judge,
# which the default escalate_below escalates: these tests are about the hooks, not that.
NO_ESCALATION = "stab_escalate_below = 0\n"


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_added_judge_votes_in_every_verdict(pytester, stab_project):
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT, ini=NO_ESCALATION)
    pytester.runpytest().assert_outcomes(passed=6)
    pytester.makeconftest(GRUMPY_JUDGE)
    result = pytester.runpytest()
    result.assert_outcomes(failed=6)  # 5 variants, and the case (FC 0)
    result.stdout.fnmatch_lines(["*grumpy: nothing is ever right*"])
    report = json.loads((pytester.path / "reports" / "stabtest.json").read_text())
    votes = [v for var in report["variants"] for v in var["answers"][0]["verdict"]["votes"]]
    assert {v["judge"] for v in votes} >= {"semantic", "reference", "grumpy"}


def test_modified_variants_change_the_collected_ids(pytester, stab_project):
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT, ini=NO_ESCALATION)
    pytester.makeconftest(FIRST_TWO_VARIANTS)
    result = pytester.runpytest("--collect-only", "-q")
    assert collected_ids(result) == [*VARIANT_IDS[:2], CASE_ID]
    pytester.runpytest().assert_outcomes(passed=3)
    report = json.loads((pytester.path / "reports" / "stabtest.json").read_text())
    assert [v["variant_id"] for v in report["variants"]] == ["v0", "v1"]


def test_report_written_receives_the_path_and_the_report(pytester, stab_project):
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT, ini=NO_ESCALATION)
    pytester.makeconftest(REPORT_SEEN)
    pytester.runpytest().assert_outcomes(passed=6)
    [seen] = read_lines(pytester.path / "seen.jsonl")
    assert seen == {
        "path": str(pytester.path / "reports" / "stabtest.json"),
        "status": "complete",
        "variants": 5,
    }


def test_hooks_reach_xdist_workers_and_the_report_hook_runs_once(pytester, stab_project):
    pytest.importorskip("xdist")
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT, ini=NO_ESCALATION)
    pytester.makeconftest(FIRST_TWO_VARIANTS + GRUMPY_JUDGE + REPORT_SEEN)
    result = pytester.runpytest("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=3)  # v0, v1 and the case, judged in the workers
    [seen] = read_lines(pytester.path / "seen.jsonl")  # the controller's, not the workers'
    assert (seen["status"], seen["variants"]) == ("complete", 2)
