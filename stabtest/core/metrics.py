"""Stability metrics, exactly as the README defines them.

Answers of a case (every sample of every variant) are grouped into *clusters* of
equivalent answers; the judges decide equivalence. With N answers and cluster sizes n_k:

- SI  = 1 - sum_k n_k (n_k - 1) / (N (N - 1))  (0 when N < 2). The probability that two
  different answers, drawn without replacement, disagree: 1 minus the mean pairwise
  agreement. 0 is perfectly stable; lower is better.
- FC  = (answers judged correct) / (answers judged against a reference).
- RDR = (number of clusters) / N.
- AP  = (verdicts where the automatic outcome equals the human one) / (verdicts with both).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from stabtest.core.results import CaseMetrics


def cluster(count: int, equivalent: Callable[[int, int], bool]) -> list[int]:
    """Connected components of the "equivalent" relation (union-find); cluster ids are
    numbered by first member, so the result is deterministic."""
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(count):
        for j in range(i + 1, count):
            if root(i) != root(j) and equivalent(i, j):
                parent[max(root(i), root(j))] = min(root(i), root(j))
    numbering: dict[int, int] = {}
    return [numbering.setdefault(root(i), len(numbering)) for i in range(count)]


def stability_index(clusters: Sequence[int]) -> float:
    n = len(clusters)
    if n < 2:
        return 0.0
    same = sum(size * (size - 1) for size in Counter(clusters).values())
    return 1.0 - same / (n * (n - 1))


def factual_correctness(correct: Iterable[bool | None]) -> float | None:
    judged = [c for c in correct if c is not None]
    return sum(judged) / len(judged) if judged else None


def response_diversity_ratio(clusters: Sequence[int]) -> float:
    return len(set(clusters)) / len(clusters) if clusters else 0.0


def case_metrics(clusters: Sequence[int], correct: Sequence[bool | None]) -> CaseMetrics:
    return CaseMetrics(
        si=stability_index(clusters),
        fc=factual_correctness(correct),
        rdr=response_diversity_ratio(clusters),
        answers=len(clusters),
        clusters=len(set(clusters)),
    )


def annotation_precision(pairs: Iterable[tuple[str | None, str | None]]) -> float | None:
    """Share of automatic verdicts a human confirmed. Pairs are (automatic, human): an
    outcome, or a judge's vote; pairs where either side is missing or the automatic side
    escalated or abstained are left out."""
    decided = [(a, h) for a, h in pairs if a in ("pass", "fail") and h in ("pass", "fail")]
    if not decided:
        return None
    return sum(a == h for a, h in decided) / len(decided)


def mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None
