"""A run against its baseline: bootstrap intervals on known cases, what gates and what is
noise, and cases that were added, removed or changed."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from stabtest.core.compare import (
    BaselineComparison,
    CaseAnswers,
    ScopeComparison,
    benjamini_hochberg,
    bootstrap_interval,
    compare_reports,
    mcnemar_p,
    pair_variants,
    paired_bootstrap_interval,
    paired_resample_metrics,
)
from stabtest.core.metrics import case_metrics
from stabtest.core.report import RunReport
from stabtest.core.results import (
    AnswerResult,
    CaseResult,
    GenerationStats,
    RunSummary,
    VariantResult,
    Verdict,
)

SUITE = "suites/s.yaml"
# An answer: (cluster, correct). A case: its answers, spread over variants of 2 samples.
Answers = Sequence[tuple[int, bool | None]]


def case(case_id: str, answers: Answers, *, suite: str = SUITE, prompt: str = "q") -> tuple:
    """A case's result and its variants, as a run records them (2 samples per variant)."""
    variants = []
    for start in range(0, len(answers), 2):
        index = start // 2
        chunk = answers[start : start + 2]
        variants.append(
            VariantResult(
                uid=f"{suite}::{case_id}[v{index}]",
                suite=suite,
                case_id=case_id,
                variant_id=f"v{index}",
                family="rule",
                prompt=f"{prompt} {index}",
                operators=(),
                reference="Paris",
                answers=tuple(
                    AnswerResult(i, "yes" if ok else "no", cl, Verdict("pass", 1.0), ok)
                    for i, (cl, ok) in enumerate(chunk)
                ),
            )
        )
    metrics = case_metrics([cl for cl, _ in answers], [ok for _, ok in answers])
    result = CaseResult(f"{suite}::{case_id}", suite, case_id, metrics, 0.5, 0.5)
    return result, variants


def report(*cases: tuple, run_id: str = "r") -> RunReport:
    return RunReport(
        run_id=run_id,
        status="complete",
        started_at=0.0,
        finished_at=1.0,
        summary=RunSummary(),
        generation=GenerationStats(),
        cases=[c for c, _ in cases],
        variants=[v for _, vs in cases for v in vs],
    )


STABLE = [(0, True)] * 20
HALF = [(0, True)] * 10 + [(1, False)] * 10


def compare(before: RunReport, after: RunReport, **options: object) -> BaselineComparison:
    kwargs: dict[str, object] = {"si_tolerance": 0.05, "fc_tolerance": 0.05}
    kwargs.update(options)
    return compare_reports(before, after, "main", **kwargs)  # type: ignore[arg-type]


def scope(comparison: BaselineComparison, name: str) -> ScopeComparison:
    return next(s for s in comparison.scopes if s.scope == name)


def verdicts(found: ScopeComparison) -> dict[str, str]:
    return {m.metric: m.verdict for m in found.metrics}


# -- bootstrap ---------------------------------------------------------------------------


def test_a_perfectly_stable_case_has_a_zero_width_interval() -> None:
    stable = CaseAnswers.of(case("a", STABLE)[1])
    for metric in ("si", "fc", "rdr"):
        interval = bootstrap_interval(stable, stable, metric, seed=3)  # type: ignore[arg-type]
        assert interval is not None and (interval.low, interval.high) == (0.0, 0.0)


def test_a_seeded_interval_is_reproducible_and_the_seed_matters() -> None:
    before = CaseAnswers.of(case("a", HALF)[1])
    after = CaseAnswers.of(case("a", [(0, True)] * 14 + [(1, False)] * 6)[1])
    first = bootstrap_interval(before, after, "si", seed=1, resamples=500, key="a")
    again = bootstrap_interval(before, after, "si", seed=1, resamples=500, key="a")
    other = bootstrap_interval(before, after, "si", seed=2, resamples=500, key="a")
    assert first == again
    assert first != other
    assert first is not None and first.low < 0.0 < first.high  # 0.526 -> 0.442: noise


def test_the_interval_brackets_a_known_change_of_fc() -> None:
    """FC 1.0 -> 0.5 on 20 answers: the delta's 95% interval is about -0.5 +- 0.22 (the
    binomial's), and always within [-1, 0] since the baseline never varies."""
    before = CaseAnswers.of(case("a", STABLE)[1])
    after = CaseAnswers.of(case("a", HALF)[1])
    interval = bootstrap_interval(before, after, "fc", seed=0, resamples=2000)
    assert interval is not None
    assert -0.80 < interval.low < -0.65 and -0.35 < interval.high < -0.20


def test_resampled_values_match_the_metrics_of_the_run() -> None:
    """Point values recomputed from a report's answers are the ones the run computed."""
    result, variants = case("a", [(0, True), (0, True), (1, False), (2, None)])
    point = CaseAnswers.of(variants).point()
    assert point == {"si": result.metrics.si, "fc": result.metrics.fc, "rdr": result.metrics.rdr}


# -- gating ------------------------------------------------------------------------------


def test_the_same_run_is_unchanged_and_passes() -> None:
    same = report(case("a", HALF), case("b", STABLE))
    result = compare(same, same)
    assert result.passed and not result.regressions
    assert {v for s in result.scopes for v in verdicts(s).values()} == {"unchanged"}


def test_a_large_real_change_is_gated_at_case_suite_and_run() -> None:
    result = compare(
        report(case("a", STABLE), case("b", STABLE)), report(case("a", HALF), case("b", STABLE))
    )
    a = scope(result, f"{SUITE}::a")
    si = next(m for m in a.metrics if m.metric == "si")
    assert (si.before, si.verdict, si.gated) == (0.0, "worse", True)
    assert si.after == pytest.approx(0.526316, abs=1e-6)
    assert si.interval is not None and si.interval.low > 0
    fc = next(m for m in a.metrics if m.metric == "fc")
    assert (fc.delta, fc.verdict, fc.gated) == (-0.5, "worse", True)
    rdr = next(m for m in a.metrics if m.metric == "rdr")
    assert rdr.verdict == "worse" and not rdr.gated  # shown, never gated
    assert [s.scope for s in result.regressions] == ["run", SUITE, f"{SUITE}::a"]
    assert verdicts(scope(result, f"{SUITE}::b")) == dict.fromkeys(("si", "fc", "rdr"), "unchanged")
    run_si = next(m for m in scope(result, "run").metrics if m.metric == "si")
    assert run_si.delta == pytest.approx(0.526316 / 2, abs=1e-6)  # macro average over cases
    assert not result.passed


def test_an_improvement_is_better_and_never_gated() -> None:
    result = compare(report(case("a", HALF)), report(case("a", STABLE)))
    assert verdicts(scope(result, f"{SUITE}::a"))["si"] == "better"
    assert result.passed


def test_a_change_within_tolerance_is_not_gated_even_when_strict() -> None:
    before = [(0, True)] * 39 + [(1, False)]
    after = [(0, True)] * 38 + [(1, False)] * 2  # FC -0.025 < 0.05 tolerance
    for strict in (False, True):
        assert compare(report(case("a", before)), report(case("a", after)), strict=strict).passed


def test_a_change_past_tolerance_but_within_noise_gates_only_when_strict() -> None:
    """4 answers, FC 0.75 -> 0.5: past the 0.05 tolerance, but 4 answers cannot tell."""
    before = [(0, True)] * 3 + [(1, False)]
    after = [(0, True)] * 2 + [(1, False)] * 2
    loose = compare(report(case("a", before)), report(case("a", after)))
    fc = next(m for m in scope(loose, f"{SUITE}::a").metrics if m.metric == "fc")
    assert (fc.delta, fc.verdict, fc.gated) == (-0.25, "within_noise", False)
    # one discordant answer: McNemar's p is 1; the paired interval is [-0.5, 0], since
    # no variant got better (unpaired it would reach above 0)
    assert (fc.method, fc.p_value) == ("paired-mcnemar", 1.0)
    assert fc.interval is not None and fc.interval.low < 0 and fc.interval.contains_zero()
    assert loose.passed
    unpaired = compare(report(case("a", before)), report(case("a", after)), paired=False)
    fc = next(m for m in scope(unpaired, f"{SUITE}::a").metrics if m.metric == "fc")
    assert fc.method == "unpaired-bootstrap" and fc.verdict == "within_noise"
    assert fc.interval is not None and fc.interval.low < 0 < fc.interval.high
    strict = compare(report(case("a", before)), report(case("a", after)), strict=True)
    assert not strict.passed
    assert f"{SUITE}::a" in [s.scope for s in strict.regressions]


def test_tolerances_are_per_metric() -> None:
    result = compare(report(case("a", STABLE)), report(case("a", HALF)), si_tolerance=0.9)
    metrics = {m.metric: m for m in scope(result, f"{SUITE}::a").metrics}
    assert not metrics["si"].gated and metrics["fc"].gated
    assert result.tolerances == {"si": 0.9, "fc": 0.05}


def test_a_case_without_reference_has_no_fc_to_compare() -> None:
    no_ref = [(0, None)] * 10 + [(1, None)] * 10
    result = compare(report(case("a", no_ref)), report(case("a", no_ref)))
    fc = next(m for m in scope(result, f"{SUITE}::a").metrics if m.metric == "fc")
    assert (fc.before, fc.verdict, fc.gated) == (None, "not_comparable", False)


# -- a changed suite ---------------------------------------------------------------------


def test_added_removed_and_changed_cases_are_listed_not_compared() -> None:
    before = report(case("kept", STABLE), case("gone", STABLE), case("edited", STABLE))
    after = report(case("kept", STABLE), case("new", HALF), case("edited", HALF, prompt="reworded"))
    result = compare(before, after)
    statuses = {s.scope: s.status for s in result.scopes if s.level == "case"}
    assert statuses == {
        f"{SUITE}::kept": "compared",
        f"{SUITE}::gone": "removed",
        f"{SUITE}::new": "added",
        f"{SUITE}::edited": "changed",
    }
    edited = scope(result, f"{SUITE}::edited")
    assert {m.verdict for m in edited.metrics} == {"not_comparable"}
    assert not any(m.gated for m in edited.metrics)
    assert scope(result, f"{SUITE}::new").answers_before == 0
    # the suite and run compare only the case both runs have unchanged: nothing worse
    assert scope(result, "run").answers_after == 20
    assert result.passed
    strict = compare(before, after, strict=True)
    assert [s.scope for s in strict.regressions] == [f"{SUITE}::edited"]


def test_a_case_with_fewer_variants_is_changed() -> None:
    result = compare(report(case("a", STABLE)), report(case("a", STABLE[:10])))
    assert scope(result, f"{SUITE}::a").status == "changed"


def test_a_suite_only_one_run_has_is_added_or_removed() -> None:
    before = report(case("a", STABLE), case("x", HALF, suite="suites/old.yaml"))
    after = report(case("a", STABLE), case("y", STABLE, suite="suites/new.yaml"))
    result = compare(before, after)
    assert scope(result, "suites/old.yaml").status == "removed"
    assert scope(result, "suites/new.yaml").status == "added"
    old_si = next(m for m in scope(result, "suites/old.yaml").metrics if m.metric == "si")
    assert old_si.before == pytest.approx(0.526316, abs=1e-6) and old_si.after is None


def test_the_comparison_round_trips_through_the_report(tmp_path: Path) -> None:
    from stabtest.core.report import read_report, write_report

    result = compare(report(case("a", STABLE)), report(case("a", HALF)))
    current = report(case("a", HALF)).model_copy(update={"baseline": result})
    write_report(tmp_path / "r.json", current)
    assert read_report(tmp_path / "r.json").baseline == result
    write_report(tmp_path / "plain.json", report(case("a", HALF)))
    assert '"baseline"' not in (tmp_path / "plain.json").read_text()


# -- paired tests and the false discovery rate -------------------------------------------


def test_mcnemar_exact_p_on_a_textbook_case() -> None:
    """1 and 9 discordant pairs: 2 * P(X <= 1), X ~ Bin(10, 1/2) = 2 * 11 / 1024."""
    assert mcnemar_p(1, 9) == pytest.approx(0.021484375, abs=1e-9)
    assert mcnemar_p(9, 1) == mcnemar_p(1, 9)
    assert mcnemar_p(0, 0) == 1.0 and mcnemar_p(3, 3) == 1.0
    assert mcnemar_p(0, 10) == pytest.approx(2 / 1024)


def test_benjamini_hochberg_on_worked_examples() -> None:
    # sorted 0.005 0.01 0.03 0.04 against 0.0125 0.025 0.0375 0.05: the largest p under
    # its line is the 4th, so all four are rejected (Bonferroni would keep two)
    q = benjamini_hochberg([0.01, 0.04, 0.03, 0.005])
    assert q == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert [v < 0.05 for v in q] == [True, True, True, True]
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216]
    rejected = [v < 0.05 for v in benjamini_hochberg(p)]
    assert rejected == [True, True] + [False] * 8  # 0.039 > 3 x 0.05 / 10
    assert benjamini_hochberg([]) == []


def test_the_paired_bootstrap_is_reproducible_by_seed_and_never_crosses_an_untouched_side() -> None:
    _, before = case("a", HALF)
    _, after = case("a", [(1, False)] * 4 + HALF[4:])  # two right variants turn wrong
    first = paired_bootstrap_interval(before, after, "fc", seed=1, resamples=500, key="a")
    again = paired_bootstrap_interval(before, after, "fc", seed=1, resamples=500, key="a")
    other = paired_bootstrap_interval(before, after, "fc", seed=2, resamples=500, key="a")
    assert first == again and first != other
    assert first is not None and first.high == 0.0 and first.low < -0.2  # no variant improved
    pairs = pair_variants(before, after)
    assert pairs is not None and len(pairs) == 10
    old, new = paired_resample_metrics(pairs, np.random.default_rng(0), 1)
    assert new["fc"][0] <= old["fc"][0]  # every resample draws the same variants alike


def test_the_comparison_says_which_test_it_used() -> None:
    fewer_samples = [(0, True)] * 20
    before = report(case("paired", STABLE), case("samples", STABLE), case("rejected", STABLE))
    thinned = case("samples", fewer_samples)
    thinned = (
        thinned[0],
        [replace(v, answers=v.answers[:1]) for v in thinned[1]],  # sample 1 is missing
    )
    result_b, variants_b = case("rejected", HALF)
    rejected = (result_b, [replace(variants_b[0], rejected="unreadable"), *variants_b[1:]])
    after = report(case("paired", HALF), thinned, rejected)
    result = compare(before, after)
    methods = {
        s.scope.split("::")[-1]: {m.metric: m.method for m in s.metrics} for s in result.scopes
    }
    assert methods["paired"] == {
        "si": "paired-bootstrap",
        "fc": "paired-mcnemar",
        "rdr": "paired-bootstrap",
    }
    assert methods["samples"]["fc"] == "paired-bootstrap"  # variants pair, answers do not
    assert set(methods["rejected"].values()) == {"unpaired-bootstrap"}
    assert set(methods["run"].values()) == {"mixed-bootstrap"}
    fc = next(m for m in scope(result, f"{SUITE}::paired").metrics if m.metric == "fc")
    assert fc.p_value == pytest.approx(2 / 1024, abs=1e-6)  # 10 answers right -> wrong
    assert fc.q_value is not None and fc.gated
    assert result.fdr == 0.05 and result.fdr_cases == 3 and result.fdr_tests == 6


def noisy_runs(cases: int, seed: int, regressed: str | None = None) -> tuple[RunReport, RunReport]:
    """Two runs of one model: each answer right with its case's probability, drawn again
    (another seed) for the second run; `regressed` loses 70 points of FC in the second."""
    rng = random.Random(seed)
    before, after = [], []
    for c in range(cases):
        p = rng.uniform(0.6, 0.95)
        drop = 0.7 if f"c{c}" == regressed else 0.0
        before.append(
            case(f"c{c}", [(0, True) if rng.random() < p else (1, False) for _ in range(20)])
        )
        after.append(
            case(f"c{c}", [(0, True) if rng.random() < p - drop else (1, False) for _ in range(20)])
        )
    return report(*before), report(*after)


def gated_cases(comparison: BaselineComparison) -> list[str]:
    return [s.scope.split("::")[-1] for s in comparison.regressions if s.level == "case"]


def test_many_noisy_cases_are_not_flagged_after_fdr_but_a_real_regression_is() -> None:
    before, after = noisy_runs(60, seed=7, regressed="c13")
    alone = compare(before, after, fdr=None)
    assert alone.fdr is None and len(gated_cases(alone)) > 1  # noise gates one by one
    assert "c13" in gated_cases(alone)
    corrected = compare(before, after)
    assert gated_cases(corrected) == ["c13"]
    assert (corrected.fdr, corrected.fdr_cases, corrected.fdr_tests) == (0.05, 60, 120)
    noise = [
        m
        for s in corrected.scopes
        if s.level == "case" and s.scope.split("::")[-1] in gated_cases(alone)[:-1]
        for m in s.metrics
        if m.gated is False and m.metric == "fc"
    ]
    assert noise and all(m.q_value is not None and m.q_value >= 0.05 for m in noise)
    assert compare(before, after, fdr=0.0).fdr is None  # 0 turns it off


def test_a_single_compared_case_is_not_corrected() -> None:
    result = compare(report(case("a", STABLE)), report(case("a", HALF)))
    assert result.fdr is None and result.fdr_tests == 0
    assert all(m.q_value is None for s in result.scopes for m in s.metrics)
    assert [s.scope for s in result.regressions] == ["run", SUITE, f"{SUITE}::a"]


def test_an_older_comparison_without_methods_still_reads() -> None:
    stored = compare(report(case("a", STABLE)), report(case("a", HALF))).model_dump(mode="json")
    stored.pop("fdr"), stored.pop("fdr_tests"), stored.pop("fdr_cases")
    for found in stored["scopes"]:
        for metric in found["metrics"]:
            metric.pop("method"), metric.pop("p_value"), metric.pop("q_value")
    old = BaselineComparison.model_validate(stored)
    assert old.fdr is None and old.scopes[0].metrics[0].method is None
    assert not old.passed
