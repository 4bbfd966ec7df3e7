"""Factual correctness against the case's reference, aliases and known-wrong answers.

The judge reads the answer's claim (stabtest.annotators.claims), then applies the first
rule that fits. Each rule's confidence is the precision that rule reached on the tune half
of the labelled set (benchmarks/data/annotation, `benchmarks/annotation_precision.py
--rules` prints them), so a confidence of 0.9 means "right about 9 times in 10":

| rule | when | vote |
|---|---|---|
| hedged | the answer hedges and names a right and another answer | abstain |
| negated | the right answer is negated ("is not Paris") | fail |
| competing | the right answer, then a contrast asserting something else | fail |
| known_wrong | the span names a known-wrong answer and no right one | fail |
| exact | the span names a right answer (no competing claim) | pass |
| later_right | a right answer only after a span that names another entity | fail |
| later | a right answer after a span that names nothing else | pass |
| number | numeric reference: the answer's final number against it | pass/fail |
| other_entity | short reference absent, the span names another entity | fail |
| absent | short reference absent from the answer | fail |
| embedding | long (open-ended) reference: closer to right or wrong answers | pass/fail |

The embedding rule's confidence depends on the margin between the answer's similarity to
the right answers and to the wrong ones: a small margin is a near coin flip and says so
(confidence near 0.5), so the ensemble escalates it instead of passing it silently.
"""

from __future__ import annotations

from stabtest.annotators.base import Aspect, CaseEvidence
from stabtest.annotators.claims import Claim, read_claim
from stabtest.core.results import Category, Vote, VoteOutcome
from stabtest.core.suite import Case
from stabtest.core.text import final_number, numbers_match, parse_number

SHORT_REFERENCE_WORDS = 4
"""A reference of at most this many words names an answer (an entity, a number); a
longer one is a statement, judged by meaning."""

# Precision of each rule on the tune half (see the module docstring).
CONFIDENCE: dict[str, float] = {
    "negated": 0.9,
    "competing": 0.85,
    "known_wrong": 0.9,
    "exact": 0.95,
    "later_right": 0.7,
    "later": 0.75,
    "number": 0.85,
    "other_entity": 0.9,
    "absent": 0.85,
}
# The embedding rule: confidence rises from 0.5 at margin 0 to EMBED_MAX at EMBED_SCALE.
EMBED_SCALE = 0.15
EMBED_MAX = 0.8
EMBED_THRESHOLD = 0.7  # similarity to the reference when no wrong answers are listed


def is_short(reference: str) -> bool:
    return len(reference.split()) <= SHORT_REFERENCE_WORDS


class ReferenceJudge:
    name = "reference"
    aspect: Aspect = "correctness"

    def applies(self, case: Case) -> bool:
        return "reference" in case.checks and case.reference is not None

    def votes(self, evidence: CaseEvidence) -> list[Vote]:
        return [self._vote(evidence, i) for i in range(len(evidence.answers))]

    def _rule(
        self, rule: str, outcome: VoteOutcome, reason: str, score: float | None = None
    ) -> Vote:
        category: Category | None = "hallucination" if outcome == "fail" else None
        confidence = 0.0 if outcome == "abstain" else CONFIDENCE[rule]
        return Vote(self.name, outcome, confidence, score, f"{reason} [{rule}]", category)

    def _vote(self, evidence: CaseEvidence, i: int) -> Vote:
        case = evidence.case
        text = evidence.answers[i].text
        reference = case.reference or ""
        right = (reference, *case.aliases)
        claim = read_claim(text, right, case.incorrect, case.prompt)
        decided = self._by_claim(claim)
        if decided is not None:
            return decided
        expected = parse_number(reference)
        if expected is not None:
            return self._by_number(text, expected, case.numeric_tolerance)
        if is_short(reference):
            if claim.other_in_span:
                return self._rule(
                    "other_entity",
                    "fail",
                    f"answers {claim.other_in_span[0]!r}, not the reference {reference!r}",
                )
            return self._rule("absent", "fail", f"does not name the reference {reference!r}")
        return self._by_embedding(evidence, i, right)

    def _by_claim(self, claim: Claim) -> Vote | None:
        if claim.right is None and claim.wrong is None:
            return None
        if claim.hedged and claim.right and (claim.wrong or claim.other_in_span):
            return self._rule("hedged", "abstain", f"hedges: {claim.hedged}")
        if claim.negated:
            return self._rule("negated", "fail", f"negates the reference: {claim.negated}")
        if claim.competing:
            return self._rule(
                "competing",
                "fail",
                f"names {claim.right!r}, then asserts something else: {claim.competing}",
            )
        if claim.wrong_in_span and not claim.right_in_span:
            return self._rule(
                "known_wrong", "fail", f"contains the wrong answer {claim.wrong_in_span!r}"
            )
        if claim.right_in_span:
            return self._rule("exact", "pass", f"contains the reference {claim.right_in_span!r}")
        if claim.right:
            if claim.other_in_span:
                return self._rule(
                    "later_right",
                    "fail",
                    f"first answers {claim.other_in_span[0]!r}; {claim.right!r} comes later",
                )
            return self._rule("later", "pass", f"names the reference {claim.right!r} later on")
        return self._rule("known_wrong", "fail", f"contains the wrong answer {claim.wrong!r}")

    def _by_number(self, text: str, expected: float, tolerance: float) -> Vote:
        got, _explicit = final_number(text)
        if got is None:
            return self._rule("number", "fail", "no number in the answer", 0.0)
        ok = numbers_match(got, expected, tolerance)
        relation = "==" if ok else "!="
        return self._rule(
            "number",
            "pass" if ok else "fail",
            f"number {got:g} {relation} reference {expected:g}",
            float(ok),
        )

    def _by_embedding(self, evidence: CaseEvidence, i: int, right: tuple[str, ...]) -> Vote:
        to_right = evidence.reference_similarity(i, right)
        if to_right is None:
            return Vote(self.name, "abstain", 0.0, None, "reference not embedded [embedding]")
        to_wrong = evidence.reference_similarity(i, evidence.case.incorrect)
        if to_wrong is not None:
            score, threshold = to_right - to_wrong, 0.0
            side = "right" if score > 0 else "wrong"
            reason = f"closer to {side} answers ({to_right:.2f} vs {to_wrong:.2f})"
        else:
            score, threshold = to_right, EMBED_THRESHOLD
            relation = ">=" if score >= threshold else "<"
            reason = f"similarity to the reference {score:.2f} {relation} {threshold:.2f}"
        passed = score > threshold if to_wrong is not None else score >= threshold
        margin = min(1.0, abs(score - threshold) / EMBED_SCALE)
        confidence = 0.5 + (EMBED_MAX - 0.5) * margin
        return Vote(
            self.name,
            "pass" if passed else "fail",
            round(confidence, 4),
            round(score, 4),
            f"{reason} [embedding]",
            None if passed else "hallucination",
        )
