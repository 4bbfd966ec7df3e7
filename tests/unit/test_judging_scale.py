"""Judging a large sampled case: the grouped, blocked pairwise work gives exactly what the
straightforward pairwise rules give, and grows with the distinct answers, not their pairs.

The reference below is the pairwise implementation the blocked one replaced, kept verbatim
in spirit: `same` / `sure` per pair, the semantic vote per answer over every other answer,
`cluster` asking every pair. Vectors have dyadic components (multiples of 1/4), so every
cosine is exact in float32 whatever the order of a product: both sides see the same
numbers and the comparison is of the rules, not of rounding.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

import stabtest.annotators.base as base
import stabtest.annotators.ensemble as ensemble_module
import stabtest.core.metrics as metrics
from stabtest.annotators.base import SETTLED_MARGIN, Answer, CallbackRelation, CaseEvidence
from stabtest.annotators.ensemble import Ensemble, equivalence
from stabtest.annotators.judging import judge_case
from stabtest.annotators.reference import ReferenceJudge
from stabtest.annotators.semantic import SURE, UNSURE, SemanticJudge
from stabtest.core.embedding import Vectors
from stabtest.core.metrics import Index, case_metrics, cluster, cluster_grouped
from stabtest.core.results import Category, Vote
from stabtest.core.suite import Case
from stabtest.core.text import final_number, normalize, numbers_match
from stabtest.core.variant import Variant

Pair = Callable[[int, int], bool]
Drawn = tuple[CaseEvidence, list[bool | None]]
FACT = Case(id="fr", prompt="What is the capital of France?", reference="Paris")
TEXTS = (
    "Paris.",
    "paris",  # the same normalised text as "Paris."
    "The capital is Paris.",
    "Lyon.",
    "It is Lyon, I think.",
    "The answer is 100.",
    "100",
    "111",
    "110.5",
    "The answer is 12.",
    "12.0000001",
    "",
)
DIRECTIONS = (
    (1.0, 0.0, 0.0),
    (0.75, 0.5, 0.0),
    (0.5, 0.75, 0.25),
    (0.0, 1.0, 0.0),
    (0.75, 0.25, 0.5),
    (0.0, 0.0, 0.0),  # a zero vector agrees with nothing, not even itself, by cosine
    (1.0, 0.25, 0.0),
)


# -- the pairwise reference ---------------------------------------------------------------
def reference_same(evidence: CaseEvidence, correct: Sequence[bool | None]) -> Pair:
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


def reference_sure(evidence: CaseEvidence, correct: Sequence[bool | None]) -> Pair:
    numeric = evidence.case.kind == "numeric"
    numbers = [final_number(a.text)[0] for a in evidence.answers] if numeric else []
    normal = [normalize(a.text) for a in evidence.answers]

    def sure(i: int, j: int) -> bool:
        a, b = correct[i], correct[j]
        if a is not None and b is not None and (a != b or a):
            return True
        if numeric and numbers[i] is not None and numbers[j] is not None:
            return True
        cosine = float(evidence.vectors[i] @ evidence.vectors[j])
        return normal[i] == normal[j] or abs(cosine - evidence.semantic_threshold) >= SETTLED_MARGIN

    return sure


def _decides(share: float, tie_break: bool) -> bool:
    return tie_break if share == 0.5 else share > 0.5


def reference_votes(evidence: CaseEvidence) -> list[Vote]:
    """SemanticJudge.votes as it was: every answer against every other, pair by pair."""
    n = len(evidence.answers)
    if n < 2:
        return [
            Vote("semantic", "abstain", 0.0, reason="a single answer has nothing to agree with")
        ]
    sim, canonical = evidence.similarity(), evidence.canonical
    votes = []
    for i in range(n):
        others = [j for j in range(n) if j != i]
        share = sum(evidence.agree(i, j) for j in others) / len(others)
        tie_break = i == canonical or evidence.agree(i, canonical)
        sure_agree = sum(evidence.agree(i, j) and evidence.is_settled(i, j) for j in others)
        unsettled = sum(not evidence.is_settled(i, j) for j in others)
        low, high = sure_agree / len(others), (sure_agree + unsettled) / len(others)
        robust = _decides(low, tie_break) == _decides(high, tie_break) == _decides(share, tie_break)
        to_canonical = 1.0 if i == canonical else float(sim[i, canonical])
        passed = _decides(share, tie_break)
        category: Category | None = None
        reason = ""
        if not passed:
            category, reason = reference_diagnose(evidence, i, others)
        votes.append(
            Vote(
                "semantic",
                "pass" if passed else "fail",
                SURE if robust else UNSURE,
                score=round(share, 4),
                reason=(
                    f"agrees with {share:.0%} of the other answers; cosine to the "
                    f"original answer {to_canonical:.2f}{reason}"
                ),
                category=category,
            )
        )
    return votes


def reference_diagnose(evidence: CaseEvidence, i: int, others: list[int]) -> tuple[Category, str]:
    index = evidence.answers[i].variant.index
    siblings = [j for j in others if evidence.answers[j].variant.index == index]
    if not siblings:
        return "semantic_divergence", ""
    across = [j for j in others if evidence.answers[j].variant.index != index]
    within = sum(evidence.agree(i, j) for j in siblings) / len(siblings)
    if across and within > sum(evidence.agree(i, j) for j in across) / len(across):
        return "semantic_divergence", f"; agrees with {within:.0%} of its own prompt's samples"
    return "session_drift", f"; drifts: agrees with {within:.0%} of its own prompt's samples"


# -- random small cases -------------------------------------------------------------------
@st.composite
def cases(draw: st.DrawFn) -> Drawn:
    """Up to 30 answers over up to 5 variants, drawn from a few texts (duplicates, equal
    normalised texts, numbers), each text usually with one vector and sometimes another;
    correctness per answer (a human label can differ between identical answers)."""
    numeric = draw(st.booleans())
    case = Case(
        id="n" if numeric else "f",
        prompt="What is 50 + 50?" if numeric else FACT.prompt,
        kind="numeric" if numeric else "fact",
        numeric_tolerance=draw(st.sampled_from([0.0, 1e-6, 0.1])),
    )
    layout = draw(st.lists(st.integers(1, 6), min_size=1, max_size=5))
    start = draw(st.integers(0, 1))  # without a v0, the canonical answer is the first one
    texts = draw(st.lists(st.sampled_from(range(len(TEXTS))), min_size=4, max_size=4))
    direction = {t: draw(st.sampled_from(range(len(DIRECTIONS)))) for t in range(len(TEXTS))}
    rows = []
    for index, samples in enumerate(layout, start=start):
        variant = Variant(case.id, index, f"p{index}", "original" if index == 0 else "rule")
        for sample in range(samples):
            text = draw(st.sampled_from(texts))
            moved = draw(st.integers(0, 9)) == 0  # the same text with another vector
            d = draw(st.sampled_from(range(len(DIRECTIONS)))) if moved else direction[text]
            rows.append((Answer(variant, sample, TEXTS[text]), DIRECTIONS[d]))
    rows = draw(st.permutations(rows))
    correct = draw(
        st.lists(st.sampled_from([None, True, False]), min_size=len(rows), max_size=len(rows))
    )
    answers = [a for a, _ in rows]
    vectors = np.array([v for _, v in rows], dtype=np.float32)
    threshold = draw(st.sampled_from([0.8, 0.85, 0.5]))
    return CaseEvidence(case, answers, vectors, {}, semantic_threshold=threshold), correct


def fresh(evidence: CaseEvidence) -> CaseEvidence:
    return CaseEvidence(
        evidence.case, evidence.answers, evidence.vectors, {}, evidence.semantic_threshold
    )


@contextmanager
def blocks_of(cells: int) -> Iterator[None]:
    """Pairwise work in blocks of `cells` pairs: small blocks exercise every block path
    (several row blocks, pairs counted for both groups, components merged across blocks)."""
    saved = metrics.BLOCK_CELLS
    metrics.BLOCK_CELLS = cells
    try:
        yield
    finally:
        metrics.BLOCK_CELLS = saved


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BLOCKS = st.sampled_from([1, 3, 8, metrics.BLOCK_CELLS])


@FAST
@given(cases(), BLOCKS)
def test_clusters_equal_the_pairwise_reference(drawn: Drawn, cells: int) -> None:
    evidence, correct = drawn
    expected = cluster(len(evidence.answers), reference_same(evidence, correct))
    with blocks_of(cells):
        clusters = cluster_grouped(equivalence(evidence, correct))
    assert clusters == expected
    assert case_metrics(clusters, correct) == case_metrics(expected, correct)


@FAST
@given(cases(), BLOCKS)
def test_semantic_votes_equal_the_pairwise_reference(drawn: Drawn, cells: int) -> None:
    evidence, correct = drawn
    old, new = fresh(evidence), fresh(evidence)
    old.agrees, old.settled = reference_same(old, correct), reference_sure(old, correct)
    relation = equivalence(new, correct)
    new.agrees, new.settled = relation, relation.settled
    with blocks_of(cells):
        assert SemanticJudge().votes(new) == reference_votes(old)
    # the relation asked pair by pair is the reference's relation
    n = len(evidence.answers)
    pairs = [(i, j) for i in range(n) for j in range(n)]
    assert [new.agree(i, j) for i, j in pairs] == [old.agree(i, j) for i, j in pairs]
    assert [new.is_settled(i, j) for i, j in pairs] == [old.is_settled(i, j) for i, j in pairs]


@FAST
@given(cases(), BLOCKS)
def test_default_cosine_votes_equal_the_pairwise_reference(drawn: Drawn, cells: int) -> None:
    evidence = fresh(drawn[0])
    expected = reference_votes(evidence), cluster(len(evidence.answers), evidence.agree)
    with blocks_of(cells):  # zero vectors: a group whose members do not agree with each other
        assert (SemanticJudge().votes(evidence), cluster_grouped(evidence.relation())) == expected


def test_an_asymmetric_numeric_tolerance_is_asked_in_the_reference_order() -> None:
    """numbers_match(a, b) scales the tolerance by |b|: 100 matches 111 at 0.1, 111 does
    not match 100. `cluster` asks (i, j) with i < j, the semantic judge (i, every j)."""
    case = Case(id="n", prompt="What is 50 + 50?", kind="numeric", numeric_tolerance=0.1)
    texts = ["111", "100", "111", "100", "The answer is 111."]
    answers = [Answer(Variant("n", i % 2, f"p{i % 2}", "rule"), i, t) for i, t in enumerate(texts)]
    vectors = np.tile(np.array([[1.0, 0.0]], dtype=np.float32), (len(texts), 1))
    evidence, correct = CaseEvidence(case, answers, vectors, {}), [None] * len(texts)
    relation = equivalence(evidence, correct)
    assert not relation.symmetric and relation(1, 0) and not relation(0, 1)
    for cells in (1, metrics.BLOCK_CELLS):
        with blocks_of(cells):
            assert cluster_grouped(relation) == cluster(5, reference_same(evidence, correct))
    old = fresh(evidence)
    old.agrees, old.settled = reference_same(old, correct), reference_sure(old, correct)
    evidence.agrees, evidence.settled = relation, relation.settled
    assert SemanticJudge().votes(evidence) == reference_votes(old)


@FAST
@given(cases(), st.integers(2, 5), st.integers(0, 4), BLOCKS)
def test_custom_callables_are_asked_pair_by_pair(
    drawn: Drawn, modulus: int, shift: int, cells: int
) -> None:
    evidence, _ = drawn

    def agrees(i: int, j: int) -> bool:  # deliberately not symmetric
        return (2 * i + j + shift) % modulus != 0

    def settled(i: int, j: int) -> bool:
        return (i * j + shift) % 3 != 1

    evidence.agrees, evidence.settled = agrees, settled
    assert isinstance(evidence.relation(), CallbackRelation)
    n = len(evidence.answers)
    expected = reference_votes(evidence), cluster(n, agrees)
    with blocks_of(cells):
        relation = CallbackRelation(n, agrees, settled)
        assert (SemanticJudge().votes(evidence), cluster_grouped(relation)) == expected


def test_judge_case_clusters_with_the_corrected_labels_as_the_reference_does() -> None:
    texts = ["The capital is Paris.", "Paris.", "Lyon.", "Paris.", "It is Lyon."] * 3
    vectors = {"The capital is Paris.": (1, 0), "Paris.": (1, 0.25), "Lyon.": (0.75, 0.5)}
    answers = [
        Answer(Variant("fr", i % 3, f"p{i % 3}", "rule"), i // 3, t) for i, t in enumerate(texts)
    ]
    vecs = np.array([vectors.get(t, (0.0, 1.0)) for t in texts], dtype=np.float32)
    evidence = CaseEvidence(FACT, answers, vecs, {"Paris": np.array([1, 0], dtype=np.float32)})
    judged = judge_case(evidence, Ensemble([SemanticJudge(), ReferenceJudge()]))
    expected = cluster(len(texts), reference_same(fresh(evidence), judged.correct))
    assert list(judged.clusters) == expected
    wordings = [answer.variant.index for answer in answers]
    assert judged.metrics == case_metrics(expected, judged.correct, wordings)


# -- the work grows with distinct answers -------------------------------------------------
def big_case(variants: int, samples: int, distinct: int) -> CaseEvidence:
    """`variants` x `samples` answers drawn from `distinct` texts, as sampling gives them."""
    rng = np.random.default_rng(0)
    pool = [f"The capital of France is Paris ({k})." for k in range(distinct // 2)]
    pool += [f"It is Lyon ({k})." for k in range(distinct - len(pool))]
    directions = rng.normal(size=(distinct, 16)).astype(np.float32)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    answers, vectors = [], []
    for index in range(variants):
        variant = Variant("fr", index, f"p{index}", "original" if index == 0 else "rule")
        for sample in range(samples):
            k = int(rng.integers(distinct))
            answers.append(Answer(variant, sample, pool[k]))
            vectors.append(directions[k])
    refs = {"Paris": directions[0], "Lyon": directions[-1]}
    case = Case(id="fr", prompt=FACT.prompt, reference="Paris", incorrect=("Lyon",))
    return CaseEvidence(case, answers, np.array(vectors), refs)


def test_pairwise_work_grows_with_distinct_answers_not_their_pairs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """2,000 answers, 20 distinct texts: the relation is evaluated on about 20 x 20 group
    pairs per pass (and within each variant for its failing answers), never answer by
    answer: far below the 4,000,000 pairs of the answers, and no per-pair Python call."""
    evidence = big_case(variants=100, samples=20, distinct=20)
    n, distinct = len(evidence.answers), 20
    cells = []
    real = base.cosines

    def counted(vectors: Vectors, rows: Index, cols: Index) -> NDArray[np.float64]:
        cells.append(len(rows) * len(cols))
        return real(vectors, rows, cols)

    monkeypatch.setattr(base, "cosines", counted)
    monkeypatch.setattr(ensemble_module, "cosines", counted)
    asked = []
    for name in ("agree", "is_settled", "cosine_settled", "similarity"):
        method = getattr(CaseEvidence, name)

        def spy(self: CaseEvidence, *args: int, _name: str = name, _method: Any = method) -> Any:
            asked.append(_name)
            return _method(self, *args)

        monkeypatch.setattr(CaseEvidence, name, spy)

    judged = judge_case(evidence, Ensemble([SemanticJudge(), ReferenceJudge()]))
    assert judged.metrics.answers == n
    assert asked == []  # nothing pair by pair, no n x n matrix
    assert sum(cells) <= n * distinct  # 40,000, against n^2 = 4,000,000
    assert max(cells) <= distinct * distinct

    cells.clear()
    SemanticJudge().votes(big_case(variants=100, samples=20, distinct=20))  # cosine default
    assert sum(cells) <= n * distinct and asked == []


def test_judging_memory_is_bounded_by_the_answers_not_their_pairs() -> None:
    """3,000 answers of 30 texts: one n x n float32 matrix alone would be 36 MB; judging
    holds the answers' votes and group blocks, a few MB."""
    evidence = big_case(variants=100, samples=30, distinct=30)
    ensemble = Ensemble([SemanticJudge(), ReferenceJudge()])
    tracemalloc.start()
    try:
        judge_case(evidence, ensemble)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    n = len(evidence.answers)
    assert peak < n * n * 4 / 4, f"peak {peak / 2**20:.1f} MB"
