"""Numeric final-answer check for arithmetic (GSM8K-style) cases.

The final number is the one after an explicit marker ("####", "the answer is", boxed) or
else the last number in the answer; an explicit marker makes a more confident vote.
"""

from __future__ import annotations

from stabtest.annotators.base import Aspect, CaseEvidence
from stabtest.core.results import Vote
from stabtest.core.suite import Case
from stabtest.core.text import final_number, numbers_match, parse_number


class NumericJudge:
    name = "numeric"
    aspect: Aspect = "correctness"

    def applies(self, case: Case) -> bool:
        return "numeric" in case.checks and parse_number(case.reference or "") is not None

    def votes(self, evidence: CaseEvidence) -> list[Vote]:
        expected = parse_number(evidence.case.reference or "")
        assert expected is not None
        votes = []
        for answer in evidence.answers:
            got, explicit = final_number(answer.text)
            if got is None:
                votes.append(
                    Vote(
                        self.name,
                        "fail",
                        0.75,
                        None,
                        "no final number in the answer",
                        "reasoning_breakdown",
                    )
                )
                continue
            ok = numbers_match(got, expected, evidence.case.numeric_tolerance)
            votes.append(
                Vote(
                    self.name,
                    "pass" if ok else "fail",
                    0.95 if explicit else 0.9,
                    float(got),
                    f"final number {got:g} {'==' if ok else '!='} expected {expected:g}",
                    None if ok else "reasoning_breakdown",
                )
            )
        return votes
