"""Collection at scale: `collect: per-case` (a suite key, the `collect` setting, the
marker's `collect=`) makes one item per case that records every variant, so the JSON
report, the JUnit properties and baselines are what the per-variant items give.
Plain and under xdist, as a user would run it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

SUITE = """\
suite: capitals
cases:
  - id: capital-of-france
    prompt: What is the capital of France?
    reference: Paris
    incorrect: [Lyon]
    paraphrases:
      - Which city is the capital of France?
      - Name the capital of France.
      - What is the capital of France?
    perturbations: {count: 2, operators: [casing, punctuation]}
  - id: capital-of-italy
    prompt: What is the capital of Italy?
    reference: Rome
"""
"""France: v1 answers Lyon (fails), v3 repeats v0 (rejected); Italy passes."""
PER_CASE = "collect: per-case\n" + SUITE
ANSWERS = {
    "which city": "Lyon is the capital of France.",
    "capital of france": "The capital of France is Paris.",
    "italy": "The capital of Italy is Rome.",
}
FRANCE = "suites/capitals.yaml::capital-of-france"
ITALY = "suites/capitals.yaml::capital-of-italy"
MODES = pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["plain", "xdist"])


def collected(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if "::" in line and not line.startswith(" ")]


def report(pytester: pytest.Pytester) -> dict[str, Any]:
    return json.loads((pytester.path / "reports" / "stabtest.json").read_text())


def results(pytester: pytest.Pytester) -> dict[str, Any]:
    """What the two modes must agree on: every variant, case and suite summary."""
    found = report(pytester)
    return {key: found[key] for key in ("variants", "cases", "suites", "summary")}


def run(pytester: pytest.Pytester, xdist: list[str], *args: str) -> pytest.RunResult:
    if xdist:
        pytest.importorskip("xdist")
    return pytester.runpytest("-p", "no:cacheprovider", *xdist, *args)


def test_a_per_case_suite_collects_one_item_per_case(pytester, stab_project):
    stab_project({"capitals.yaml": PER_CASE}, ANSWERS)
    assert collected(pytester.runpytest("--collect-only", "-q")) == [FRANCE, ITALY]


@pytest.mark.parametrize("where", ["flag", "ini", "pyproject"])
def test_the_setting_is_the_default_and_a_suites_own_key_wins(pytester, stab_project, where):
    per_variant = "collect: per-variant\n" + SUITE.replace("capitals", "own")
    ini = "stab_collect = per-case\n" if where == "ini" else ""
    stab_project({"capitals.yaml": SUITE, "own.yaml": per_variant}, ANSWERS, ini=ini)
    if where == "pyproject":
        pytester.makepyprojecttoml('[tool.stabtest]\ncollect = "per-case"\n')
    flag = ["--stab-collect", "per-case"] if where == "flag" else []
    ids = collected(pytester.runpytest("--collect-only", "-q", *flag))
    assert [i for i in ids if i.startswith("suites/capitals")] == [FRANCE, ITALY]
    assert "suites/own.yaml::capital-of-italy[stability]" in ids
    assert len([i for i in ids if i.startswith("suites/own")]) == 9  # 6 + 1 variants, 2 cases


def test_a_bad_collect_value_fails_the_suite_naming_file_line_and_key(pytester, stab_project):
    bad = "suite: broken\ncollect: per-item\ncases:\n  - {id: a, prompt: hi}\n"
    stab_project({"capitals.yaml": PER_CASE, "broken.yaml": bad}, ANSWERS)
    result = run(pytester, [])
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*suites/broken.yaml:2 [[]collect[]]: expected one of per-variant, per-case*"]
    )
    assert run(pytester, [], "--stab-collect", "per-item").ret == pytest.ExitCode.USAGE_ERROR


@MODES
def test_both_modes_report_the_same_variants_and_cases(pytester, stab_project, xdist):
    stab_project({"capitals.yaml": SUITE}, ANSWERS)
    per_variant = run(pytester, xdist)
    per_variant.assert_outcomes(passed=7, failed=1, skipped=1)  # v1 fails, v3 rejected
    expected = results(pytester)
    stab_project({"capitals.yaml": PER_CASE}, ANSWERS)
    per_case = run(pytester, xdist)
    per_case.assert_outcomes(passed=1, failed=1)
    assert results(pytester) == expected
    assert [v["uid"] for v in expected["variants"]][:2] == [f"{FRANCE}[v0]", f"{FRANCE}[v1]"]
    assert [c["uid"] for c in expected["cases"]] == [FRANCE, ITALY]
    by_setting = run(pytester, xdist, "--stab-collect", "per-variant")  # the suite's key wins
    by_setting.assert_outcomes(passed=1, failed=1)


def test_the_failure_lists_failing_and_rejected_variants(pytester, stab_project):
    stab_project({"capitals.yaml": PER_CASE}, ANSWERS)
    result = run(pytester, [])
    result.stdout.fnmatch_lines(
        [
            "capital-of-france: 1 of 5 variants failed (v1)",
            "SI 0.400 (max 0.5), FC 0.800 (min 0.5), RDR 0.400: 2 distinct answers among 5",
            "  capital-of-france[[]v1[]]: FAIL (hallucination), answer 'Lyon is the capital "
            "of France.'*",
            "rejected, not judged: v3 (duplicate of v0)",
            "*capital-of-france[[]v1[]] sample 0 (paraphrase): FAIL*",
            "*original answer*The capital of France is Paris.*",
        ]
    )
    brief = run(pytester, [], "--tb=line", "--stab-max-si", "0.3")
    brief.stdout.fnmatch_lines(
        ["*capital-of-france: 1 of 5 variants failed (v1); SI 0.400 > max_si 0.300"]
    )
    assert "original answer" not in brief.stdout.str()


def test_a_case_that_only_misses_a_threshold_explains_its_clusters(pytester, stab_project):
    stab_project({"capitals.yaml": PER_CASE}, ANSWERS, ini="stab_max_si = 0.3\n")
    # every verdict below 0.99 escalates: Lyon escalates instead of failing, SI still 0.4
    result = run(pytester, [], "--stab-escalate-below", "0.99", FRANCE)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["capital-of-france: SI 0.400 > max_si 0.300", "*variant*sample*cluster*"]
    )
    assert "variants failed" not in result.stdout.str()


def test_escalated_variants_skip_the_item_as_escalated(pytester, stab_project):
    stab_project({"capitals.yaml": PER_CASE}, ANSWERS)
    # every verdict below 0.99 escalates: Lyon too, so no variant fails
    result = run(pytester, [], "--stab-escalate-below", "0.99", "--junitxml=out.xml")
    assert result.parseoutcomes() == {"escalated": 2, "warnings": 1}  # v3 is a duplicate
    skipped = {
        case.get("name"): skip.get("message")
        for case in ET.parse(pytester.path / "out.xml").iter("testcase")
        for skip in case.iter("skipped")
    }
    assert skipped == {
        "capital-of-france": "escalated to human review: 5 variant(s) (v0, v1, v2, v4, v5)",
        "capital-of-italy": "escalated to human review: 1 variant(s) (v0)",
    }
    escalated = [v for v in report(pytester)["variants"] if v["outcome"] == "escalate"]
    assert len(escalated) == 6


def junit(path: Path) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for case in ET.parse(path).iter("testcase"):
        names = [p.get("name", "") for p in case.iter("property")]
        assert len(names) == len(set(names)), names  # each property once
        found[case.get("name", "")] = {
            p.get("name", ""): p.get("value", "") for p in case.iter("property")
        }
    return found


@MODES
def test_junit_xml_carries_the_case_and_every_variants_verdict(pytester, stab_project, xdist):
    stab_project({"capitals.yaml": PER_CASE}, ANSWERS)
    run(pytester, xdist, "--junitxml=out.xml").assert_outcomes(passed=1, failed=1)
    france = junit(pytester.path / "out.xml")["capital-of-france"]
    assert (france["stab_si"], france["stab_fc"], france["stab_passed"]) == (
        "0.400",
        "0.800",
        "true",
    )
    verdicts = {k: v for k, v in france.items() if k.endswith("_verdict")}
    assert verdicts == {
        "stab_v0_verdict": "pass",
        "stab_v1_verdict": "fail",
        "stab_v2_verdict": "pass",
        "stab_v3_verdict": "rejected",
        "stab_v4_verdict": "pass",
        "stab_v5_verdict": "pass",
    }
    assert france["stab_v1_category"] == "hallucination" and "Lyon" in france["stab_v1_reason"]
    assert france["stab_v3_reason"] == "duplicate of v0"
    assert not any(name.startswith("stabtest") for name in france)  # the JSON payload stays out


def test_selecting_a_case_by_node_id_or_k_runs_only_it(pytester, stab_project):
    stab_project({"capitals.yaml": PER_CASE}, ANSWERS)
    run(pytester, [], ITALY).assert_outcomes(passed=1)
    assert [c["uid"] for c in report(pytester)["cases"]] == [ITALY]
    assert report(pytester)["generation"]["requests"] == 1  # France was not planned
    run(pytester, [], "-k", "france").assert_outcomes(failed=1)
    assert [c["uid"] for c in report(pytester)["cases"]] == [FRANCE]
    assert len(report(pytester)["variants"]) == 6


def test_a_per_variant_baseline_compares_with_a_per_case_run(pytester, stab_project):
    stab_project({"capitals.yaml": SUITE}, ANSWERS, ini="stab_escalate_below = 0\n")
    assert run(pytester, [], "--stab-save-baseline", "main").ret == 1  # v1 fails
    per_case = run(pytester, [], "--stab-collect", "per-case", "--stab-baseline", "main")
    per_case.stdout.fnmatch_lines(["baseline main (run *): no regression past tolerance*"])
    compared = report(pytester)["baseline"]
    assert {s["scope"] for s in compared["scopes"]} >= {FRANCE, ITALY}
    assert {m["verdict"] for s in compared["scopes"] for m in s["metrics"]} == {"unchanged"}


MARKED = """
import pytest


@pytest.mark.stability(
    prompt="What is the capital of Japan?",
    reference="Tokyo",
    paraphrases=["Which city is the capital of Japan?"],
    perturbations={"count": 2, "operators": ["typo", "casing"]},
    collect="per-case",
)
def test_japan(stab_variant, stab_result, stab_case):
    assert stab_variant[2] == "*" and stab_result is None
    assert stab_case.metrics.answers == 4


@pytest.mark.stability(prompt="What is the capital of Spain?", reference="Madrid")
def test_spain(stab_case):
    pass
"""


def test_the_marker_collects_one_stability_item_per_case(pytester, stab_project):
    stab_project({}, {"japan": "The capital of Japan is Tokyo.", "spain": "Madrid."})
    pytester.makepyfile(test_marked=MARKED)
    ids = collected(pytester.runpytest("--collect-only", "-q", "test_marked.py"))
    assert ids == [
        "test_marked.py::test_japan[stability]",
        "test_marked.py::test_spain[v0]",
        "test_marked.py::test_spain[stability]",
    ]
    run(pytester, [], "test_marked.py").assert_outcomes(passed=3)
    uids = [v["uid"] for v in report(pytester)["variants"]]
    japan = "test_marked.py::test_japan::test_japan"  # scope::case, as per variant
    assert [u for u in uids if "japan" in u] == [f"{japan}[v{i}]" for i in range(4)]
    every = collected(pytester.runpytest("--collect-only", "-q", "--stab-collect", "per-case"))
    assert every == [
        "test_marked.py::test_japan[stability]",
        "test_marked.py::test_spain[stability]",
    ]


def test_a_bad_marker_collect_value_is_a_usage_error(pytester, stab_project):
    stab_project({}, {"japan": "Tokyo."})
    pytester.makepyfile(
        test_bad="import pytest\n\n\n"
        "@pytest.mark.stability(prompt='Capital of Japan?', collect='all')\n"
        "def test_bad():\n    pass\n"
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error, as other keys
    result.stdout.fnmatch_lines(
        ["*test_bad.py::test_bad (@pytest.mark.stability) [[]collect[]]: expected one of*"]
    )
