"""CI views of a run: `--junitxml` carries each item's verdict and metrics as short
properties (not the JSON payload items carry for xdist), and pytest-html's report shows
each variant's prompt, answers and votes, escaped. Plain and under xdist."""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.plugin.conftest import Writer

SUITE = """\
suite: capitals
cases:
  - id: capital-of-france
    prompt: What is the capital of France?
    reference: Paris
    paraphrases: [What is the capital of France?]   # a duplicate: rejected
  - id: capital-of-italy
    prompt: What is the capital of Italy?
    reference: Rome
    incorrect: [Milan]
    paraphrases:
      - Which city is the capital of Italy?
      - Name the capital of Italy.
      - Tell me the capital of Italy.
    thresholds: {max_si: 0.4}
"""
HOSTILE = "<b>Paris</b> & <script>alert(1)</script>"
ANSWERS = {
    "What is the capital of Italy?": "Rome.",
    "Which city is the capital of Italy?": "Milan, of course.",
    "Name the capital of Italy.": "Rome.",
    "Tell me the capital of Italy.": "Rome.",
    "capital of france": HOSTILE,
}
ITALY = "suites/capitals.yaml::capital-of-italy"
FRANCE = "suites/capitals.yaml::capital-of-france"
MODES = pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["plain", "xdist"])


def run(pytester: pytest.Pytester, xdist: list[str], *args: str) -> pytest.RunResult:
    if xdist:
        pytest.importorskip("xdist")
    result = pytester.runpytest("-p", "no:cacheprovider", *xdist, *args)
    result.assert_outcomes(passed=5, failed=2, skipped=1)  # v1 of France is a duplicate
    return result


def properties(path: Path) -> dict[str, dict[str, str]]:
    """Test case name (as junitxml writes it) -> its properties."""
    found: dict[str, dict[str, str]] = {}
    for case in ET.parse(path).iter("testcase"):
        names = [p.get("name") for p in case.iter("property")]
        assert len(names) == len(set(names)), names  # each property once
        found[case.get("name", "")] = {
            p.get("name", ""): p.get("value", "") for p in case.iter("property")
        }
    return found


@MODES
def test_junit_xml_carries_short_verdicts_and_metrics(
    pytester: pytest.Pytester, stab_project: Writer, xdist: list[str]
) -> None:
    stab_project({"capitals.yaml": SUITE}, ANSWERS)
    run(pytester, xdist, "--junitxml=out.xml")
    found = properties(pytester.path / "out.xml")
    passing, failing = found["capital-of-italy[v0]"], found["capital-of-italy[v1]"]
    assert passing["stab_verdict"] == "pass" and passing["stab_answer"] == "Rome."
    assert passing["stab_prompt"] == "What is the capital of Italy?"
    assert 0.5 <= float(passing["stab_confidence"]) <= 1.0
    assert "stab_reason" not in passing and "stab_category" not in passing
    assert failing["stab_verdict"] == "fail" and failing["stab_category"] == "hallucination"
    assert failing["stab_answer"] == "Milan, of course." and "Milan" in failing["stab_reason"]
    assert failing["stab_family"] == "paraphrase"
    case = found["capital-of-italy[stability]"]
    assert (case["stab_si"], case["stab_fc"], case["stab_rdr"]) == ("0.500", "0.750", "0.500")
    assert case["stab_passed"] == "false" and "SI" in case["stab_failures"]
    assert (case["stab_max_si"], case["stab_answers"], case["stab_clusters"]) == ("0.400", "4", "2")
    assert found["capital-of-france[stability]"]["stab_passed"] == "true"
    rejected = found["capital-of-france[v1]"]
    assert rejected["stab_verdict"] == "rejected" and "duplicate" in rejected["stab_reason"]
    # The payload that carries results across xdist stays out of the XML...
    xml = (pytester.path / "out.xml").read_text()
    assert all(name.startswith("stab_") for props in found.values() for name in props)
    assert '"kind"' not in xml and "votes" not in xml
    # ... and still reached the JSON report, whole.
    report = json.loads((pytester.path / "reports" / "stabtest.json").read_text())
    assert len(report["variants"]) == 6 and len(report["cases"]) == 2
    assert {v["answers"][0]["text"] for v in report["variants"] if not v["rejected"]} == {
        "Rome.",
        "Milan, of course.",
        HOSTILE,
    }


def html_rows(path: Path) -> dict[str, str]:
    """Test id -> the HTML stabtest put in its row (pytest-html 4 keeps rows as JSON in an
    attribute, rendered by its script)."""
    blob = re.search(r'data-jsonblob="([^"]*)"', path.read_text(encoding="utf-8"))
    assert blob is not None
    tests = json.loads(html.unescape(blob.group(1)))["tests"]
    return {
        test_id: "".join(e["content"] for row in rows for e in row["extras"])
        for test_id, rows in tests.items()
    }


@MODES
def test_html_report_shows_prompt_answers_and_votes_escaped(
    pytester: pytest.Pytester, stab_project: Writer, xdist: list[str]
) -> None:
    pytest.importorskip("pytest_html")
    stab_project({"capitals.yaml": SUITE}, ANSWERS)
    run(pytester, xdist, "--html=report.html", "--self-contained-html")
    path = pytester.path / "report.html"
    assert "<script>alert(1)" not in path.read_text(encoding="utf-8")
    rows = html_rows(path)
    france = rows[f"{FRANCE}[v0]"]
    assert "What is the capital of France?" in france
    assert html.escape(HOSTILE) in france and HOSTILE not in france
    assert "<th>judge</th>" in france and "<td>reference</td>" in france
    failing = rows[f"{ITALY}[v1]"]
    assert "Which city is the capital of Italy?" in failing and "Milan, of course." in failing
    assert "FAIL" in failing and "hallucination" in failing
    assert "SI (lower is better)" in rows[f"{ITALY}[stability]"]
