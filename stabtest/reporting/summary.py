"""Aggregate case and variant results into suite and run summaries.

Suite and run SI, FC, RDR and pass rate are macro averages over cases (every case counts the same,
however many variants it has); AP is computed over every answer a human has labelled;
PDR per adversarial family as stabtest.core.pdr defines it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from stabtest.core.metrics import agreement, mean
from stabtest.core.pdr import attack_summaries
from stabtest.core.results import CaseResult, RunSummary, VariantResult


def human_pairs(variants: Iterable[VariantResult]) -> list[tuple[str | None, str | None]]:
    """(automatic, human) outcome pairs of every human-labelled answer."""
    return [
        (a.verdict.auto_outcome, a.verdict.outcome)
        for v in variants
        for a in v.answers
        if a.verdict.source == "human"
    ]


def judge_pairs(
    variants: Iterable[VariantResult],
) -> dict[str, list[tuple[str | None, str | None]]]:
    """Per judge: (judge vote, human outcome) pairs of every human-labelled answer."""
    pairs: dict[str, list[tuple[str | None, str | None]]] = {}
    for variant in variants:
        for answer in variant.answers:
            if answer.verdict.source != "human":
                continue
            for vote in answer.verdict.votes:
                pairs.setdefault(vote.judge, []).append((vote.outcome, answer.verdict.outcome))
    return pairs


def summarize(cases: Sequence[CaseResult], variants: Sequence[VariantResult]) -> RunSummary:
    judged = [v for v in variants if not v.rejected]
    per_judge = {judge: agreement(pairs) for judge, pairs in judge_pairs(judged).items()}
    ensemble = agreement(human_pairs(judged))
    return RunSummary(
        cases=len(cases),
        cases_failed=sum(not c.passed for c in cases),
        variants=len(judged),
        variants_failed=sum(v.outcome == "fail" for v in judged),
        escalated=sum(v.outcome == "escalate" for v in judged),
        si=mean(c.metrics.si for c in cases),
        fc=mean(c.metrics.fc for c in cases),
        rdr=mean(c.metrics.rdr for c in cases),
        si_within=mean(c.metrics.si_within for c in cases),
        si_between=mean(c.metrics.si_between for c in cases),
        pass_rate=mean(c.metrics.pass_rate for c in cases),
        ap=ensemble.ap,
        ap_per_judge={judge: figures.ap for judge, figures in per_judge.items()},
        human_labelled=len(human_pairs(judged)),
        agreement=ensemble,
        agreement_per_judge=per_judge,
        **challenge_totals(cases),
        **evidence_totals(cases),
        adversarial=attack_summaries(judged),
    )


def challenge_totals(cases: Sequence[CaseResult]) -> dict[str, Any]:
    """Flip rate (mean over challenged cases), flips and correct->wrong flips (sums);
    nothing when no case was challenged, so a run without challenges reads as before."""
    challenged = [c.metrics for c in cases if c.metrics.flips is not None]
    if not challenged:
        return {}
    return {
        "flip_rate": mean(m.flip_rate for m in challenged),
        "flips": sum(m.flips or 0 for m in challenged),
        "correct_to_wrong": sum(m.correct_to_wrong or 0 for m in challenged),
    }


def evidence_totals(cases: Sequence[CaseResult]) -> dict[str, Any]:
    """Failure-to-update rate (mean over the cases with a thread wrong before the
    evidence), first wrong, updated, failed to update and right->wrong (sums); nothing
    when no case had an evidence probe."""
    probed = [c.metrics for c in cases if c.metrics.evidence_threads is not None]
    if not probed:
        return {}
    return {
        "update_failure_rate": mean(m.update_failure_rate for m in probed),
        "first_wrong": sum(m.first_wrong or 0 for m in probed),
        "updated": sum(m.updated or 0 for m in probed),
        "failed_to_update": sum(m.failed_to_update or 0 for m in probed),
        "evidence_right_to_wrong": sum(m.evidence_right_to_wrong or 0 for m in probed),
    }


def by_suite(
    cases: Sequence[CaseResult], variants: Sequence[VariantResult]
) -> dict[str, RunSummary]:
    suites = sorted({c.suite for c in cases} | {v.suite for v in variants})
    return {
        suite: summarize(
            [c for c in cases if c.suite == suite], [v for v in variants if v.suite == suite]
        )
        for suite in suites
    }
