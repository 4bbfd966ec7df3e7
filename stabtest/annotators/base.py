"""What every judge sees and returns.

A judge looks at all answers of one case at once (consistency is a property of the set),
and returns one `Vote` per answer. Judges belong to an *aspect*: consistency (do the
answers agree?) or correctness (is each answer right?); the ensemble votes within an aspect
and requires every aspect to pass.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from stabtest.core.embedding import Vectors
from stabtest.core.metrics import Index, Mask, first_seen, row_blocks
from stabtest.core.results import Vote
from stabtest.core.suite import Case
from stabtest.core.variant import Variant

Aspect = Literal["consistency", "correctness"]
SETTLED_MARGIN = 0.1
"""A cosine this far from the semantic threshold decides agreement beyond doubt."""


@dataclass(frozen=True)
class Answer:
    """One generated answer: which variant, which sample, what text; in a conversation,
    the (user, assistant) exchanges before it (`history`), for judges that read context."""

    variant: Variant
    sample: int
    text: str
    history: tuple[tuple[str, str], ...] = ()


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

    def relation(self) -> PairRelation:
        """`agree` and `is_settled` as one relation over groups of interchangeable answers,
        for judges that count over every pair: the ensemble's equivalence, the cosine
        default, or (custom callables) a relation that asks them pair by pair."""
        if self.agrees is None and self.settled is None:
            return CosineRelation(answer_groups(self.answers, self.vectors), self.vectors, self)
        if isinstance(self.agrees, PairRelation) and self.settled == self.agrees.settled:
            return self.agrees
        return CallbackRelation(len(self.answers), self.agree, self.is_settled)

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
        """The full n x n cosine matrix: n^2 floats, so for small cases only; the judges
        use `relation()`, which works in bounded blocks over distinct answers."""
        return np.clip(self.vectors @ self.vectors.T, -1.0, 1.0)

    def reference_similarity(self, i: int, texts: Sequence[str]) -> float | None:
        scores = [
            float(self.vectors[i] @ self.reference_vectors[t])
            for t in texts
            if t in self.reference_vectors
        ]
        return max(scores) if scores else None


class Judge(Protocol):
    """What the ensemble asks of a judge (built-in, added by a hook, or a third party's
    under the `stabtest.judges` entry points): a `name` (what its votes and a case's
    `checks` call it), an `aspect`, whether it `applies` to a case, and one vote per answer
    (or a single vote for all). Class attributes or properties both do for the two names."""

    @property
    def name(self) -> str: ...

    @property
    def aspect(self) -> Aspect: ...

    def applies(self, case: Case) -> bool: ...

    def votes(self, evidence: CaseEvidence) -> list[Vote]: ...


class PairRelation:
    """Whether answer i agrees with answer j, and whether that decision is beyond doubt,
    computed on *groups*: answers the relation cannot tell apart (same text and vector, and
    whatever else it reads, such as correctness) share a group, and a pair of groups stands
    for all the pairs of their members. Judging a case then costs pairwise work in its
    distinct answers, not its answers: 20,100 sampled answers are often a few dozen texts.

    `group[i]` is answer i's group, groups numbered by first member. `pairs(rows, cols)`
    gives the relation between the groups `rows` and `cols` (the first answer of each),
    including a group with itself. `symmetric`: agree(i, j) == agree(j, i)."""

    symmetric = True

    def __init__(self, group: Index) -> None:
        self.group = group
        self.groups = int(group.max()) + 1 if len(group) else 0
        self.size: Index = np.bincount(group, minlength=self.groups)
        self.first: Index = np.unique(group, return_index=True)[1]

    def pairs(self, rows: Index, cols: Index) -> tuple[Mask, Mask]:
        """(agree, settled), each of shape (len(rows), len(cols))."""
        raise NotImplementedError

    def agreement(self, rows: Index, cols: Index) -> Mask:
        return self.pairs(rows, cols)[0]

    def __call__(self, i: int, j: int) -> bool:
        return bool(self.agreement(self.group[[i]], self.group[[j]])[0, 0])

    def settled(self, i: int, j: int) -> bool:
        return bool(self.pairs(self.group[[i]], self.group[[j]])[1][0, 0])


def answer_groups(
    answers: Sequence[Answer], vectors: Vectors, extra: Sequence[Hashable] | None = None
) -> Index:
    """Groups of interchangeable answers: the same text, the same `extra` (what else the
    relation reads, e.g. correctness) and the very same vector. An answer whose vector
    differs from its text's first one (hand-made evidence) stays alone."""
    keys: list[Hashable] = [a.text for a in answers]
    if extra is not None:
        keys = list(zip(extra, keys, strict=True))
    group = first_seen(keys)
    first = np.unique(group, return_index=True)[1]
    alone: list[int] = []
    for block in row_blocks(len(group), vectors.shape[1]):
        same = np.all(vectors[block] == vectors[first[group[block]]], axis=1)
        alone.extend(int(i) + block.start for i in np.flatnonzero(~same))
    if not alone:
        return group
    for i in alone:
        keys[i] = ("alone", i)
    return first_seen(keys)


def cosines(vectors: Vectors, rows: Index, cols: Index) -> NDArray[np.float64]:
    """Cosines between rows and cols of L2-normalised float32 vectors, as the float32
    product gives them, in float64: compared with a threshold the way the pairwise
    `float(v_i @ v_j) >= threshold` compares them."""
    return (_take(vectors, rows) @ _take(vectors, cols).T).astype(np.float64)


def representatives(vectors: Vectors, first: Index) -> Vectors:
    """Each group's vector, contiguous float32: the answers' own array, uncopied, when
    every answer is its own group."""
    return np.ascontiguousarray(_take(vectors, first), dtype=np.float32)


def _take(vectors: Vectors, index: Index) -> Vectors:
    """Rows `index` of vectors: a view when they are consecutive (the blocks of a pass over
    all groups), so a block does not copy every vector."""
    if len(index) and index[-1] - index[0] + 1 == len(index) and np.all(np.diff(index) == 1):
        return vectors[int(index[0]) : int(index[-1]) + 1]
    return vectors[index]


class CosineRelation(PairRelation):
    """The default: agreement is cosine >= the semantic threshold, settled a cosine at least
    SETTLED_MARGIN from it (what `CaseEvidence.agree` / `cosine_settled` do pair by pair)."""

    def __init__(self, group: Index, vectors: Vectors, evidence: CaseEvidence) -> None:
        super().__init__(group)
        self.vectors = representatives(vectors, self.first)
        self.threshold = evidence.semantic_threshold

    def pairs(self, rows: Index, cols: Index) -> tuple[Mask, Mask]:
        cosine = cosines(self.vectors, rows, cols)
        return cosine >= self.threshold, np.abs(cosine - self.threshold) >= SETTLED_MARGIN


class CallbackRelation(PairRelation):
    """Custom `agrees` / `settled` callables, asked pair by pair: every answer is its own
    group, so this costs n^2 calls. The ensemble never needs it."""

    symmetric = False

    def __init__(
        self, count: int, agree: Callable[[int, int], bool], settled: Callable[[int, int], bool]
    ) -> None:
        super().__init__(np.arange(count, dtype=np.intp))
        self._agree, self._settled = agree, settled

    def __call__(self, i: int, j: int) -> bool:
        return self._agree(i, j)

    def settled(self, i: int, j: int) -> bool:
        return self._settled(i, j)

    def pairs(self, rows: Index, cols: Index) -> tuple[Mask, Mask]:
        agree = np.array([[self._agree(int(r), int(c)) for c in cols] for r in rows], dtype=bool)
        sure = np.array([[self._settled(int(r), int(c)) for c in cols] for r in rows], dtype=bool)
        return agree.reshape(len(rows), len(cols)), sure.reshape(len(rows), len(cols))
