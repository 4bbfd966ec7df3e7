"""Judge one case: evidence in; verdicts, correctness, clusters and metrics out.

Pure: no model, cache or session. The ensemble's judges vote, a human label (when the
gold store has one for the very same answer) replaces the automatic verdict, and the
answers are clustered by the same equivalence the consistency judges used, so verdicts
and metrics never contradict each other. The pairwise work runs on groups of identical
answers in bounded blocks (`Equivalence`, `cluster_grouped`), so a case of 20,100 sampled
answers with few distinct texts judges in about the time of its answers, not their pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stabtest.annotators.base import CaseEvidence
from stabtest.annotators.ensemble import Ensemble, equivalence
from stabtest.core.metrics import case_metrics, cluster_grouped
from stabtest.core.results import CaseMetrics, GoldLabel, Verdict


@dataclass(frozen=True)
class CaseJudgement:
    """Per answer (in evidence order): verdict, correctness (None: undecided), cluster."""

    verdicts: tuple[Verdict, ...]
    correct: tuple[bool | None, ...]
    clusters: tuple[int, ...]
    metrics: CaseMetrics


def judge_case(
    evidence: CaseEvidence,
    ensemble: Ensemble,
    labels: Sequence[GoldLabel | None] = (),
) -> CaseJudgement:
    """`labels[i]` is the human label of answer i, if any."""
    verdicts, correct = ensemble.judge(evidence)
    for i, label in enumerate(labels):
        if label is not None:
            verdicts[i], correct[i] = human_verdict(label, verdicts[i], correct[i])
    clusters = cluster_grouped(equivalence(evidence, correct))
    wordings = [answer.variant.index for answer in evidence.answers]
    return CaseJudgement(
        tuple(verdicts),
        tuple(correct),
        tuple(clusters),
        case_metrics(clusters, correct, wordings),
    )


def human_verdict(
    label: GoldLabel, verdict: Verdict, correct: bool | None
) -> tuple[Verdict, bool | None]:
    """A human label replaces the automatic verdict of the same answer. The automatic
    outcome is kept as `auto_outcome` for Annotation Precision: `escalate` when the ensemble
    escalated, so AP, like the gold store's and calibration's, counts only verdicts the
    machine actually issued."""
    if label.outcome is None:
        return verdict, correct
    rationale = f": {label.rationale}" if label.rationale else ""
    human = Verdict(
        label.outcome,
        1.0,
        verdict.votes,
        verdict.category if label.outcome == "fail" else None,
        f"human label ({label.annotator or 'annotator'}){rationale}",
        source="human",
        auto_outcome=verdict.outcome,
    )
    return human, label.correct if label.correct is not None else correct
