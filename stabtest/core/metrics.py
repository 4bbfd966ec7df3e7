"""Stability metrics, exactly as the README defines them.

Answers of a case (every sample of every variant) are grouped into *clusters* of
equivalent answers; the judges decide equivalence. With N answers and cluster sizes n_k:

- SI  = 1 - sum_k n_k (n_k - 1) / (N (N - 1))  (0 when N < 2). The probability that two
  different answers, drawn without replacement, disagree: 1 minus the mean pairwise
  agreement. 0 is perfectly stable; lower is better.
- FC  = (answers judged correct) / (answers judged against a reference).
- RDR = (number of clusters) / N.
- SI split (with `samples` > 1): the pairs of SI are of two kinds. A pair of samples of the
  same wording (variant) disagrees by sampling noise alone; a pair of different wordings
  disagrees by prompt sensitivity (plus noise). SI_within = disagreeing same-variant pairs
  / same-variant pairs, SI_between = disagreeing cross-variant pairs / cross-variant pairs
  (each None when it has no pairs), and SI = (W SI_within + B SI_between) / (W + B) exactly,
  W and B being the numbers of such pairs.
- AP  = (verdicts where the automatic outcome equals the human one) / (verdicts with both).
  Per class (`Agreement`; "correct" = human pass, "incorrect" = human fail), over the same
  verdicts: precision(correct) = auto pass and human pass / auto pass, recall(correct) =
  auto pass and human pass / human pass; the same for incorrect with fail; balanced
  accuracy = (recall(correct) + recall(incorrect)) / 2.
- Repeats (`samples` > 1; see `repeat_figures`): an answer (a conversation's (variant,
  sample) thread) passes when its verdict is `pass`; escalated ones await a human and are
  left out. Pass rate = passing / judged answers. Per variant with c of n judged samples
  passing: pass^k = C(c,k) / C(n,k) (all k of k fresh samples pass; tau-bench, Yao et al.
  2024) and pass@k = 1 - C(n-c,k) / C(n,k) (at least one passes; Chen et al. 2021), both
  unbiased, averaged over the variants with n >= k. Each with a 95% Wilson interval:
  over answers for the pass rate, over variants for pass^k and pass@k.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from math import comb, sqrt
from statistics import NormalDist
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from stabtest.core.results import Agreement, CaseMetrics

Index = NDArray[np.intp]
Mask = NDArray[np.bool_]
BLOCK_CELLS = 1 << 20
"""Pairs evaluated at once by the pairwise work of judging: a few tens of bytes each (a
cosine in float64, a few masks), so that work holds about 50 MB whatever the case's size."""


def row_blocks(rows: int, cols: int) -> Iterator[slice]:
    """Consecutive row ranges of at most BLOCK_CELLS cells against `cols` columns."""
    step = max(1, BLOCK_CELLS // max(cols, 1))
    for start in range(0, rows, step):
        yield slice(start, min(rows, start + step))


def first_seen(keys: Iterable[Hashable]) -> Index:
    """Numbers keys by first appearance: equal keys get equal numbers."""
    numbering: dict[Hashable, int] = {}
    return np.fromiter((numbering.setdefault(k, len(numbering)) for k in keys), dtype=np.intp)


class GroupedRelation(Protocol):
    """An equivalence between answers, evaluated on groups of interchangeable answers
    (`group[i]`: answer i's group, numbered by first member). `agreement(rows, cols)`:
    whether the first answer of each group in `rows` is equivalent to that of each group in
    `cols`. A relation that is not `symmetric` must make each group of several answers
    equivalent to itself."""

    @property
    def group(self) -> Index: ...

    @property
    def symmetric(self) -> bool: ...

    def agreement(self, rows: Index, cols: Index) -> Mask: ...


def cluster(count: int, equivalent: Callable[[int, int], bool]) -> list[int]:
    """Connected components of the "equivalent" relation (union-find); cluster ids are
    numbered by first member, so the result is deterministic. Asks every pair: the
    reference for `cluster_grouped`, which judging uses."""
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


def cluster_grouped(relation: GroupedRelation) -> list[int]:
    """What `cluster(n, relation)` gives, with the pairwise work done on groups in blocks:
    O(groups^2) vectorised pair evaluations in bounded memory and O(answers) Python, instead
    of O(answers^2) Python calls. As `cluster`, a pair i < j is asked as (i, j)."""
    group = relation.group
    n = len(group)
    if n == 0:
        return []
    count = int(group.max()) + 1
    order = np.arange(n)
    first = np.full(count, n, dtype=np.intp)
    np.minimum.at(first, group, order)
    last = np.full(count, -1, dtype=np.intp)
    np.maximum.at(last, group, order)
    label: Index = np.arange(count, dtype=np.intp)  # each group's component; label[label] == label
    linked = np.zeros(count, dtype=bool)  # equivalent to an answer of another group
    itself = np.zeros(count, dtype=bool)  # its members are equivalent to each other
    groups = np.arange(count, dtype=np.intp)
    for block in row_blocks(count, count):
        rows = groups[block]
        cols = groups[block.start :] if relation.symmetric else groups
        agree = relation.agreement(rows, cols)
        own = (np.arange(len(rows)), rows - cols[0])
        itself[rows] = agree[own]
        agree[own] = False
        if not relation.symmetric:  # (g, h) counts when some i of g comes before some j of h
            agree &= first[rows][:, None] < last[cols][None, :]
        linked[rows] |= agree.any(axis=1)
        linked[cols] |= agree.any(axis=0)
        r, c = np.nonzero(agree)
        a, b = label[rows[r]], label[cols[c]]
        apart = a != b
        if apart.any():
            label = _merge(label, a[apart], b[apart])
    alone = ~(linked | itself)[group] & (np.bincount(group)[group] > 1)
    keys = np.where(alone, -1 - order, label[group])
    numbered: list[int] = first_seen(keys.tolist()).tolist()
    return numbered


def _merge(label: Index, a: Index, b: Index) -> Index:
    """Labels after joining the components a[k] and b[k] (each a label), every component
    taking its smallest label."""
    count = len(label)
    codes = np.unique(np.minimum(a, b) * count + np.maximum(a, b))
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for code in codes.tolist():
        x, y = root(code // count), root(code % count)
        if x != y:
            parent[max(x, y)] = min(x, y)
    remap = np.arange(count, dtype=np.intp)
    for x in parent:
        remap[x] = root(x)
    return remap[label]


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


def _agreeing_pairs(counts: Iterable[int]) -> int:
    return sum(n * (n - 1) // 2 for n in counts)


def si_split(
    clusters: Sequence[int], wordings: Sequence[Hashable]
) -> tuple[float | None, float | None]:
    """(SI_within, SI_between): disagreement among pairs of answers to the same wording
    (`wordings[i]`: answer i's variant) and among pairs across wordings. Counts, not pairs:
    O(answers)."""
    if len(wordings) != len(clusters):
        raise ValueError(f"{len(wordings)} wordings for {len(clusters)} answers")
    per_wording = Counter(wordings)
    pairs_within = _agreeing_pairs(per_wording.values())
    pairs_all = len(clusters) * (len(clusters) - 1) // 2
    pairs_between = pairs_all - pairs_within
    agree_within = _agreeing_pairs(Counter(zip(wordings, clusters, strict=True)).values())
    agree_between = _agreeing_pairs(Counter(clusters).values()) - agree_within
    within = 1.0 - agree_within / pairs_within if pairs_within else None
    between = 1.0 - agree_between / pairs_between if pairs_between else None
    return within, between


def case_metrics(
    clusters: Sequence[int],
    correct: Sequence[bool | None],
    wordings: Sequence[Hashable] | None = None,
) -> CaseMetrics:
    """SI, FC and RDR; with each answer's wording (variant), SI's within/between split."""
    within, between = si_split(clusters, wordings) if wordings is not None else (None, None)
    return CaseMetrics(
        si=stability_index(clusters),
        fc=factual_correctness(correct),
        rdr=response_diversity_ratio(clusters),
        answers=len(clusters),
        clusters=len(set(clusters)),
        si_within=within,
        si_between=between,
    )


def agreement(pairs: Iterable[tuple[str | None, str | None]]) -> Agreement:
    """Automatic verdicts against human ones, per class. Pairs are (automatic, human): an
    outcome, or a judge's vote; pairs where either side is missing or the automatic side
    escalated or abstained are left out."""
    counts = Counter((a, h) for a, h in pairs if a in ("pass", "fail") and h in ("pass", "fail"))
    return Agreement(
        pass_correct=counts[("pass", "pass")],
        pass_incorrect=counts[("pass", "fail")],
        fail_correct=counts[("fail", "pass")],
        fail_incorrect=counts[("fail", "fail")],
    )


def annotation_precision(pairs: Iterable[tuple[str | None, str | None]]) -> float | None:
    """Share of automatic verdicts a human confirmed (see `agreement`)."""
    return agreement(pairs).ap


def mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


Interval = tuple[float, float]


def wilson_interval(successes: float, total: int, confidence: float = 0.95) -> Interval | None:
    """The Wilson score interval of a proportion `successes / total` (None when total is
    0): the interval scipy's `binomtest(...).proportion_ci(method="wilson")` gives for a
    whole count, here also for a fractional one (a mean of per-variant estimates times the
    number of variants), which scipy refuses."""
    if total <= 0:
        return None
    if not -1e-9 <= successes <= total + 1e-9:
        raise ValueError(f"{successes} successes out of {total}")
    successes = min(max(successes, 0.0), float(total))  # a mean's last bit
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / total
    centre = p + z * z / (2 * total)
    spread = z * sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    scale = 1 + z * z / total
    low = 0.0 if successes == 0 else max(0.0, (centre - spread) / scale)
    high = 1.0 if successes == total else min(1.0, (centre + spread) / scale)
    return low, high


def pass_hat_k(passing: int, samples: int, k: int) -> float:
    """pass^k of one variant: the chance that k samples drawn without replacement from
    its n judged samples, c of them passing, all pass: C(c,k) / C(n,k), unbiased."""
    _check_counts(passing, samples, k)
    return comb(passing, k) / comb(samples, k)


def pass_at_k(passing: int, samples: int, k: int) -> float:
    """pass@k of one variant: the chance that at least one of k such samples passes:
    1 - C(n-c,k) / C(n,k), unbiased (Chen et al. 2021)."""
    _check_counts(passing, samples, k)
    return 1.0 - comb(samples - passing, k) / comb(samples, k)


def _check_counts(passing: int, samples: int, k: int) -> None:
    if not 0 <= passing <= samples or not 1 <= k <= samples:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n: c={passing}, n={samples}, k={k}")


@dataclass(frozen=True)
class RepeatFigures:
    """A case's figures over repeated samples (see `repeat_figures`)."""

    passing: int
    judged: int
    pass_rate: float | None
    pass_rate_ci: Interval | None
    k: int
    variants_k: int
    """Variants with at least k judged samples: those pass^k and pass@k average over."""
    pass_hat_k: float | None
    pass_hat_k_ci: Interval | None
    pass_at_k: float | None
    pass_at_k_ci: Interval | None


def repeat_figures(per_variant: Sequence[tuple[int, int]], k: int) -> RepeatFigures:
    """Pass rate, pass^k and pass@k from (passing, judged) sample counts per variant.
    Pass rate = passing / judged answers, Wilson interval over the answers. pass^k and
    pass@k are the means of the per-variant estimates over the V variants with judged
    n >= k; their Wilson interval is taken over those V variants with the mean as the
    observed share (with n == k everywhere that is exactly the Wilson interval of the
    count of variants whose k samples all pass, resp. one passes)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    passing = sum(c for c, _ in per_variant)
    judged = sum(n for _, n in per_variant)
    counted = [(c, n) for c, n in per_variant if n >= k]
    hat = mean(pass_hat_k(c, n, k) for c, n in counted)
    at = mean(pass_at_k(c, n, k) for c, n in counted)
    v = len(counted)
    return RepeatFigures(
        passing=passing,
        judged=judged,
        pass_rate=passing / judged if judged else None,
        pass_rate_ci=wilson_interval(passing, judged),
        k=k,
        variants_k=v,
        pass_hat_k=hat,
        pass_hat_k_ci=None if hat is None else wilson_interval(hat * v, v),
        pass_at_k=at,
        pass_at_k_ci=None if at is None else wilson_interval(at * v, v),
    )
