"""The remediation gate: paired bootstrap intervals, one line and one remedy per miss."""

from __future__ import annotations

import pytest

from stabtest.core.results import (
    AnswerResult,
    CaseMetrics,
    CaseOutcome,
    CaseResult,
    VariantResult,
    Verdict,
)
from stabtest.remediation.gate import Gate, Paired, judge


def outcome(n: int, si: float, fc: float | None, answer: str | None = None) -> CaseOutcome:
    uid, text = f"s.yaml::c{n}", answer if answer is not None else f"answer {n}"
    verdict = Verdict("pass", 0.9, (), None)  # type: ignore[arg-type]
    variant = VariantResult(
        uid=f"{uid}[v0]",
        suite="s.yaml",
        case_id=f"c{n}",
        variant_id="v0",
        family="original",  # type: ignore[arg-type]
        prompt="q?",
        operators=(),
        reference=None,
        answers=(AnswerResult(0, text, 0, verdict, True),),
    )
    metrics = CaseMetrics(si=si, fc=fc, rdr=0.5, answers=4, clusters=1)
    return CaseOutcome(CaseResult(uid, "s.yaml", f"c{n}", metrics, None, None), {"v0": variant})


def sides(si: list[tuple[float, float]], fc: list[tuple[float, float]]) -> Paired:
    return Paired(
        [outcome(i, s, f) for i, ((s, _), (f, _)) in enumerate(zip(si, fc, strict=True))],
        [outcome(i, s, f) for i, ((_, s), (_, f)) in enumerate(zip(si, fc, strict=True))],
    )


def by_name(criteria: list) -> dict:  # type: ignore[type-arg]
    return {c.name: c for c in criteria}


TREATED = sides([(0.6, 0.2)] * 20, [(0.2, 0.6)] * 20)  # SI -67%, FC +0.4 on every case


def test_an_unchanged_control_has_a_zero_width_interval_and_passes() -> None:
    control = sides([(0.0, 0.0)] * 30, [(0.8, 0.8)] * 30)
    result = by_name(judge(TREATED, control, Gate()))
    assert all(c.passed for c in result.values()), [c.line for c in result.values()]
    assert result["control FC"].interval.low == result["control FC"].interval.high == 0.0
    assert result["held-out SI"].estimate == pytest.approx(2 / 3)
    assert "95% CI" in result["held-out SI"].line


def test_a_small_mean_drop_with_a_wide_interval_fails_only_under_the_interval_rule() -> None:
    # 30 control cases: 3 lose 0.5 FC, 3 gain 0.4: mean -0.01, but the interval reaches -0.05
    pairs = [(0.8, 0.3)] * 3 + [(0.4, 0.8)] * 3 + [(0.8, 0.8)] * 24
    control = sides([(0.0, 0.0)] * 30, pairs)
    strict = by_name(judge(TREATED, control, Gate()))["control FC"]
    assert strict.estimate == pytest.approx(-0.01)
    assert not strict.passed and strict.interval.low < -0.02 < strict.interval.high
    assert "interval reaches below -0.02" in strict.line
    assert "--retain-weight" in strict.advice and "30 control case(s)" in strict.advice
    lenient = by_name(judge(TREATED, control, Gate(control_rule="estimate")))["control FC"]
    assert lenient.passed


def test_too_small_an_si_drop_says_so_and_what_to_do() -> None:
    weak = sides([(0.6, 0.45)] * 20, [(0.2, 0.6)] * 20)  # -25%
    si = by_name(judge(weak, sides([(0, 0)] * 5, [(1, 1)] * 5), Gate()))["held-out SI"]
    assert not si.passed and "needs a drop of at least 40%" in si.line
    assert "--budget-minutes" in si.advice and "--min-si-drop" in si.advice
    assert by_name(judge(weak, sides([(0, 0)] * 5, [(1, 1)] * 5), Gate(min_si_drop=0.2)))[
        "held-out SI"
    ].passed


def test_held_out_fc_lower_fails() -> None:
    worse = sides([(0.6, 0.2)] * 20, [(0.6, 0.3)] * 20)
    fc = by_name(judge(worse, sides([(0, 0)] * 5, [(1, 1)] * 5), Gate()))["held-out FC"]
    assert not fc.passed and fc.estimate == pytest.approx(-0.3)


def test_collapse_to_one_answer_fails_the_diversity_rule() -> None:
    before = [outcome(i, 0.5, 0.5) for i in range(10)]
    after = [outcome(i, 0.0, 0.5, answer="Paris.") for i in range(10)]
    result = by_name(judge(Paired(before, after), Paired([], []), Gate()))
    assert not result["diversity"].passed and result["diversity"].estimate == pytest.approx(0.1)
    assert not result["control FC"].passed and "no case" in result["control FC"].line
