"""Semantic consistency: does each answer say what the other answers say?

Two answers agree when the case's answer equivalence says so (the ensemble sets it once
correctness is known: two right answers agree; otherwise same final number for numeric
cases, same normalised text, or embedding cosine at the semantic threshold). An answer
passes when it agrees with more than half of the other answers of its case; on an exact
tie, it passes when it agrees with the canonical answer (the original prompt's). The
confidence grows with the majority's size. all-MiniLM-L6-v2 scores "...is Paris." vs
"...is Lyon." at 0.75, so this judge misses single-entity contradictions: the
correctness judges cover those.
"""

from __future__ import annotations

from stabtest.annotators.base import CaseEvidence
from stabtest.core.results import Vote
from stabtest.core.suite import Case


class SemanticJudge:
    name = "semantic"
    aspect = "consistency"

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
            to_canonical = 1.0 if i == canonical else float(sim[i, canonical])
            tie_break = i == canonical or evidence.agree(i, canonical)
            passed = tie_break if share == 0.5 else share > 0.5
            votes.append(
                Vote(
                    self.name,
                    "pass" if passed else "fail",
                    round(0.5 + abs(share - 0.5), 4),
                    score=round(share, 4),
                    reason=(
                        f"agrees with {share:.0%} of the other answers; cosine to the "
                        f"original answer {to_canonical:.2f}"
                    ),
                    category=None if passed else "semantic_divergence",
                )
            )
        return votes
