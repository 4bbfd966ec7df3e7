"""The ensemble: judges vote, aspects combine, low confidence escalates.

Within an aspect (consistency, correctness) votes are weighted by judge weight x vote
confidence; the side with the larger weight wins, and the aspect's confidence is the
winning share times the winners' mean confidence (unanimous sure judges -> high, a split
-> low). An answer passes only if every decided aspect passes: a consistent but wrong
answer is a hallucination, a right but divergent one is still unstable. A verdict whose
confidence is below `escalate_below`, or on which no judge could decide, is `escalate`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from stabtest.annotators.base import CaseEvidence, Judge
from stabtest.core.results import Outcome, Verdict, Vote
from stabtest.core.text import final_number, normalize, numbers_match


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
                evidence.agrees = equivalence(evidence, rights)
                evidence.settled = settled(evidence, rights)
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


def equivalence(
    evidence: CaseEvidence, correct: Sequence[bool | None]
) -> Callable[[int, int], bool]:
    """When two answers count as the same answer for SI, RDR and the consistency judges:
    two answers judged right agree and a right and a wrong one never do; otherwise by
    final number for numeric cases, else by normalised text or embedding cosine at the
    semantic threshold."""
    texts = [a.text for a in evidence.answers]
    sim = evidence.similarity()
    numeric = evidence.case.kind == "numeric"
    numbers = [final_number(t)[0] for t in texts] if numeric else []
    normal = [normalize(t) for t in texts]

    def same(i: int, j: int) -> bool:
        if correct[i] is not None and correct[j] is not None:
            if correct[i] != correct[j]:
                return False
            if correct[i]:
                return True
        a, b = (numbers[i], numbers[j]) if numeric else (None, None)
        if a is not None and b is not None:
            return numbers_match(a, b, evidence.case.numeric_tolerance)
        return normal[i] == normal[j] or float(sim[i, j]) >= evidence.semantic_threshold

    return same


def settled(evidence: CaseEvidence, correct: Sequence[bool | None]) -> Callable[[int, int], bool]:
    """Which pairwise decisions of `equivalence` are beyond doubt: those made by
    correctness, by final number, by identical normalised text, or by a cosine far from the
    threshold (see CaseEvidence.settled)."""
    numeric = evidence.case.kind == "numeric"
    numbers = [final_number(a.text)[0] for a in evidence.answers] if numeric else []
    normal = [normalize(a.text) for a in evidence.answers]

    def sure(i: int, j: int) -> bool:
        a, b = correct[i], correct[j]
        if a is not None and b is not None and (a != b or a):
            return True
        if numeric and numbers[i] is not None and numbers[j] is not None:
            return True
        return normal[i] == normal[j] or evidence.cosine_settled(i, j)

    return sure
