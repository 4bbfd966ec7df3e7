"""A third party's judge, installed as a distribution with a `stabtest.judges` entry point,
named in a suite's `checks` (and in `--stab-judges`), votes in the ensemble."""

from __future__ import annotations

import json

import pytest

from tests.plugin.conftest import Writer

ACME_MODULE = """
from stabtest.core.results import Vote


class AcmeJudge:
    name = "acme"
    aspect = "correctness"

    def applies(self, case):
        return True

    def votes(self, evidence):
        return [
            Vote("acme", "fail", 1.0, reason="acme rejects every answer", category="hallucination")
            for _ in evidence.answers
        ]
"""

SUITE = """\
suite: acme
cases:
  - id: judged-by-acme
    prompt: What is the capital of France?
    reference: Paris
    checks: [semantic, reference, acme]
  - id: left-alone
    prompt: What is the capital of Italy?
    reference: Rome
"""

ANSWERS = {
    "capital of france": "The capital of France is Paris.",
    "capital of italy": "The capital of Italy is Rome.",
}


@pytest.fixture
def acme_installed(pytester: pytest.Pytester) -> None:
    """`acme_judges.py` and the metadata of a distribution that registers it, on sys.path."""
    pytester.makepyfile(acme_judges=ACME_MODULE)
    info = pytester.path / "acme_judges-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-judges\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[stabtest.judges]\nacme = acme_judges:AcmeJudge\n", encoding="utf-8"
    )
    pytester.syspathinsert()


def judges_by_case(pytester: pytest.Pytester) -> dict[str, set[str]]:
    report = json.loads((pytester.path / "reports" / "stabtest.json").read_text())
    seen: dict[str, set[str]] = {}
    for variant in report["variants"]:
        for answer in variant["answers"]:
            judges = {vote["judge"] for vote in answer["verdict"]["votes"]}
            seen.setdefault(variant["case_id"], set()).update(judges)
    return seen


def test_a_case_naming_the_judge_gets_its_votes_and_verdict(
    pytester: pytest.Pytester, stab_project: Writer, acme_installed: None
) -> None:
    stab_project({"acme.yaml": SUITE}, ANSWERS, ini="stab_escalate_below = 0\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    # judged-by-acme: its variant and the case (FC 0) fail; left-alone passes untouched
    result.assert_outcomes(failed=2, passed=2)
    result.stdout.fnmatch_lines(["*acme: acme rejects every answer*"])
    seen = judges_by_case(pytester)
    assert "acme" in seen["judged-by-acme"]
    assert "acme" not in seen["left-alone"]
    assert {"semantic", "reference"} <= seen["left-alone"]


def test_listed_in_stab_judges_it_judges_every_case(
    pytester: pytest.Pytester, stab_project: Writer, acme_installed: None
) -> None:
    stab_project({"acme.yaml": SUITE}, ANSWERS, ini="stab_escalate_below = 0\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--stab-judges", "semantic,acme")
    result.assert_outcomes(failed=4)
    assert all("acme" in judges for judges in judges_by_case(pytester).values())


def test_an_unknown_check_names_the_suite_file_and_the_closest_judge(
    pytester: pytest.Pytester, stab_project: Writer, acme_installed: None
) -> None:
    typo = SUITE.replace("[semantic, reference, acme]", "[semantic, reference, acmee]")
    stab_project({"acme.yaml": typo}, ANSWERS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*suites/acme.yaml:6 [[]cases[[]0[]].checks[]]: unknown check 'acmee'"
            " (did you mean 'acme'?); valid checks: acme, contradiction, *"
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_without_the_distribution_the_name_is_unknown(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"acme.yaml": SUITE}, ANSWERS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*suites/acme.yaml:6*unknown check 'acme'*stabtest.judges*"])
