"""Performance Drop Rate on hand-computed cases, and where it shows: summaries, the report
(old reports without it still read), the terminal table, the remediation split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stabtest.core.pdr import attack_summaries, performance_drop_rate
from stabtest.core.report import RunReport, read_report, write_report
from stabtest.core.results import (
    AnswerResult,
    AttackSummary,
    GenerationStats,
    VariantResult,
    Verdict,
)
from stabtest.remediation.split import held_out_attacks, trainable
from stabtest.reporting.summary import by_suite, summarize
from stabtest.reporting.terminal import render_summary


def variant(
    case: str,
    vid: str,
    correct: list[bool | None],
    attack: str | None = None,
    rejected: str | None = None,
    suite: str = "s.yaml",
) -> VariantResult:
    family = "original" if vid == "v0" else ("adversarial" if attack else "paraphrase")
    answers = tuple(
        AnswerResult(i, "x", 0, Verdict("pass" if c is not False else "fail", 1.0), c)
        for i, c in enumerate(correct)
    )
    return VariantResult(
        uid=f"{suite}::{case}[{vid}]",
        suite=suite,
        case_id=case,
        variant_id=vid,
        family=family,
        prompt="p",
        operators=(),
        reference="r",
        answers=answers,
        rejected=rejected,
        attack=attack,
    )


@pytest.mark.parametrize(
    ("clean", "attacked", "pdr"),
    [(1.0, 0.5, 0.5), (0.8, 0.8, 0.0), (0.5, 0.0, 1.0), (0.4, 0.6, -0.5)],
)
def test_pdr_is_one_minus_the_ratio(clean: float, attacked: float, pdr: float):
    assert performance_drop_rate(clean, attacked) == pytest.approx(pdr)


def test_pdr_is_undefined_without_a_clean_score():
    assert performance_drop_rate(0.0, 0.0) is None
    assert performance_drop_rate(0.0, 0.5) is None
    assert performance_drop_rate(None, 0.5) is None
    assert performance_drop_rate(0.5, None) is None


RESULTS = [
    # a: original right; char 1 of 2 right; sentence 2 of 2 right
    variant("a", "v0", [True]),
    variant("a", "v1", [False]),  # a paraphrase: no family, counts nowhere
    variant("a", "v2-char", [True], "char"),
    variant("a", "v3-char", [False], "char"),
    variant("a", "v4-sentence", [True], "sentence"),
    variant("a", "v5-sentence", [True], "sentence"),
    # b: original wrong; char both wrong; its sentence variant was rejected (not judged)
    variant("b", "v0", [False]),
    variant("b", "v2-char", [False], "char"),
    variant("b", "v3-char", [False], "char"),
    variant("b", "v4-sentence", [True], "sentence", rejected="duplicate of v0"),
    # c: two samples of the original, 1 of 2 right; char 2 samples both right
    variant("c", "v0", [True, False]),
    variant("c", "v2-char", [True, True], "char"),
    # d: no reference: FC undefined, so it counts for variants but not for PDR
    variant("d", "v0", [None]),
    variant("d", "v2-char", [None], "char"),
]


def test_attack_summaries_by_hand():
    out = attack_summaries(RESULTS)
    assert list(out) == ["char", "sentence"]
    char = out["char"]
    # clean: a 1, b 0, c 0.5 -> 0.5; attacked: a 0.5, b 0, c 1 -> 0.5; PDR 0
    assert (char.cases, char.variants) == (3, 6)
    assert (char.fc_clean, char.fc_attacked, char.pdr) == (
        pytest.approx(0.5),
        pytest.approx(0.5),
        pytest.approx(0.0),
    )
    # sentence: only case a counts (b's variant was rejected): clean 1, attacked 1
    assert out["sentence"] == AttackSummary(1, 2, 1.0, 1.0, 0.0)


def test_attack_summaries_drop_and_undefined():
    results = [
        variant("a", "v0", [True]),
        variant("a", "v1-distractor", [False], "distractor"),
        variant("b", "v0", [True]),
        variant("b", "v1-distractor", [True], "distractor"),
        variant("c", "v0", [False]),
        variant("c", "v1-word", [True], "word"),
        variant("d", "v0", [None]),
        variant("d", "v1-char", [None], "char"),
    ]
    out = attack_summaries(results)
    assert list(out) == ["char", "word", "distractor"]  # documented family order
    assert out["distractor"] == AttackSummary(2, 2, 1.0, 0.5, 0.5)
    assert out["word"] == AttackSummary(1, 1, 0.0, 1.0, None)  # FC clean 0: undefined
    assert out["char"] == AttackSummary(0, 1, None, None, None)  # no reference
    assert attack_summaries([variant("a", "v0", [True])]) == {}


def case_results(results: list[VariantResult]):
    from stabtest.core.results import CaseMetrics, CaseResult

    uids = dict.fromkeys(v.case_uid for v in results)
    return [
        CaseResult(uid, "s.yaml", uid.split("::")[1], CaseMetrics(0.0, 1.0, 0.5, 1, 1), None, None)
        for uid in uids
    ]


def report(results: list[VariantResult]) -> RunReport:
    cases = case_results(results)
    return RunReport(
        run_id="r",
        status="complete",
        started_at=0.0,
        finished_at=1.0,
        summary=summarize(cases, results),
        generation=GenerationStats(),
        suites=by_suite(cases, results),
        cases=cases,
        variants=results,
    )


def test_report_carries_pdr_and_reads_reports_written_before_it(tmp_path: Path):
    written = report(RESULTS)
    assert written.summary.adversarial["char"].pdr == pytest.approx(0.0)
    assert written.suites["s.yaml"].adversarial == written.summary.adversarial
    path = tmp_path / "stabtest.json"
    write_report(path, written)
    raw = json.loads(path.read_text())
    assert raw["summary"]["adversarial"]["sentence"]["pdr"] == 0.0
    assert {v["attack"] for v in raw["variants"]} == {None, "char", "sentence"}
    assert read_report(path) == written
    # A report from before adversarial families: no `adversarial`, no `attack`.
    for summary in [raw["summary"], *raw["suites"].values()]:
        del summary["adversarial"]
    for v in raw["variants"]:
        del v["attack"]
    path.write_text(json.dumps(raw))
    old = read_report(path)
    assert old.summary.adversarial == {} and all(v.attack is None for v in old.variants)


def test_terminal_table_only_for_suites_with_attacks():
    shown = render_summary(report(RESULTS))
    assert "adversarial: s.yaml (PDR = 1 - FC attacked / FC clean)" in shown
    lines = shown.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["family", "variants"])
    char = lines[header + 2].split()
    sentence = lines[header + 3].split()
    assert char == ["char", "6", "3", "0.500", "0.500", "0.000"]
    assert sentence == ["sentence", "2", "1", "1.000", "1.000", "0.000"]
    undefined = report([variant("a", "v0", [False]), variant("a", "v1-word", [False], "word")])
    row = next(line for line in render_summary(undefined).splitlines() if line.startswith("word"))
    assert row.split() == ["word", "1", "1", "0.000", "0.000", "-"]
    plain = render_summary(report([variant("a", "v0", [True])]))
    assert "adversarial" not in plain


def test_remediation_holds_out_attack_families():
    held = held_out_attacks()
    assert held == ("char", "sentence")
    for family in ("char", "word", "sentence", "distractor"):
        v = variant("a", f"v1-{family}", [False], family)
        assert trainable(v, ()) is (family not in held)
    assert v.origin == "adversarial distractor"


def test_remediation_rerun_asks_only_held_out_families():
    from stabtest.core.suite import Adversarial, Case
    from stabtest.remediation.evaluate import held_out_case

    case = Case(
        id="a",
        prompt="q",
        adversarial=Adversarial(families=("char", "word", "sentence", "distractor"), count=3),
    )
    rerun = held_out_case(case, ("typo",), 2)
    assert rerun.adversarial == Adversarial(families=("char", "sentence"), count=3)


def test_dashboard_plots_pdr_per_family_as_a_valid_plotly_figure():
    import plotly.graph_objects as go

    from stabtest.reporting import dashboard_figures as figures
    from stabtest.reporting.dashboard import render_dashboard

    attacked = report(RESULTS)
    text = figures.adversarial_pdr(attacked)
    assert text is not None
    data = json.loads(text)
    assert json.loads(go.Figure(data).to_json()) == data  # plotly accepts every property
    (bars,) = data["data"]
    assert bars["name"] == "s.yaml" and bars["x"] == ["char", "sentence"]
    assert bars["y"] == [0.0, 0.0]
    assert "FC clean 0.500, attacked 0.500" in bars["customdata"][0]
    assert figures.adversarial_pdr(report([variant("a", "v0", [True])])) is None
    page = render_dashboard(attacked)
    assert 'data-figure="adversarial"' in page and "adversarial char" in page
