"""The ensemble: judges vote, aspects combine, low confidence escalates.

Within an aspect (consistency, correctness) votes are weighted by judge weight x vote
confidence; the side with the larger weight wins, and the aspect's confidence is the
winning share times the winners' mean confidence (unanimous sure judges -> high, a split
-> low). An answer passes only if every decided aspect passes: a consistent but wrong
answer is a hallucination, a right but divergent one is still unstable. A verdict whose
confidence is below `escalate_below`, or on which no judge could decide, is `escalate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from stabtest.annotators.base import (
    SETTLED_MARGIN,
    CaseEvidence,
    Judge,
    PairRelation,
    answer_groups,
    cosines,
    representatives,
)
from stabtest.core.metrics import Index, Mask, first_seen
from stabtest.core.results import Outcome, Verdict, Vote
from stabtest.core.text import final_number, normalize


@dataclass(frozen=True)
class AspectDecision:
    aspect: str
    outcome: Outcome
    confidence: float
    votes: tuple[Vote, ...]


def decide_aspect(
    aspect: str, votes: Sequence[Vote], weights: Mapping[str, float]
) -> AspectDecision | None:
    """Weighted vote of the non-abstaining judges of one aspect; None if all abstained."""
    cast = [v for v in votes if v.outcome != "abstain" and weights.get(v.judge, 1.0) > 0]
    if not cast:
        return None
    weight = {
        side: sum(weights.get(v.judge, 1.0) * v.confidence for v in cast if v.outcome == side)
        for side in ("pass", "fail")
    }
    total = weight["pass"] + weight["fail"]
    winner: Outcome = "pass" if weight["pass"] > weight["fail"] else "fail"
    winners = [v for v in cast if v.outcome == winner]
    share = weight[winner] / total if total else 0.0
    confidence = share * sum(v.confidence for v in winners) / len(winners)
    return AspectDecision(aspect, winner, round(confidence, 4), tuple(votes))


def combine(
    decisions: Sequence[AspectDecision], votes: Sequence[Vote], escalate_below: float
) -> Verdict:
    """One verdict from the aspect decisions of one answer."""
    if not decisions:
        return Verdict("escalate", 0.0, tuple(votes), reason="no judge could decide")
    failing = [d for d in decisions if d.outcome == "fail"]
    if failing:
        # A factual failure is the more specific diagnosis: it names the category.
        worst = max(failing, key=lambda d: (d.aspect == "correctness", d.confidence))
        deciding = [v for v in worst.votes if v.outcome == "fail"]
        top = max(deciding, key=lambda v: v.confidence)
        outcome: Outcome = "fail"
        confidence = max(d.confidence for d in failing)
        category, reason = top.category, f"{top.judge}: {top.reason}"
    else:
        outcome, category = "pass", None
        confidence = min(d.confidence for d in decisions)
        reason = "; ".join(f"{v.judge}: {v.reason}" for v in votes if v.outcome == "pass")
    if confidence < escalate_below:
        return Verdict(
            "escalate",
            confidence,
            tuple(votes),
            category,
            f"confidence {confidence:.2f} < escalate_below {escalate_below:.2f}; "
            f"automatic verdict {outcome} ({reason})",
            auto_outcome=outcome,
        )
    return Verdict(outcome, confidence, tuple(votes), category, reason, auto_outcome=outcome)


@dataclass
class Ensemble:
    """Runs the judges that apply to a case and turns their votes into verdicts."""

    judges: Sequence[Judge]
    weights: Mapping[str, float] = field(default_factory=dict)
    escalate_below: float = 0.0

    def judge(self, evidence: CaseEvidence) -> tuple[list[Verdict], list[bool | None]]:
        """Verdict and correctness (None: no correctness judge decided) per answer.

        Correctness judges run first; consistency judges then see answers as agreeing by
        the same equivalence that SI uses (two right answers agree, a right and a wrong
        one never do), so verdicts and metrics never contradict each other."""
        active = [j for j in self.judges if j.applies(evidence.case)]
        n = len(evidence.answers)
        votes: dict[str, list[Vote]] = {}
        for aspect in ("correctness", "consistency"):
            for judge in (j for j in active if j.aspect == aspect):
                cast = judge.votes(evidence)
                votes[judge.name] = cast * n if len(cast) == 1 and n > 1 else cast
            if aspect == "correctness":
                correct = [self._decide(active, votes, i, "correctness") for i in range(n)]
                rights = [None if d is None else d.outcome == "pass" for d in correct]
                relation = equivalence(evidence, rights)
                evidence.agrees, evidence.settled = relation, relation.settled
        verdicts = []
        for i in range(n):
            decisions = [
                d
                for aspect in ("consistency", "correctness")
                if (d := self._decide(active, votes, i, aspect)) is not None
            ]
            verdicts.append(combine(decisions, [v[i] for v in votes.values()], self.escalate_below))
        return verdicts, rights

    def _decide(
        self, active: Sequence[Judge], votes: dict[str, list[Vote]], i: int, aspect: str
    ) -> AspectDecision | None:
        cast = [votes[j.name][i] for j in active if j.aspect == aspect and j.name in votes]
        return decide_aspect(aspect, cast, self.weights)


def equivalence(evidence: CaseEvidence, correct: Sequence[bool | None]) -> Equivalence:
    """When two answers count as the same answer for SI, RDR and the consistency judges:
    two answers judged right agree and a right and a wrong one never do; otherwise by
    final number for numeric cases, else by normalised text or embedding cosine at the
    semantic threshold. Callable as `same(i, j)`; judges count it over groups."""
    return Equivalence(evidence, correct)


def settled(evidence: CaseEvidence, correct: Sequence[bool | None]) -> Callable[[int, int], bool]:
    """Which pairwise decisions of `equivalence` are beyond doubt: those made by
    correctness, by final number, by identical normalised text, or by a cosine far from the
    threshold (see CaseEvidence.settled)."""
    return equivalence(evidence, correct).settled


class Equivalence(PairRelation):
    """`equivalence` over groups of answers with the same text, vector and correctness, in
    blocks of vectorised comparisons (see PairRelation): per pair exactly the rules above,
    with the cosine compared clipped to [-1, 1] and its settling margin unclipped, as before.

    Not symmetric for numeric cases with a tolerance: numbers_match(a, b) scales it by |b|."""

    def __init__(self, evidence: CaseEvidence, correct: Sequence[bool | None]) -> None:
        case = evidence.case
        self.numeric = case.kind == "numeric"
        self.tolerance = case.numeric_tolerance
        self.threshold = evidence.semantic_threshold
        self.symmetric = not self.numeric or self.tolerance == 0
        read: dict[str, tuple[str, float | None]] = {}
        for answer in evidence.answers:
            if answer.text not in read:
                number = final_number(answer.text)[0] if self.numeric else None
                read[answer.text] = (normalize(answer.text), number)
        extra: list[Hashable] = [
            # a number that is not finite does not match itself: such an answer stays alone
            ("alone", i) if (n := read[a.text][1]) is not None and not math.isfinite(n) else c
            for i, (a, c) in enumerate(zip(evidence.answers, correct, strict=True))
        ]
        super().__init__(answer_groups(evidence.answers, evidence.vectors, extra))
        firsts = self.first.tolist()
        reps = [evidence.answers[i].text for i in firsts]
        self.vectors = representatives(evidence.vectors, self.first)
        self.known: Mask = np.array([correct[i] is not None for i in firsts], dtype=bool)
        self.right: Mask = np.array([bool(correct[i]) for i in firsts], dtype=bool)
        self.text: Index = first_seen(read[t][0] for t in reps)
        numbers = [read[t][1] for t in reps]
        self.has_number: Mask = np.array([x is not None for x in numbers], dtype=bool)
        self.number: NDArray[np.float64] = np.array(
            [0.0 if x is None else x for x in numbers], dtype=np.float64
        )

    def pairs(self, rows: Index, cols: Index) -> tuple[Mask, Mask]:
        """(agree, settled) between groups: `same` and `sure` of the rules, vectorised."""
        cosine = cosines(self.vectors, rows, cols)
        far = np.abs(cosine - self.threshold) >= SETTLED_MARGIN
        sure = self._by_correctness(rows, cols) | self._same_text(rows, cols) | far
        if self.numeric:
            sure |= self._by_number(rows, cols)
        return self._agree(rows, cols, cosine), sure

    def agreement(self, rows: Index, cols: Index) -> Mask:
        return self._agree(rows, cols, cosines(self.vectors, rows, cols))

    def _agree(self, rows: Index, cols: Index, cosine: NDArray[np.float64]) -> Mask:
        agree = self._same_text(rows, cols) | (np.clip(cosine, -1.0, 1.0) >= self.threshold)
        if self.numeric:
            a, b = self.number[rows][:, None], self.number[cols][None, :]
            match = np.abs(a - b) <= np.maximum(self.tolerance, self.tolerance * np.abs(b))
            agree = np.where(self._by_number(rows, cols), match, agree)
        both_right = self.right[rows][:, None] & self.right[cols][None, :]
        return np.where(self._by_correctness(rows, cols), both_right, agree)

    def _by_correctness(self, rows: Index, cols: Index) -> Mask:
        """Pairs correctness decides: a right and a wrong answer, or two right ones."""
        both = self.known[rows][:, None] & self.known[cols][None, :]
        return both & (self.right[rows][:, None] | self.right[cols][None, :])

    def _same_text(self, rows: Index, cols: Index) -> Mask:
        same: Mask = self.text[rows][:, None] == self.text[cols][None, :]
        return same

    def _by_number(self, rows: Index, cols: Index) -> Mask:
        return self.has_number[rows][:, None] & self.has_number[cols][None, :]
