"""Collection, ids, thresholds and bad suites, run through pytester as a user would."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.plugin.conftest import CAPITALS, CONSISTENT

VARIANT_IDS = [f"suites/capitals.yaml::capital-of-france[v{i}]" for i in range(5)]
CASE_ID = "suites/capitals.yaml::capital-of-france[stability]"


def collected_ids(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if "::" in line and not line.startswith(" ")]


def test_suite_collects_one_item_per_variant_plus_the_case(pytester, stab_project):
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT)
    result = pytester.runpytest("--collect-only", "-q")
    assert collected_ids(result) == [*VARIANT_IDS, CASE_ID]


def test_ids_and_variants_are_stable_across_runs_and_seeds(pytester, stab_project):
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT)
    first = pytester.runpytest("--collect-only", "-q", "--stab-seed", "7")
    second = pytester.runpytest("--collect-only", "-q", "--stab-seed", "7")
    assert collected_ids(first) == collected_ids(second) == [*VARIANT_IDS, CASE_ID]

    def prompts(seed: str) -> list[str]:
        pytester.runpytest("--stab-seed", seed, "-p", "no:cacheprovider")
        report = json.loads((pytester.path / "reports" / "stabtest.json").read_text())
        return [v["prompt"] for v in report["variants"]]

    assert prompts("7") == prompts("7")
    assert prompts("7") != prompts("8")


def test_consistent_right_answers_pass_and_report_metrics(pytester, stab_project):
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT)
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*stabtest*", "*capital-of-france*5/5*0.000*1.000*0.200*PASS*"])
    report = json.loads((pytester.path / "reports" / "stabtest.json").read_text())
    assert report["status"] == "complete"
    assert report["summary"]["si"] == 0.0
    assert report["summary"]["fc"] == 1.0
    assert len(report["variants"]) == 5
    assert {a["text"] for v in report["variants"] for a in v["answers"]} == {
        "The capital of France is Paris."
    }


def test_rerun_answers_everything_from_the_cache_and_says_so(pytester, stab_project):
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT)
    report_path = pytester.path / "reports" / "stabtest.json"
    pytester.runpytest().assert_outcomes(passed=6)
    first = json.loads(report_path.read_text())["generation"]
    assert (first["requests"], first["cached"], first["generated"]) == (5, 0, 5)
    result = pytester.runpytest()
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["generation: 5 requests, 5 from the cache, 0 generated*"])
    again = json.loads(report_path.read_text())["generation"]
    assert (again["cached"], again["generated"]) == (5, 0)
    fresh = pytester.runpytest("--stab-no-cache")
    fresh.stdout.fnmatch_lines(["generation: 5 requests, 0 from the cache, 5 generated*"])


def test_contradicting_answers_fail_variant_and_case_with_explanations(pytester, stab_project):
    answers = {
        "which city": "Lyon is the capital of France.",
        "capital of france": "The capital of France is Paris.",
    }
    stab_project({"capitals.yaml": CAPITALS}, answers, ini="stab_max_si = 0.3\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*capital-of-france[[]v1[]]*FAIL*hallucination*",
            "*prompt*Which city is the capital of France?*",
            "*answer*Lyon is the capital of France.*",
            "*reference*Paris*",
            "*original answer*The capital of France is Paris.*",
            "*why*contains the wrong answer 'Lyon'*",
        ]
    )
    result.stdout.fnmatch_lines(["*SI 0.400 > max_si 0.300*", "*FC 0.800*RDR 0.400*"])

    brief = pytester.runpytest("--tb=line")
    brief.stdout.fnmatch_lines(
        [
            "*capital-of-france[[]v1[]]: FAIL (hallucination), answer 'Lyon is the capital of "
            "France.': reference: contains the wrong answer 'Lyon'*",
            "*capital-of-france: SI 0.400 > max_si 0.300",
        ]
    )
    assert "original answer" not in brief.stdout.str()


def test_thresholds_come_from_flag_ini_and_case_in_that_order(pytester, stab_project):
    answers = {
        "which city": "Lyon is the capital of France.",
        "capital of france": "The capital of France is Paris.",
    }
    stab_project({"capitals.yaml": CAPITALS}, answers, ini="stab_max_si = 0.3\n")
    failing = pytester.runpytest(CASE_ID)
    failing.assert_outcomes(failed=1)
    failing.stdout.fnmatch_lines(["*SI 0.400 > max_si 0.300*"])
    relaxed = pytester.runpytest(CASE_ID, "--stab-max-si", "0.5")
    relaxed.assert_outcomes(passed=1)
    strict_case = CAPITALS.replace(
        "    reference: Paris\n", "    reference: Paris\n    thresholds: {max_si: 0.1}\n"
    )
    stab_project({"capitals.yaml": strict_case}, answers)
    overridden = pytester.runpytest(CASE_ID, "--stab-max-si", "0.5")
    overridden.assert_outcomes(failed=1)
    overridden.stdout.fnmatch_lines(["*SI 0.400 > max_si 0.100*"])


def test_bad_option_value_names_the_flag(pytester, stab_project):
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT)
    result = pytester.runpytest("--stab-max-si", "1.5")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--stab-max-si*between 0 and 1*"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "cases:\n  - id: a\n    prompt: hi\n    temprature: 0.5\n",
            "suites/broken.yaml:4 [[]cases[[]0[]].temprature[]]: unknown key 'temprature'",
        ),
        (
            "cases:\n  - id: a\n    reference: x\n",
            "suites/broken.yaml:2 [[]cases[[]0[]].prompt[]]: missing required key 'prompt'",
        ),
        (
            "cases:\n  - id: a\n    prompt: hi\n    sampling: {samples: many}\n",
            "suites/broken.yaml:4 [[]cases[[]0[]].sampling.samples[]]: *integer*",
        ),
        ("cases:\n  - id: a\n    prompt: [unclosed\n", "suites/broken.yaml:3*invalid YAML*"),
        (
            "cases:\n  - id: a\n    prompt: hi\n    perturbations: {count: 2, operators: [nope]}\n",
            "suites/broken.yaml:4*unknown perturbation operator 'nope'*",
        ),
    ],
    ids=["unknown-key", "missing-prompt", "wrong-type", "bad-yaml", "unknown-operator"],
)
def test_malformed_suite_fails_only_its_own_collection(pytester, stab_project, text, expected):
    stab_project({"capitals.yaml": CAPITALS, "broken.yaml": text}, CONSISTENT)
    result = pytester.runpytest()
    result.assert_outcomes(passed=6, errors=1)
    result.stdout.fnmatch_lines([f"*{expected}*"])
    assert "Traceback" not in result.stdout.str()


def test_unknown_backend_is_one_clear_usage_error(pytester, stab_project):
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT)
    result = pytester.runpytest("--stab-backend", "nosuch")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown backend 'nosuch'*"])


def test_xdist_workers_collect_the_same_ids_and_results(pytester, stab_project):
    pytest.importorskip("xdist")
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT)
    result = pytester.runpytest("-n", "2", "--stab-seed", "random")
    result.assert_outcomes(passed=6)
    report = json.loads((pytester.path / "reports" / "stabtest.json").read_text())
    assert sorted(v["uid"] for v in report["variants"]) == VARIANT_IDS


def test_stabtest_run_collects_suites_even_with_option_values(
    pytester, stab_project, tmp_path_factory
):
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT, ini="testpaths = tests\n")
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_other.py").write_text("def test_other():\n    assert 0\n")
    # an existing directory outside the project, given as an option value, must become
    # neither a test path nor the rootdir
    cache = tmp_path_factory.mktemp("elsewhere")
    command = Path(sys.executable).with_name("stabtest")  # the installed console script
    result = pytester.run(command, "run", "--stab-cache-dir", str(cache), "-q")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*6 passed*"])
    assert "test_other" not in result.stdout.str()
    assert (cache / "cache.sqlite").is_file()
