"""Semantic consistency: does each answer say what the other answers say?

Two answers agree when the case's answer equivalence says so (the ensemble sets it once
correctness is known: two right answers agree; otherwise same final number for numeric
cases, same normalised text, or embedding cosine at the semantic threshold). An answer
passes when it agrees with more than half of the other answers of its case; on an exact
tie, it passes when it agrees with the canonical answer (the original prompt's). The
confidence says how robust the vote is, not how large the majority (that is SI's job):
0.95 when the vote stands however the borderline pairs go (cosines within 0.1 of the
threshold that neither correctness, final number nor identical text settles), else 0.55,
which the default escalate_below sends to a person. all-MiniLM-L6-v2 scores "...is Paris." vs
"...is Lyon." at 0.75, so this judge misses single-entity contradictions: the
correctness judges cover those.

A failing answer is categorised by *where* it disagrees. Its siblings are the other
samples of the same variant (the identical prompt asked again: `samples` > 1); the rest
are the other variants' answers. It is `session_drift` when it has siblings and agrees
with no larger share of them than of the other variants' answers (or there are no other
variants): asking the same prompt again already gives something else, so the instability
is run-to-run, not caused by the rewording. It is `semantic_divergence` when it agrees
with its own siblings more than with the other variants (the wording moved the answer,
and moved it consistently), or when it has no siblings (one sample per variant). Greedy
samples are one answer, so greedy cases never drift.
"""

from __future__ import annotations

from stabtest.annotators.base import Aspect, CaseEvidence
from stabtest.core.results import Category, Vote
from stabtest.core.suite import Case

SURE = 0.95
UNSURE = 0.55


def _decides(share: float, tie_break: bool) -> bool:
    return tie_break if share == 0.5 else share > 0.5


def _robust(evidence: CaseEvidence, i: int, others: list[int], share: float) -> bool:
    """Whether the vote stands however the borderline (unsettled) pairs would go."""
    tie_break = i == evidence.canonical or evidence.agree(i, evidence.canonical)
    sure_agree = sum(evidence.agree(i, j) and evidence.is_settled(i, j) for j in others)
    unsettled = sum(not evidence.is_settled(i, j) for j in others)
    low, high = sure_agree / len(others), (sure_agree + unsettled) / len(others)
    return _decides(low, tie_break) == _decides(high, tie_break) == _decides(share, tie_break)


class SemanticJudge:
    name = "semantic"
    aspect: Aspect = "consistency"

    def applies(self, case: Case) -> bool:
        return "semantic" in case.checks

    def votes(self, evidence: CaseEvidence) -> list[Vote]:
        n = len(evidence.answers)
        if n < 2:
            return [
                Vote(self.name, "abstain", 0.0, reason="a single answer has nothing to agree with")
            ]
        sim = evidence.similarity()
        canonical = evidence.canonical
        votes = []
        for i in range(n):
            others = [j for j in range(n) if j != i]
            share = sum(evidence.agree(i, j) for j in others) / len(others)
            robust = _robust(evidence, i, others, share)
            to_canonical = 1.0 if i == canonical else float(sim[i, canonical])
            tie_break = i == canonical or evidence.agree(i, canonical)
            passed = tie_break if share == 0.5 else share > 0.5
            category, reason = None, ""
            if not passed:
                category, reason = self._diagnose(evidence, i, others)
            votes.append(
                Vote(
                    self.name,
                    "pass" if passed else "fail",
                    SURE if robust else UNSURE,
                    score=round(share, 4),
                    reason=(
                        f"agrees with {share:.0%} of the other answers; cosine to the "
                        f"original answer {to_canonical:.2f}{reason}"
                    ),
                    category=category,
                )
            )
        return votes

    @staticmethod
    def _diagnose(evidence: CaseEvidence, i: int, others: list[int]) -> tuple[Category, str]:
        """`session_drift` or `semantic_divergence` for a failing answer (see the module
        docstring), and what the reason should add."""
        index = evidence.answers[i].variant.index
        siblings = [j for j in others if evidence.answers[j].variant.index == index]
        if not siblings:
            return "semantic_divergence", ""
        across = [j for j in others if evidence.answers[j].variant.index != index]
        within = sum(evidence.agree(i, j) for j in siblings) / len(siblings)
        if across and within > sum(evidence.agree(i, j) for j in across) / len(across):
            return "semantic_divergence", f"; agrees with {within:.0%} of its own prompt's samples"
        return "session_drift", f"; drifts: agrees with {within:.0%} of its own prompt's samples"
