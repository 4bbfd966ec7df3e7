"""Contradictions: an answer that contradicts itself, or denies the reference.

Votes `fail` with a reason quoting both parts, else `abstain` (finding no contradiction is
no evidence that an answer is right). Rules, no model:

- yes/no flip: the answer opens with "Yes" and a later sentence opens with "No" (or the
  reverse);
- two final answers: "the answer is 5" ... "the answer is 7";
- a claim taken back: the first sentence's answer, then a contrast ("but", "however",
  "actually") asserting another answer or denying it;
- the reference denied: "is not Paris", "Paris is not the capital".

Aspect *correctness*: a self-contradicting answer cannot be a right one. Category
`hallucination`, or `reasoning_breakdown` for two final numbers.
"""

from __future__ import annotations

import re

from stabtest.annotators.base import Aspect, CaseEvidence
from stabtest.annotators.claims import quote, read_claim, sentences
from stabtest.core.results import Category, Vote
from stabtest.core.suite import Case
from stabtest.core.text import NUMBER, digits, parse_number

CONFIDENCE = 0.85
_YES = re.compile(r"^(?:yes|yeah|correct|true)\b", re.IGNORECASE)
_NO = re.compile(r"^(?:no|nope|incorrect|false)\b", re.IGNORECASE)
_ANSWER_IS = re.compile(
    r"\b(?:final answer|the answer)\s*(?:is|:|=)\s*[$]?\s*(-?\d[\d,]*(?:\.\d+)?)", re.IGNORECASE
)


class ContradictionJudge:
    name = "contradiction"
    aspect: Aspect = "correctness"

    def applies(self, case: Case) -> bool:
        if "contradiction" in case.checks:
            return True
        return case.reference is not None and bool({"reference", "numeric"} & set(case.checks))

    def votes(self, evidence: CaseEvidence) -> list[Vote]:
        case = evidence.case
        right = (case.reference, *case.aliases) if case.reference else ()
        return [self._vote(answer.text, case, tuple(right)) for answer in evidence.answers]

    def _vote(self, text: str, case: Case, right: tuple[str, ...]) -> Vote:
        found = _yes_no_flip(text) or _two_answers(text) or _taken_back(text, case, right)
        if found is None:
            return Vote(self.name, "abstain", 0.0, None, "no contradiction found")
        reason, category = found
        return Vote(self.name, "fail", CONFIDENCE, None, reason, category)


Found = tuple[str, Category]


def _yes_no_flip(text: str) -> Found | None:
    parts = sentences(text)
    if len(parts) < 2:
        return None
    first = parts[0]
    opposite = _NO if _YES.match(first) else _YES if _NO.match(first) else None
    if opposite is None:
        return None
    later = next((s for s in parts[1:] if opposite.match(s)), None)
    if later is None:
        return None
    return f"says {quote(first)}, then {quote(later)}", "hallucination"


def _two_answers(text: str) -> Found | None:
    stated = [m for m in _ANSWER_IS.finditer(digits(text))]
    values = {parse_number(m.group(1)) for m in stated}
    if len(values) < 2 or not NUMBER.search(text):
        return None
    first, last = stated[0].group(0), stated[-1].group(0)
    return f"two final answers: {quote(first)} and {quote(last)}", "reasoning_breakdown"


def _taken_back(text: str, case: Case, right: tuple[str, ...]) -> Found | None:
    claim = read_claim(text, right, case.incorrect, case.prompt)
    if claim.negated:
        return f"denies the reference {case.reference!r}: {claim.negated}", "hallucination"
    if claim.competing and claim.right:
        return (
            f"answers {claim.right!r}, then takes it back: {claim.competing}",
            "hallucination",
        )
    return None
