"""What every judge sees and returns.

A judge looks at all answers of one case at once (consistency is a property of the set),
and returns one `Vote` per answer. Judges belong to an *aspect*: consistency (do the
answers agree?) or correctness (is each answer right?); the ensemble votes within an aspect
and requires every aspect to pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from stabtest.core.embedding import Vectors
from stabtest.core.results import Vote
from stabtest.core.suite import Case
from stabtest.core.variant import Variant

Aspect = Literal["consistency", "correctness"]
SETTLED_MARGIN = 0.1
"""A cosine this far from the semantic threshold decides agreement beyond doubt."""


@dataclass(frozen=True)
class Answer:
    """One generated answer: which variant, which sample, what text."""

    variant: Variant
    sample: int
    text: str


@dataclass
class CaseEvidence:
    """All answers of a case with their embeddings (rows L2-normalised) and the
    embeddings of the case's reference texts."""

    case: Case
    answers: Sequence[Answer]
    vectors: Vectors
    reference_vectors: dict[str, Vectors] = field(default_factory=dict)
    semantic_threshold: float = 0.8
    agrees: Callable[[int, int], bool] | None = None
    """Answer equivalence set by the ensemble once correctness is known; by default,
    embedding cosine at the semantic threshold."""

    settled: Callable[[int, int], bool] | None = None
    """Whether answers i and j agree (or not) beyond doubt: decided by correctness, final
    number or identical text, or by a cosine at least SETTLED_MARGIN from the threshold.
    Set by the ensemble with `agrees`; by default, by the cosine margin alone."""

    def is_settled(self, i: int, j: int) -> bool:
        if self.settled is not None:
            return self.settled(i, j)
        return self.cosine_settled(i, j)

    def cosine_settled(self, i: int, j: int) -> bool:
        cosine = float(self.vectors[i] @ self.vectors[j])
        return abs(cosine - self.semantic_threshold) >= SETTLED_MARGIN

    def agree(self, i: int, j: int) -> bool:
        if self.agrees is not None:
            return self.agrees(i, j)
        return float(self.vectors[i] @ self.vectors[j]) >= self.semantic_threshold

    @property
    def canonical(self) -> int:
        """The answer to the original prompt (v0, first sample)."""
        for i, answer in enumerate(self.answers):
            if answer.variant.index == 0:
                return i
        return 0

    def similarity(self) -> Vectors:
        return np.clip(self.vectors @ self.vectors.T, -1.0, 1.0)

    def reference_similarity(self, i: int, texts: Sequence[str]) -> float | None:
        scores = [
            float(self.vectors[i] @ self.reference_vectors[t])
            for t in texts
            if t in self.reference_vectors
        ]
        return max(scores) if scores else None


class Judge(Protocol):
    name: str
    aspect: Aspect

    def applies(self, case: Case) -> bool: ...

    def votes(self, evidence: CaseEvidence) -> list[Vote]: ...


def margin_confidence(score: float, threshold: float, scale: float) -> float:
    """0.5 at the threshold, rising linearly to 1.0 at `scale` away from it: a score far
    from the decision boundary is a confident vote."""
    return 0.5 + 0.5 * min(1.0, abs(score - threshold) / scale)
