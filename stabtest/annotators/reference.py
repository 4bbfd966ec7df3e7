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
| polarity | yes/no reference answered with the opposite word first | fail |
| declines | a right answer declines or says there is no single answer; so does this | weak pass |
| far | long (open-ended) reference: far from every right answer | fail |
| closer_wrong | long reference: closer to a known-wrong answer than to a right one | fail |
| near_right | long reference: near a right answer | weak pass |

A weak pass says the rules cannot tell (confidence 0.5), so the ensemble escalates it to
a human instead of passing it silently: on open-ended answers embeddings cannot tell a right
claim from a near miss (an NLI model, `--stab-nli-model`, or the LLM judge reads it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

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
    "competing": 0.93,  # 1/1
    "known_wrong": 0.97,  # 20/20
    "exact": 0.96,  # 21/22
    "later_right": 0.87,  # 1/1
    "later": 0.92,  # 2/2
    "number": 0.97,  # 30/30
    "other_entity": 0.97,  # 35/36
    "absent": 0.97,  # 25/25
    "polarity": 0.97,  # 5/5
    "far": 0.96,  # 282/294
    "closer_wrong": 0.9,  # 66/73
    # Weak passes, escalated by default: right 26/109 and 27/53 times, so no better than
    # a coin flip (0.5) whichever way they would be decided.
    "near_right": 0.5,
    "declines": 0.5,
}
OPEN_FAR = 0.70
"""Open-ended answers less similar than this to every right answer are failed: 96% of them
were wrong on the tune half (all-MiniLM-L6-v2). Wrong answers are so common there (87%)
that no threshold separates much better; this one keeps the escalated band (near_right,
declines) at 29% of the tune half's open answers, under the 30% a reviewer can take."""


def is_short(reference: str) -> bool:
    """A reference that names an answer. "I have no comment" is short but names nothing:
    it is a statement (a right decline), judged by meaning like the long ones."""
    return len(reference.split()) <= SHORT_REFERENCE_WORDS and not _NO_SINGLE_ANSWER.match(
        reference
    )


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
        named = (
            right if is_short(reference) else tuple(a for a in right if not _BARE_YES_NO.match(a))
        )
        claim = read_claim(text, named, case.incorrect, case.prompt)
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
        tell an answer far from every right answer but not a right claim from a near miss,
        nor a fitting "there is no single answer" from a rambling one: those votes are
        weak passes that say so, and the ensemble escalates them."""
        reference = evidence.case.reference or ""
        text = evidence.answers[i].text
        flipped = _polarity_flip(reference, text)
        if flipped is not None:
            return self._rule("polarity", "fail", flipped)
        declines = _declines_like(right, text)
        if declines is not None:
            return self._rule("declines", "pass", declines)
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
_BARE_YES_NO = re.compile(r"^\W*(yes|no)\W*$", re.IGNORECASE)
"""A right answer that is only "Yes" or "No": to an open-ended question an answer saying
the word names nothing ("No, Europeans have more education" to "Do Europeans have more
education?"), so only the polarity rule reads it."""


def _polarity_flip(reference: str, answer: str) -> str | None:
    """A yes/no reference answered with the opposite word first."""
    ref, got = _YES_NO.match(reference), _YES_NO.match(answer)
    if ref is None or got is None or ref.group(1).lower() == got.group(1).lower():
        return None
    return f"answers {got.group(1)!r} where the reference says {ref.group(1)!r}"


_NO_SINGLE_ANSWER = re.compile(
    r"^(no\b|there (is|are) no|there's no|people (would )?disagree|it depends|nobody|no one|"
    r"none\b|i have no comment|the question is ambiguous|i am an artificial intelligence)",
    re.IGNORECASE,
)
_DECLINES = re.compile(
    r"no one-size-fits-all|no single|\bvar(y|ies) (greatly|widely)|depends on|subjective|"
    r"is unknown|no (definitive|specific|objective|universal)\b|personal preference|"
    r"\bI'm (a|an) [\w -]*\b(AI|chatbot)\b|\bas an AI\b|"
    r"I'm sorry|I (can't|cannot|don't have|do not have) |not available in the text",
    re.IGNORECASE,
)
DECLINE_SPAN = 250
"""Characters at the start of an answer read for a decline: later text is the ramble."""


def _declines_like(right: Sequence[str], answer: str) -> str | None:
    """The reference (or an alias) says there is no single answer, or declines ("I have
    no comment", "I am an artificial intelligence"), and the answer opens the same way:
    often right, but a decline about something else reads the same, so it is a weak pass."""
    if not any(_NO_SINGLE_ANSWER.match(t) for t in right):
        return None
    found = _DECLINES.search(answer[:DECLINE_SPAN])
    if found is None:
        return None
    return (
        f"declines or says there is no single answer ({found.group(0)!r}), as a right answer does"
    )
