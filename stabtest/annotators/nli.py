"""Correctness of open-ended answers by meaning, read by an NLI / cross-encoder model
(`--stab-nli-model`): does the answer entail a right answer, entail a known-wrong one, or
contradict the reference?

Embeddings tell an answer far from every right answer but not a right claim from a near
miss ("You will digest the seeds" sits close to "You will not digest the seeds"); an NLI
model reads the claim. The judge applies to cases whose reference is a statement (more
than SHORT_REFERENCE_WORDS words): short references name an entity or a number, which the
reference judge's rules read exactly.

Rules, for premise = the answer and hypotheses = the case's right answers (reference and
aliases) and its known-wrong ones, with p the model's probability and t `threshold`:

| rule | when | vote |
|---|---|---|
| entails_wrong | p(entails a wrong answer) >= t, above p(entails a right one) | fail |
| contradicts | p(contradicts the reference) >= t | fail |
| entails_right | p(entails a right answer) >= t | pass |
| (none) | nothing reaches t | abstain |

A model without an entailment output (a two-way "contradiction or not" classifier) only
ever fails answers or abstains. The vote's confidence is the probability that decided
it, clipped to [0.5, 0.95]: a model's score is evidence, not certainty.
"""

from __future__ import annotations

from stabtest.annotators.base import Aspect, CaseEvidence
from stabtest.annotators.reference import is_short
from stabtest.core.nli import PairClassifier
from stabtest.core.results import Category, Vote, VoteOutcome
from stabtest.core.suite import Case


def _confidence(probability: float) -> float:
    return round(min(0.95, max(0.5, probability)), 4)


class NLIJudge:
    name = "nli"
    aspect: Aspect = "correctness"

    def __init__(self, classifier: PairClassifier, threshold: float = 0.5):
        self.classifier = classifier
        self.threshold = threshold

    def applies(self, case: Case) -> bool:
        reference = case.reference
        return "reference" in case.checks and reference is not None and not is_short(reference)

    def votes(self, evidence: CaseEvidence) -> list[Vote]:
        case = evidence.case
        right = [t for t in (case.reference or "", *case.aliases) if t]
        wrong = list(case.incorrect)
        hypotheses = [*right, *wrong]
        texts = list(dict.fromkeys(a.text for a in evidence.answers))
        pairs = [(text, h) for text in texts for h in hypotheses]
        scores = self.classifier.classify(pairs).reshape(len(texts), len(hypotheses), -1)
        labels = self.classifier.labels
        by_text = {text: self._vote(scores[i], labels, len(right)) for i, text in enumerate(texts)}
        return [by_text[a.text] for a in evidence.answers]

    def _vote(self, scores: object, labels: tuple[str, ...], rights: int) -> Vote:
        import numpy as np

        table = np.asarray(scores)

        def column(label: str, rows: slice) -> float:
            if label not in labels or table[rows].size == 0:
                return 0.0
            return float(table[rows, labels.index(label)].max())

        t = self.threshold
        right_rows, wrong_rows = slice(0, rights), slice(rights, None)
        entails_right = column("entailment", right_rows)
        entails_wrong = column("entailment", wrong_rows)
        contradicts = column("contradiction", slice(0, 1))
        if entails_wrong >= t and entails_wrong > entails_right:
            reason = f"entails a known-wrong answer (p {entails_wrong:.2f}) [entails_wrong]"
            return self._cast("fail", entails_wrong, reason)
        if contradicts >= t:
            reason = f"contradicts the reference (p {contradicts:.2f}) [contradicts]"
            return self._cast("fail", contradicts, reason)
        if entails_right >= t:
            reason = f"entails a right answer (p {entails_right:.2f}) [entails_right]"
            return self._cast("pass", entails_right, reason)
        best = max(entails_right, contradicts)
        return Vote(self.name, "abstain", 0.0, round(best, 4), f"no relation reaches p {t:.2f}")

    def _cast(self, outcome: VoteOutcome, probability: float, reason: str) -> Vote:
        category: Category | None = "hallucination" if outcome == "fail" else None
        return Vote(
            self.name,
            outcome,
            _confidence(probability),
            round(probability, 4),
            reason,
            category,
        )
