"""Factual correctness against the case's reference, aliases and known-wrong answers.

Evidence in order of strength: a known-wrong answer or a right one appears as a phrase in
the answer (normalised, whole words); a numeric reference matches the answer's number;
otherwise the embedding similarity to the right answers versus the wrong ones.
"""

from __future__ import annotations

from stabtest.annotators.base import CaseEvidence, margin_confidence
from stabtest.core.results import Vote
from stabtest.core.suite import Case
from stabtest.core.text import contains_phrase, final_number, numbers_match, parse_number


class ReferenceJudge:
    name = "reference"
    aspect = "correctness"

    def __init__(self, threshold: float = 0.7, scale: float = 0.15):
        self.threshold = threshold
        self.scale = scale

    def applies(self, case: Case) -> bool:
        return "reference" in case.checks and case.reference is not None

    def votes(self, evidence: CaseEvidence) -> list[Vote]:
        return [self._vote(evidence, i) for i in range(len(evidence.answers))]

    def _vote(self, evidence: CaseEvidence, i: int) -> Vote:
        case = evidence.case
        text = evidence.answers[i].text
        right = (case.reference or "", *case.aliases)
        hit_right = next((r for r in right if contains_phrase(text, r)), None)
        hit_wrong = next((w for w in case.incorrect if contains_phrase(text, w)), None)
        if hit_right and not hit_wrong:
            return Vote(self.name, "pass", 0.95, 1.0, f"contains the reference {hit_right!r}")
        if hit_wrong and not hit_right:
            return Vote(
                self.name,
                "fail",
                0.9,
                0.0,
                f"contains the wrong answer {hit_wrong!r}",
                "hallucination",
            )
        if hit_right and hit_wrong:
            return Vote(
                self.name,
                "abstain",
                0.0,
                None,
                f"mentions both {hit_right!r} and the wrong {hit_wrong!r}",
            )
        expected = parse_number(case.reference or "")
        if expected is not None:
            got, _explicit = final_number(text)
            if got is None:
                return Vote(self.name, "fail", 0.7, 0.0, "no number in the answer", "hallucination")
            ok = numbers_match(got, expected, case.numeric_tolerance)
            return Vote(
                self.name,
                "pass" if ok else "fail",
                0.85,
                float(ok),
                f"number {got:g} {'==' if ok else '!='} reference {expected:g}",
                None if ok else "hallucination",
            )
        return self._by_embedding(evidence, i, right)

    def _by_embedding(self, evidence: CaseEvidence, i: int, right: tuple[str, ...]) -> Vote:
        to_right = evidence.reference_similarity(i, right)
        if to_right is None:
            return Vote(self.name, "abstain", 0.0, None, "reference not embedded")
        to_wrong = evidence.reference_similarity(i, evidence.case.incorrect)
        if to_wrong is not None:
            score = to_right - to_wrong
            passed = score > 0
            confidence = margin_confidence(score, 0.0, self.scale)
            side = "right" if passed else "wrong"
            reason = f"closer to {side} answers ({to_right:.2f} vs {to_wrong:.2f})"
        else:
            score = to_right
            passed = score >= self.threshold
            confidence = margin_confidence(score, self.threshold, self.scale)
            relation = ">=" if passed else "<"
            reason = f"similarity to reference {score:.2f} {relation} {self.threshold:.2f}"
        # Embeddings are weak evidence of truth: never as sure as an exact match.
        confidence = min(confidence, 0.8)
        return Vote(
            self.name,
            "pass" if passed else "fail",
            confidence,
            round(score, 4),
            reason,
            None if passed else "hallucination",
        )
