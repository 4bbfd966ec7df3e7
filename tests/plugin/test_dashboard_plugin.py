"""The dashboard is written beside the report at the end of every run that writes one,
with this run's remediation round only."""

from __future__ import annotations

import json
import time

import pytest

from tests.plugin.conftest import CAPITALS, CONSISTENT, Writer


def test_a_run_writes_the_dashboard_and_says_where(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT)
    result = pytester.runpytest()
    result.assert_outcomes(passed=6)
    page = pytester.path / "reports" / "stabtest.html"
    result.stdout.fnmatch_lines([f"dashboard: {page}"])
    text = page.read_text(encoding="utf-8")
    assert "capital-of-france" in text and "Which city is the capital of France?" in text


def test_html_off_writes_no_dashboard(pytester: pytest.Pytester, stab_project: Writer) -> None:
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT, "stab_html = false\n")
    pytester.runpytest().assert_outcomes(passed=6)
    assert not (pytester.path / "reports" / "stabtest.html").exists()
    assert (pytester.path / "reports" / "stabtest.json").exists()


def test_a_remediation_round_of_an_earlier_run_is_not_shown(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT)
    reports = pytester.path / "reports"
    reports.mkdir()
    round_ = {
        "created_at": time.time() - 3600,
        "accepted": False,
        "model": "earlier-round-model",
        "treated": {},
        "control": {},
        "per_case": [],
    }
    (reports / "remediation.json").write_text(json.dumps(round_), encoding="utf-8")
    pytester.runpytest().assert_outcomes(passed=6)
    assert "earlier-round-model" not in (reports / "stabtest.html").read_text(encoding="utf-8")
