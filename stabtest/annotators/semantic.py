"""Semantic consistency: does each answer say the same as the others?

Score of answer i = mean of (cosine to the canonical answer) and (mean cosine to every
other answer). all-MiniLM-L6-v2 scores "…is Paris." vs "…is Lyon." at 0.75, so this judge
alone misses contradictions of a single entity: the correctness judges cover those.
"""

from __future__ import annotations

from stabtest.annotators.base import CaseEvidence, margin_confidence
from stabtest.core.results import Vote
from stabtest.core.suite import Case


class SemanticJudge:
    name = "semantic"
    aspect = "consistency"

    def __init__(self, scale: float = 0.15):
        self.scale = scale

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
        threshold = evidence.semantic_threshold
        votes = []
        for i in range(n):
            others = [float(sim[i, j]) for j in range(n) if j != i]
            pairwise = sum(others) / len(others)
            to_canonical = pairwise if i == canonical else float(sim[i, canonical])
            score = (to_canonical + pairwise) / 2
            passed = score >= threshold
            votes.append(
                Vote(
                    self.name,
                    "pass" if passed else "fail",
                    margin_confidence(score, threshold, self.scale),
                    score=round(score, 4),
                    reason=(
                        f"similarity {score:.2f} {'>=' if passed else '<'} {threshold:.2f} "
                        f"(to original answer {to_canonical:.2f}, to all {pairwise:.2f})"
                    ),
                    category=None if passed else "semantic_divergence",
                )
            )
        return votes
