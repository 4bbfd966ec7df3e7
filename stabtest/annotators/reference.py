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

import re

from stabtest.annotators.base import Aspect, CaseEvidence
from stabtest.annotators.claims import Claim, read_claim
from stabtest.core.results import Category, Vote, VoteOutcome
from stabtest.core.suite import Case
from stabtest.core.text import final_number, numbers_match, parse_number

SHORT_REFERENCE_WORDS = 4
"""A reference of at most this many words names an answer (an entity, a number); a
longer one is a statement, judged by meaning."""

# Precision of each rule on the tune half of the labelled set, shrunk towards the value
# the rule was designed with when it fired rarely: (right + 2 * prior) / (votes + 2), at
# most 0.97 (`benchmarks/annotation_precision.py --half tune --rules` prints the counts).
CONFIDENCE: dict[str, float] = {
    "negated": 0.9,  # no vote on the tune half: the prior
    "competing": 0.9,  # 1/1
    "known_wrong": 0.95,  # 2/2
    "exact": 0.97,  # 18/18
    "later_right": 0.8,  # 1/1
    "later": 0.83,  # 1/1
    "number": 0.97,  # 30/30
    "other_entity": 0.97,  # 35/36
    "absent": 0.95,  # 26/27
    "polarity": 0.93,  # 1/1
    "far": 0.97,  # 42/42
    "closer_wrong": 0.92,  # 4/4
    "near_right": 0.54,  # 7/13: a coin flip, escalated by default
}
OPEN_FAR = 0.78
"""Open-ended answers less similar than this to every right answer are wrong (on the tune
half every answer labelled correct was at least 0.79 from one: all-MiniLM-L6-v2)."""


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
        return self._open(evidence, i, right)

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
        # another entity named as the answer before the right one
        first = claim.other_first if claim.right_in_span else next(iter(claim.other_in_span), None)
        if claim.right and first:
            return self._rule(
                "later_right", "fail", f"first answers {first!r}; {claim.right!r} comes later"
            )
        if claim.right_in_span:
            return self._rule("exact", "pass", f"contains the reference {claim.right_in_span!r}")
        if claim.right:
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

    def _open(self, evidence: CaseEvidence, i: int, right: tuple[str, ...]) -> Vote:
        """A long (open-ended) reference: a statement, judged by meaning. Embeddings can
        tell an answer far from every right answer (wrong, or no answer at all) but not a
        right claim from a near miss: near a right answer the vote is a weak pass that
        says so, and the ensemble escalates it."""
        reference = evidence.case.reference or ""
        flipped = _polarity_flip(reference, evidence.answers[i].text)
        if flipped is not None:
            return self._rule("polarity", "fail", flipped)
        to_right = evidence.reference_similarity(i, right)
        if to_right is None:
            return Vote(self.name, "abstain", 0.0, None, "reference not embedded [embedding]")
        to_wrong = evidence.reference_similarity(i, evidence.case.incorrect)
        if to_right < OPEN_FAR:
            reason = f"far from every right answer (similarity {to_right:.2f} < {OPEN_FAR:.2f})"
            return self._rule("far", "fail", reason, round(to_right, 4))
        if to_wrong is not None and to_wrong > to_right:
            reason = f"closer to a wrong answer ({to_wrong:.2f}) than a right one ({to_right:.2f})"
            return self._rule("closer_wrong", "fail", reason, round(to_right - to_wrong, 4))
        reason = (
            f"near a right answer (similarity {to_right:.2f}); embeddings cannot tell a right "
            f"claim from a near miss"
        )
        return self._rule("near_right", "pass", reason, round(to_right, 4))


_YES_NO = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)


def _polarity_flip(reference: str, answer: str) -> str | None:
    """A yes/no reference answered with the opposite word first."""
    ref, got = _YES_NO.match(reference), _YES_NO.match(answer)
    if ref is None or got is None or ref.group(1).lower() == got.group(1).lower():
        return None
    return f"answers {got.group(1)!r} where the reference says {ref.group(1)!r}"
