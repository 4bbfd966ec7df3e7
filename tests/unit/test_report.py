"""The run report: one typed record, written and read by one module, versioned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stabtest.core.report import SCHEMA_VERSION, ReportError, RunReport, read_report, write_report
from stabtest.core.results import (
    AnswerResult,
    CaseMetrics,
    CaseResult,
    GenerationStats,
    RunSummary,
    VariantResult,
    Verdict,
    Vote,
)
from stabtest.core.settings import Settings
from stabtest.reporting.recorder import Recorder, encode_payload

VOTE = Vote("reference", "fail", 0.9, 0.0, "contains the wrong answer 'Lyon'", "hallucination")
VARIANT = VariantResult(
    uid="suites/c.yaml::fr[v1]",
    suite="suites/c.yaml",
    case_id="fr",
    variant_id="v1",
    family="rule",
    prompt="what is the capital of france?",
    operators=("casing",),
    reference="Paris",
    answers=(AnswerResult(0, "Lyon <script>", 1, Verdict("fail", 0.9, (VOTE,)), False),),
)
CASE = CaseResult(
    uid="suites/c.yaml::fr",
    suite="suites/c.yaml",
    case_id="fr",
    metrics=CaseMetrics(0.5, 0.5, 1.0, 2, 2),
    max_si=0.5,
    min_fc=0.6,
    failures=("FC 0.500 < min_fc 0.600",),
)


def recorded(tmp_path: Path) -> Recorder:
    """A recorder fed as the plugin feeds it: JSON payloads from items (xdist-safe)."""
    recorder = Recorder(Settings(rootdir=str(tmp_path), label_studio_token="s3cret"))
    for kind, record in (("variant", VARIANT), ("case", CASE)):
        recorder.add_payload(json.loads(encode_payload(kind, record)))  # type: ignore[arg-type]
    stats = GenerationStats(requests=2, generated=2, generate_seconds=0.5)
    recorder.add_payload(json.loads(encode_payload("generation", stats)))
    recorder.add_payload(json.loads(encode_payload("generation", stats)))
    return recorder


def test_items_payloads_round_trip_into_the_written_report(tmp_path: Path) -> None:
    recorder = recorded(tmp_path)
    written = recorder.report("complete", 1)
    path = tmp_path / "reports" / "stabtest.json"
    write_report(path, written)
    report = read_report(path)
    assert report == written
    assert report.variants == [VARIANT] and report.cases == [CASE]
    assert report.generation.requests == 4  # two workers' costs summed
    assert report.summary.cases_failed == 1 and report.summary.variants_failed == 1
    assert report.suites["suites/c.yaml"].fc == 0.5


def test_derived_values_are_in_the_json_for_other_tools(tmp_path: Path) -> None:
    path = tmp_path / "stabtest.json"
    write_report(path, recorded(tmp_path).report("complete"))
    raw = json.loads(path.read_text())
    assert raw["schema_version"] == SCHEMA_VERSION
    variant, case = raw["variants"][0], raw["cases"][0]
    assert (variant["outcome"], variant["confidence"], case["passed"]) == ("fail", 0.9, False)
    assert len(variant["answers"][0]["hash"]) == 16
    assert "error" not in raw and "s3cret" not in json.dumps(raw)


def test_a_report_of_another_schema_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "stabtest.json"
    write_report(path, recorded(tmp_path).report("complete"))
    raw = json.loads(path.read_text())
    raw["schema_version"] = 1
    path.write_text(json.dumps(raw))
    with pytest.raises(ReportError, match=r"schema 1.*reads schema 2.*rerun"):
        read_report(path)
    legacy = {"schema": 1, "run_id": "x", "variants": []}  # the first landing's format
    path.write_text(json.dumps(legacy))
    with pytest.raises(ReportError, match="schema 1"):
        read_report(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "cannot read the report .*not JSON"),
        ("[]", "not a stabtest report"),
        ('{"schema_version": 2, "run_id": 3}', r"not a valid stabtest report: .*problem"),
    ],
)
def test_a_foreign_file_is_named_not_half_parsed(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(ReportError, match=message):
        read_report(path)


def test_write_is_atomic_and_leaves_no_temporary(tmp_path: Path) -> None:
    report = RunReport(
        run_id="r",
        status="interrupted",
        started_at=0.0,
        finished_at=1.0,
        summary=RunSummary(),
        generation=GenerationStats(),
        error="generation failed: boom",
    )
    path = tmp_path / "deep" / "stabtest.json"
    write_report(path, report)
    assert read_report(path) == report
    assert [p.name for p in path.parent.iterdir()] == ["stabtest.json"]


def test_the_terminal_says_how_many_were_escalated_and_whose_doubt() -> None:
    from dataclasses import replace

    from stabtest.reporting.terminal import render_summary

    doubtful = Verdict(
        "escalate",
        0.54,
        (
            Vote("reference", "pass", 0.54, 0.8, "near a right answer [near_right]"),
            Vote("semantic", "pass", 0.95, 1.0, "agrees"),
        ),
    )
    undecided = Verdict("escalate", 0.0, (Vote("reference", "abstain", 0.0),))
    answers = (AnswerResult(0, "maybe", 0, doubtful), AnswerResult(1, "hm", 1, undecided))
    report = RunReport(
        run_id="r",
        status="complete",
        started_at=0.0,
        finished_at=1.0,
        settings={"escalate_below": 0.6},
        summary=RunSummary(cases=1, variants=1, escalated=1),
        generation=GenerationStats(),
        cases=[CASE],
        variants=[replace(VARIANT, answers=answers)],
    )
    text = render_summary(report)
    assert (
        "escalated to humans: 2 answer(s) below escalate_below 0.6: "
        "1 reference near_right (0.54), 1 no judge could decide"
    ) in text
