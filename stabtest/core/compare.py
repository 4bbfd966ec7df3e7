"""A run against a baseline run: per case, per suite and for the run, with uncertainty.

Pure: both sides are `RunReport`s, read through the `ComparedRun` protocol, and
everything is recomputed from their answers (each `AnswerResult` carries its cluster id
and `correct` flag), so a baseline needs no model, cache or judge. Every delta has a
seeded bootstrap interval; a change that is not significant is noise and gates nothing
unless `strict`.

Paired where the runs answered the same variants: a case whose judged variants are the
same on both sides resamples the same variant indices on both sides (a paired bootstrap
of SI, FC and RDR), and its FC is tested by McNemar's exact test on the answers paired by
variant and sample index; its p-values for SI and RDR come from a paired randomization
test (each answer pair, or variant pair, swapped between the runs at random). A case
whose variants do not pair is bootstrapped over answers, each side on its own (unpaired).
Across cases the gate controls the false discovery rate (Benjamini-Hochberg over the SI
and FC p-values of the compared cases); the run and each suite are single tests at 95%.
McNemar and the answer-level swaps take a variant's samples as independent draws: with
greedy decoding and several samples, repeated identical answers count more than once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, TypeAlias

from pydantic import BaseModel, ConfigDict

from stabtest.core.results import CaseResult, VariantResult

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    FloatArray: TypeAlias = NDArray[np.float64]

Metric = Literal["si", "fc", "rdr"]
Method = Literal["paired-mcnemar", "paired-bootstrap", "unpaired-bootstrap", "mixed-bootstrap"]
"""How a delta was tested: McNemar's exact test on paired answers (FC of a paired case), a
bootstrap over variants resampled alike on both sides, one over answers resampled on each
side alone, or (the run and suites) an average over cases of both kinds."""
Verdict = Literal["better", "worse", "within_noise", "unchanged", "not_comparable"]
Level = Literal["run", "suite", "case"]
ScopeStatus = Literal["compared", "added", "removed", "changed"]


class ComparedRun(Protocol):
    """What a comparison reads of a run: a `core.report.RunReport` (which imports this
    module for `BaselineComparison`, so the dependency goes one way)."""

    @property
    def run_id(self) -> str: ...

    @property
    def finished_at(self) -> float: ...

    @property
    def cases(self) -> Sequence[CaseResult]: ...

    def variants_by_case(self) -> dict[str, list[VariantResult]]: ...


class Interval(BaseModel):
    """A 95% bootstrap interval."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    low: float
    high: float

    def contains_zero(self) -> bool:
        return self.low <= 0.0 <= self.high


class MetricChange(BaseModel):
    """One metric of one scope, before and after; `interval` is that of the delta."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: Metric
    before: float | None
    after: float | None
    delta: float | None
    interval: Interval | None
    verdict: Verdict
    gated: bool
    """Counts as a regression that fails the session."""
    method: Method | None = None
    """How the delta was tested (None: not compared, or a report from before pairing)."""
    p_value: float | None = None
    """Two-sided p-value of no change: McNemar's exact (FC, answers paired), a paired
    randomization test's (answer or variant pairs swapped at random), or an unpaired
    bootstrap's (normal, with the bootstrap standard error)."""
    q_value: float | None = None
    """Benjamini-Hochberg adjusted p-value across the compared cases (cases only, when
    the comparison controls the false discovery rate over two cases or more)."""


class ScopeComparison(BaseModel):
    """The run, a suite (by path) or a case (by uid), compared."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scope: str
    level: Level
    answers_before: int
    answers_after: int
    status: ScopeStatus
    metrics: list[MetricChange]

    @property
    def gated(self) -> bool:
        return any(m.gated for m in self.metrics)


class BaselineComparison(BaseModel):
    """A whole comparison, as stored in the run's report (`RunReport.baseline`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    baseline_run_id: str
    baseline_finished_at: float
    tolerances: dict[str, float]
    strict: bool
    seed: int
    resamples: int
    scopes: list[ScopeComparison]
    fdr: float | None = None
    """False discovery rate the cases were gated at (None: each case tested alone at 95%,
    because FDR control was off, only one case was compared, or an older report)."""
    fdr_tests: int = 0
    """SI and FC p-values in the Benjamini-Hochberg family."""
    fdr_cases: int = 0
    """Compared cases those p-values come from."""

    @property
    def regressions(self) -> list[ScopeComparison]:
        """Scopes with a gated metric (in strict mode also changed cases)."""
        return [s for s in self.scopes if s.gated or (self.strict and s.status == "changed")]

    @property
    def passed(self) -> bool:
        return not self.regressions


REGRESSION_EXIT = 6
"""Exit status of a session (and of `stabtest baseline compare`) that regressed against
its baseline: past pytest's own codes 0-5, so CI can tell it from failing cases."""
METRICS: tuple[Metric, ...] = ("si", "fc", "rdr")
LOWER_IS_BETTER: dict[Metric, bool] = {"si": True, "fc": False, "rdr": True}
LEVEL = 0.95
ALPHA = 1 - LEVEL
"""Significance of a single test: the run, a suite, or a case when FDR control is off."""
DEFAULT_FDR = 0.05
FDR_METRICS: tuple[Metric, ...] = ("si", "fc")
"""The metrics that gate, hence those corrected for multiplicity."""
_SAME = 1e-12
_BLOCK_CELLS = 1 << 20
"""Resampled answers drawn at once: bounds memory for cases of many thousand answers."""


@dataclass(frozen=True)
class CaseAnswers:
    """What the metrics of one case are computed from: each answer's cluster id and
    correctness (None: not judged against a reference)."""

    clusters: tuple[int, ...]
    correct: tuple[bool | None, ...]

    @classmethod
    def of(cls, variants: Iterable[VariantResult]) -> CaseAnswers:
        """The answers of a case's judged (not rejected) variants, as the metrics count them."""
        answers = [a for v in variants if not v.rejected for a in v.answers]
        return cls(tuple(a.cluster for a in answers), tuple(a.correct for a in answers))

    def __len__(self) -> int:
        return len(self.clusters)

    def point(self) -> dict[Metric, float | None]:
        """SI, FC, RDR exactly as stabtest.core.metrics computes them (None: no answers)."""
        from stabtest.core.metrics import (
            factual_correctness,
            response_diversity_ratio,
            stability_index,
        )

        if not self.clusters:
            return dict.fromkeys(METRICS)
        return {
            "si": stability_index(self.clusters),
            "fc": factual_correctness(self.correct),
            "rdr": response_diversity_ratio(self.clusters),
        }


def resample_metrics(
    answers: CaseAnswers, rng: np.random.Generator, resamples: int
) -> dict[Metric, FloatArray]:
    """SI, FC and RDR of `resamples` bootstrap resamples of the answers (drawn with
    replacement, each keeping its cluster and correctness). NaN where a resample has no
    value: FC of a resample without a judged answer, anything of a case without answers."""
    import numpy as np

    n = len(answers)
    if n == 0:
        return {m: np.full(resamples, np.nan) for m in METRICS}
    _, dense = np.unique(np.asarray(answers.clusters), return_inverse=True)
    k = int(dense.max()) + 1
    judged = np.array([c is not None for c in answers.correct])
    right = np.array([c is True for c in answers.correct])
    out: dict[Metric, FloatArray] = {m: np.empty(resamples) for m in METRICS}
    step = max(1, _BLOCK_CELLS // n)
    for start in range(0, resamples, step):
        rows = min(step, resamples - start)
        index = rng.integers(0, n, size=(rows, n))
        cells = (np.arange(rows)[:, None] * k + dense[index]).ravel()
        counts = np.bincount(cells, minlength=rows * k).reshape(rows, k)
        block = slice(start, start + rows)
        pairs = (counts * (counts - 1)).sum(axis=1)
        out["si"][block] = 1.0 - pairs / (n * (n - 1)) if n >= 2 else 0.0
        out["rdr"][block] = (counts > 0).sum(axis=1) / n
        n_judged = judged[index].sum(axis=1)
        n_right = right[index].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["fc"][block] = np.where(n_judged > 0, n_right / n_judged, np.nan)
    return out


def percentile_interval(samples: FloatArray, level: float = LEVEL) -> Interval | None:
    """The central `level` percentile interval of bootstrap samples, NaNs left out; None
    when no sample has a value."""
    import numpy as np

    present = samples[~np.isnan(samples)]
    if present.size == 0:
        return None
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(present, [tail, 100 - tail])
    return Interval(low=_round(float(low)), high=_round(float(high)))


def case_rng(seed: int, key: str, side: int) -> np.random.Generator:
    """The generator of one case and side: seeded by the run's seed and the case's uid,
    so a case's interval does not move when other cases are added or removed."""
    import numpy as np

    word = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng([seed, side, word])


def bootstrap_interval(
    before: CaseAnswers,
    after: CaseAnswers,
    metric: Metric,
    *,
    seed: int = 0,
    resamples: int = 1000,
    key: str = "",
) -> Interval | None:
    """95% interval of one case's change in `metric` (after - before): both sides'
    answers resampled with replacement, independently, `resamples` times. Seeded by
    (`seed`, `key`): the same inputs give the same interval."""
    deltas = (
        resample_metrics(after, case_rng(seed, key, 1), resamples)[metric]
        - resample_metrics(before, case_rng(seed, key, 0), resamples)[metric]
    )
    return percentile_interval(deltas)


def pair_variants(
    before: Iterable[VariantResult], after: Iterable[VariantResult]
) -> list[tuple[VariantResult, VariantResult]] | None:
    """The judged (not rejected) variants of a case in both runs, matched by uid, prompt
    and reference; None when they do not pair (a variant judged on one side only, or
    none judged), and the case is then bootstrapped unpaired."""
    old = {(v.uid, v.prompt, v.reference): v for v in before if not v.rejected}
    new = {(v.uid, v.prompt, v.reference): v for v in after if not v.rejected}
    if not old or old.keys() != new.keys():
        return None
    return [(old[key], new[key]) for key in sorted(old)]


def answers_pair(pairs: Sequence[tuple[VariantResult, VariantResult]]) -> bool:
    """Whether every variant's answers pair one to one by (sample, turn) across the runs."""
    for old, new in pairs:
        before = {(a.sample, a.turn) for a in old.answers}
        after = {(a.sample, a.turn) for a in new.answers}
        if len(before) != len(old.answers) or len(after) != len(new.answers) or before != after:
            return False
    return True


def discordant_pairs(
    pairs: Sequence[tuple[VariantResult, VariantResult]],
) -> tuple[int, int] | None:
    """McNemar's discordant counts over answers paired by variant and (sample, turn):
    (right before and wrong after, wrong before and right after). None when the answers
    do not pair one to one, or an answer is judged on one side only (the test would then
    see other answers than FC counts), or no answer is judged."""
    if not answers_pair(pairs):
        return None
    worse = better = judged = 0
    for old, new in pairs:
        after = {(a.sample, a.turn): a.correct for a in new.answers}
        for answer in old.answers:
            key, right = (answer.sample, answer.turn), answer.correct
            now = after[key]
            if (right is None) != (now is None):
                return None
            if right is None:
                continue
            judged += 1
            worse += bool(right and not now)
            better += bool(now and not right)
    return (worse, better) if judged else None


def mcnemar_p(worse: int, better: int) -> float:
    """McNemar's exact two-sided p-value: the discordant pairs, under no change, split as
    a fair coin (the binomial test of `worse` out of `worse + better` at 1/2)."""
    if worse + better == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(min(1.0, binomtest(worse, worse + better, 0.5).pvalue))


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), in the order given: rejecting
    those under q controls the false discovery rate at q."""
    if not p_values:
        return []
    from scipy.stats import false_discovery_control

    return [float(q) for q in false_discovery_control(list(p_values), method="bh")]


def bootstrap_p(delta: float, samples: FloatArray) -> float | None:
    """Two-sided p-value of no change from bootstrap samples of a delta: the normal tail
    of the observed delta over the bootstrap standard error (so it is not floored at
    1/resamples, which the false discovery rate over many cases would need to beat).
    1 for no change, 0 for a change the resamples never vary around; None when fewer
    than two resamples have a value."""
    import math

    import numpy as np

    present = samples[~np.isnan(samples)]
    if present.size < 2:
        return None
    if abs(delta) < _SAME:
        return 1.0
    se = float(present.std(ddof=1))
    if se < _SAME:
        return 0.0
    return _round(math.erfc(abs(delta) / se / math.sqrt(2.0)))


Row: TypeAlias = tuple[tuple[int, bool | None], ...]
"""The answers of one variant (or one answer pair's side) as (cluster, correct)."""
Unit: TypeAlias = tuple[Row, Row]
"""What the randomization test swaps between the runs: a variant's or an answer's two
sides."""


def _row(variant: VariantResult, clusters: Mapping[int, int] | None = None) -> Row:
    return tuple(
        (a.cluster if clusters is None else clusters[a.cluster], a.correct) for a in variant.answers
    )


@dataclass(frozen=True)
class _VariantTable:
    """One side of a paired case, per variant: answers in each (dense) cluster, answers,
    judged answers, right answers."""

    clusters: FloatArray
    answers: FloatArray
    judged: FloatArray
    right: FloatArray

    @classmethod
    def of(cls, rows: Sequence[Row]) -> _VariantTable:
        import numpy as np

        ids = sorted({cluster for row in rows for cluster, _ in row})
        dense = {cluster: i for i, cluster in enumerate(ids)}
        table = np.zeros((len(rows), max(len(ids), 1)))
        for index, row in enumerate(rows):
            for cluster, _ in row:
                table[index, dense[cluster]] += 1
        return cls(
            clusters=table,
            answers=np.array([len(row) for row in rows], dtype=float),
            judged=np.array([sum(c is not None for _, c in row) for row in rows], dtype=float),
            right=np.array([sum(c is True for _, c in row) for row in rows], dtype=float),
        )

    def metrics(self, weights: FloatArray) -> dict[Metric, FloatArray]:
        """SI, FC, RDR of each row of variant weights (how often a resample drew each)."""
        import numpy as np

        counts = weights @ self.clusters
        n = weights @ self.answers
        judged = weights @ self.judged
        with np.errstate(invalid="ignore", divide="ignore"):
            pairs = (counts * (counts - 1)).sum(axis=1)
            si = np.where(n >= 2, 1.0 - pairs / (n * (n - 1)), 0.0)
            return {
                "si": np.where(n > 0, si, np.nan),
                "fc": np.where(judged > 0, (weights @ self.right) / judged, np.nan),
                "rdr": np.where(n > 0, (counts > 0).sum(axis=1) / n, np.nan),
            }


def paired_resample_metrics(
    pairs: Sequence[tuple[VariantResult, VariantResult]],
    rng: np.random.Generator,
    resamples: int,
) -> tuple[dict[Metric, FloatArray], dict[Metric, FloatArray]]:
    """SI, FC and RDR of `resamples` paired bootstrap resamples, before and after: the
    variants drawn with replacement, the same draws on both sides, each variant bringing
    all its answers. Resample r of `after` minus resample r of `before` is one bootstrap
    delta of the case."""
    import numpy as np

    tables = (
        _VariantTable.of([_row(b) for b, _ in pairs]),
        _VariantTable.of([_row(a) for _, a in pairs]),
    )
    v = len(pairs)
    width = max(v, *(t.clusters.shape[1] for t in tables))
    out: list[dict[Metric, FloatArray]] = [
        {m: np.empty(resamples) for m in METRICS} for _ in tables
    ]
    step = max(1, _BLOCK_CELLS // width)
    for start in range(0, resamples, step):
        rows = min(step, resamples - start)
        index = rng.integers(0, v, size=(rows, v))
        cells = (np.arange(rows)[:, None] * v + index).ravel()
        weights = np.bincount(cells, minlength=rows * v).reshape(rows, v).astype(float)
        for table, side in zip(tables, out, strict=True):
            for metric, values in table.metrics(weights).items():
                side[metric][start : start + rows] = values
    return out[0], out[1]


def swap_units(
    pairs: Sequence[tuple[VariantResult, VariantResult]],
) -> list[Unit]:
    """The units of the randomization test, the second run's clusters moved into the
    first run's ids (`align_clusters`): each answer pair (same variant, sample and turn)
    where the answers pair (`answers_pair`), else each variant pair."""
    clusters = align_clusters(pairs)
    if not answers_pair(pairs):
        return [(_row(old), _row(new, clusters)) for old, new in pairs]
    units: list[Unit] = []
    for old, new in pairs:
        after = {(a.sample, a.turn): a for a in new.answers}
        for answer in old.answers:
            partner = after[(answer.sample, answer.turn)]
            units.append(
                (
                    ((answer.cluster, answer.correct),),
                    ((clusters[partner.cluster], partner.correct),),
                )
            )
    return units


def align_clusters(pairs: Sequence[tuple[VariantResult, VariantResult]]) -> dict[int, int]:
    """The second run's cluster ids moved into the first run's: each run numbers its
    clusters on its own, so before answers are swapped between runs, a cluster of the
    second run takes the id of the first run's cluster it shares most identical answers
    with (one to one, greedily), else an id of its own. Within a run the mapping is one
    to one, so neither run's metrics move; clusters it fails to match only make the
    swapped runs look more diverse, which makes the test conservative."""
    first: dict[tuple[str, int], dict[int, int]] = {}
    for old, _ in pairs:
        for a in old.answers:
            votes_of = first.setdefault((a.text, a.turn), {})
            votes_of[a.cluster] = votes_of.get(a.cluster, 0) + 1
    votes: dict[tuple[int, int], int] = {}
    for _, new in pairs:
        for a in new.answers:
            for cluster, count in first.get((a.text, a.turn), {}).items():
                votes[(a.cluster, cluster)] = votes.get((a.cluster, cluster), 0) + count
    mapping: dict[int, int] = {}
    taken: set[int] = set()
    for (theirs, ours), _ in sorted(votes.items(), key=lambda item: (-item[1], item[0])):
        if theirs not in mapping and ours not in taken:
            mapping[theirs] = ours
            taken.add(ours)
    used = {a.cluster for old, _ in pairs for a in old.answers} | taken
    fresh = max(used, default=-1) + 1
    for _, new in pairs:
        for a in new.answers:
            if a.cluster not in mapping:
                mapping[a.cluster] = fresh
                fresh += 1
    return mapping


def swap_p_values(
    units: Sequence[Unit],
    rng: np.random.Generator,
    resamples: int,
) -> dict[Metric, float | None]:
    """Two-sided p-values of no change in SI, FC and RDR by a paired randomization test:
    under no change the two runs' halves of a unit (an answer pair, or a variant pair
    where answers do not pair) are exchangeable, so each of `resamples` draws swaps every
    unit's before and after with probability 1/2. p is the normal tail of the observed
    delta over the spread of the swapped deltas: not floored at 1/resamples, and honest
    where one side has no spread of its own (where a bootstrap's p is far too small). On
    answer pairs and FC it is McNemar's test, approximated. 1 for no change; None where
    no delta exists."""
    import math

    import numpy as np

    v = len(units)
    both = _VariantTable.of([b for b, _ in units] + [a for _, a in units])
    observed = np.hstack([np.ones((1, v)), np.zeros((1, v))])
    before, after = both.metrics(observed), both.metrics(observed[:, ::-1])
    squares = dict.fromkeys(METRICS, 0.0)
    present = dict.fromkeys(METRICS, 0)
    step = max(1, _BLOCK_CELLS // (2 * v))
    for start in range(0, resamples, step):
        flips = rng.integers(0, 2, size=(min(step, resamples - start), v)).astype(float)
        kept = both.metrics(np.hstack([1.0 - flips, flips]))
        swapped = both.metrics(np.hstack([flips, 1.0 - flips]))
        for metric in METRICS:
            deltas = swapped[metric] - kept[metric]
            deltas = deltas[~np.isnan(deltas)]
            squares[metric] += float((deltas**2).sum())
            present[metric] += int(deltas.size)
    found: dict[Metric, float | None] = {}
    for metric in METRICS:
        delta = float(after[metric][0] - before[metric][0])
        if math.isnan(delta) or present[metric] < 2:
            found[metric] = None
        elif abs(delta) < _SAME:
            found[metric] = 1.0
        else:
            spread = math.sqrt(squares[metric] / present[metric])  # centred on 0 under no change
            found[metric] = (
                0.0 if spread < _SAME else _round(math.erfc(abs(delta) / spread / math.sqrt(2)))
            )
    return found


def paired_bootstrap_interval(
    before: Sequence[VariantResult],
    after: Sequence[VariantResult],
    metric: Metric,
    *,
    seed: int = 0,
    resamples: int = 1000,
    key: str = "",
) -> Interval | None:
    """95% paired-bootstrap interval of one case's change in `metric` (after - before),
    seeded by (`seed`, `key`) like `bootstrap_interval`; None when the variants do not
    pair."""
    pairs = pair_variants(before, after)
    if pairs is None:
        return None
    old, new = paired_resample_metrics(pairs, case_rng(seed, key, 2), resamples)
    return percentile_interval(new[metric] - old[metric])


def _round(value: float) -> float:
    return round(value, 6)


@dataclass(frozen=True)
class _Test:
    """One metric of one scope, measured, before its verdict (which may wait for the
    case's q-value)."""

    metric: Metric
    before: float | None
    after: float | None
    deltas: FloatArray | None
    method: Method | None
    p_value: float | None = None

    @property
    def comparable(self) -> bool:
        return self.before is not None and self.after is not None and self.deltas is not None


def _significant(
    interval: Interval | None,
    method: Method | None,
    p: float | None,
    q: float | None,
    fdr: float | None,
) -> bool:
    """Whether a change is more than noise: under FDR control its q-value is under the
    level; a single paired test's p is under 5% (McNemar's, or the randomization test's);
    an unpaired one's bootstrap interval excludes 0 (the run and suites: that of their
    average); a change without an interval (no answers to resample) is taken at face
    value."""
    if q is not None and fdr is not None:
        return q < fdr
    if method in ("paired-mcnemar", "paired-bootstrap") and p is not None:
        return p < ALPHA
    return interval is None or not interval.contains_zero()


def _verdict(
    metric: Metric, delta: float, significant: bool, tolerance: float | None, strict: bool
) -> tuple[Verdict, bool]:
    """How a change reads, and whether it gates: worse past the tolerance, and outside
    the noise unless strict."""
    if abs(delta) < _SAME:
        return "unchanged", False
    worse = (delta > 0) == LOWER_IS_BETTER[metric]
    past = tolerance is not None and worse and abs(delta) > tolerance + _SAME
    if not significant:
        return "within_noise", past and strict
    return ("worse" if worse else "better"), past


def _not_comparable(metric: Metric, before: float | None, after: float | None) -> MetricChange:
    return MetricChange(
        metric=metric,
        before=_opt_round(before),
        after=_opt_round(after),
        delta=None,
        interval=None,
        verdict="not_comparable",
        gated=False,
    )


def _change(
    test: _Test,
    tolerance: float | None,
    strict: bool,
    *,
    q: float | None = None,
    fdr: float | None = None,
) -> MetricChange:
    if test.before is None or test.after is None or test.deltas is None:
        return _not_comparable(test.metric, test.before, test.after)
    delta = test.after - test.before
    interval = percentile_interval(test.deltas)
    p = test.p_value if test.p_value is not None else bootstrap_p(delta, test.deltas)
    significant = _significant(interval, test.method, p, q, fdr)
    verdict, gated = _verdict(test.metric, delta, significant, tolerance, strict)
    return MetricChange(
        metric=test.metric,
        before=_round(test.before),
        after=_round(test.after),
        delta=_round(delta),
        interval=interval,
        verdict=verdict,
        gated=gated,
        method=test.method,
        p_value=None if p is None else _round(p),
        q_value=None if q is None else _round(q),
    )


@dataclass
class _Side:
    """One case in one run: point values and bootstrap samples of each metric."""

    answers: int
    point: dict[Metric, float | None]
    samples: dict[Metric, FloatArray]
    paired: bool = False
    """Its samples were drawn alike with the other side's (a paired case)."""


def _point(answers: CaseAnswers, stored: CaseResult | None) -> dict[Metric, float | None]:
    """Recomputed from the answers; a case whose answers the report lacks keeps its stored
    metrics, without an interval."""
    point = answers.point()
    if not answers and stored is not None:
        m = stored.metrics
        point = {"si": m.si, "fc": m.fc, "rdr": m.rdr}
    return point


def _side(
    answers: CaseAnswers, stored: CaseResult | None, rng: np.random.Generator, resamples: int
) -> _Side:
    return _Side(len(answers), _point(answers, stored), resample_metrics(answers, rng, resamples))


def _mean(rows: list[FloatArray]) -> FloatArray:
    """Per resample, the mean over cases of the values present (NaN where none is)."""
    import numpy as np

    stacked = np.vstack(rows)
    present = ~np.isnan(stacked)
    count = present.sum(axis=0)
    total = np.where(present, stacked, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _aggregate_method(pairs: list[tuple[_Side, _Side]]) -> Method:
    paired = {b.paired for b, _ in pairs}
    if paired == {True}:
        return "paired-bootstrap"
    return "unpaired-bootstrap" if paired == {False} else "mixed-bootstrap"


def _aggregate(
    pairs: list[tuple[_Side, _Side]], tolerances: Mapping[str, float], strict: bool
) -> list[MetricChange]:
    """Macro averages over the compared cases (for each metric, those with a value on
    both sides), with the bootstrap of that average: a single test at 95%."""
    changes = []
    for metric in METRICS:
        both = [
            (b, a) for b, a in pairs if b.point[metric] is not None and a.point[metric] is not None
        ]
        if not both:
            changes.append(_not_comparable(metric, None, None))
            continue
        before = sum(b.point[metric] or 0.0 for b, _ in both) / len(both)
        after = sum(a.point[metric] or 0.0 for _, a in both) / len(both)
        deltas = _mean([a.samples[metric] for _, a in both]) - _mean(
            [b.samples[metric] for b, _ in both]
        )
        test = _Test(metric, before, after, deltas, _aggregate_method(both))
        changes.append(_change(test, tolerances.get(metric), strict))
    return changes


def _signature(variants: Iterable[VariantResult]) -> tuple[tuple[str, str, str | None], ...]:
    """What makes a case the same case: its variants' uids, prompts and references."""
    return tuple(sorted((v.uid, v.prompt, v.reference) for v in variants))


def _cases(report: ComparedRun) -> dict[str, tuple[str, list[VariantResult], CaseResult | None]]:
    """uid -> (suite, variants, stored result) for every case the report mentions."""
    grouped = report.variants_by_case()
    stored = {c.uid: c for c in report.cases}
    found: dict[str, tuple[str, list[VariantResult], CaseResult | None]] = {}
    for uid in sorted(set(grouped) | set(stored)):
        variants = grouped.get(uid, [])
        case = stored.get(uid)
        suite = case.suite if case is not None else variants[0].suite
        found[uid] = (suite, variants, case)
    return found


def _one_sided(
    scope: str, level: Level, status: ScopeStatus, side: _Side, baseline_side: bool
) -> ScopeComparison:
    """An added or removed case or suite: its figures on the side that has it."""
    changes = [
        _not_comparable(
            m,
            side.point[m] if baseline_side else None,
            None if baseline_side else side.point[m],
        )
        for m in METRICS
    ]
    return ScopeComparison(
        scope=scope,
        level=level,
        answers_before=side.answers if baseline_side else 0,
        answers_after=0 if baseline_side else side.answers,
        status=status,
        metrics=changes,
    )


def _opt_round(value: float | None) -> float | None:
    return None if value is None else _round(value)


def _suite_side(sides: list[_Side]) -> _Side:
    """A whole suite that exists on one side only, for `_one_sided`."""
    point: dict[Metric, float | None] = {}
    for metric in METRICS:
        values = [s.point[metric] for s in sides if s.point[metric] is not None]
        point[metric] = sum(v for v in values if v is not None) / len(values) if values else None
    return _Side(sum(s.answers for s in sides), point, {})


def _case_sides(
    uid: str,
    old: tuple[str, list[VariantResult], CaseResult | None],
    new: tuple[str, list[VariantResult], CaseResult | None],
    *,
    seed: int,
    resamples: int,
    paired: bool,
) -> tuple[_Side, _Side, list[_Test]]:
    """Both sides of a case both runs have unchanged, and the test of each metric: paired
    when its variants pair (FC by McNemar where the answers pair too), else unpaired."""
    before_answers, after_answers = CaseAnswers.of(old[1]), CaseAnswers.of(new[1])
    points = _point(before_answers, old[2]), _point(after_answers, new[2])
    pairs = pair_variants(old[1], new[1]) if paired else None
    if pairs is None:
        sides = [
            _Side(len(answers), point, resample_metrics(answers, case_rng(seed, uid, i), resamples))
            for i, (answers, point) in enumerate(
                zip((before_answers, after_answers), points, strict=True)
            )
        ]
        methods: dict[Metric, Method] = dict.fromkeys(METRICS, "unpaired-bootstrap")
        p_values: dict[Metric, float | None] = dict.fromkeys(METRICS)
    else:
        drawn = paired_resample_metrics(pairs, case_rng(seed, uid, 2), resamples)
        sides = [
            _Side(len(answers), point, samples, paired=True)
            for answers, point, samples in zip(
                (before_answers, after_answers), points, drawn, strict=True
            )
        ]
        methods = dict.fromkeys(METRICS, "paired-bootstrap")
        discordant = discordant_pairs(pairs)
        p_values = swap_p_values(swap_units(pairs), case_rng(seed, uid, 3), resamples)
        if discordant is not None:
            methods["fc"] = "paired-mcnemar"
            p_values["fc"] = mcnemar_p(*discordant)
    before, after = sides
    tests = [
        _Test(
            m,
            before.point[m],
            after.point[m],
            after.samples[m] - before.samples[m],
            methods[m],
            p_values[m],
        )
        for m in METRICS
    ]
    return before, after, tests


def _q_values(
    tests: dict[str, list[_Test]], fdr: float | None
) -> tuple[dict[tuple[str, Metric], float], int]:
    """Benjamini-Hochberg q-values of the gating metrics' p-values over the compared
    cases, and how many cases they come from; none when FDR control is off or fewer
    than two cases are compared."""
    family: list[tuple[tuple[str, Metric], float]] = []
    cases = set()
    for uid, measured in tests.items():
        for test in measured:
            if test.metric not in FDR_METRICS or not test.comparable:
                continue
            assert test.before is not None and test.after is not None and test.deltas is not None
            p = test.p_value
            if p is None:
                p = bootstrap_p(test.after - test.before, test.deltas)
            if p is not None:
                family.append(((uid, test.metric), p))
                cases.add(uid)
    if not fdr or len(cases) < 2:
        return {}, len(cases)
    adjusted = benjamini_hochberg([p for _, p in family])
    return {key: q for (key, _), q in zip(family, adjusted, strict=True)}, len(cases)


def compare_reports(
    baseline: ComparedRun,
    current: ComparedRun,
    name: str,
    *,
    si_tolerance: float,
    fc_tolerance: float,
    strict: bool = False,
    seed: int = 0,
    resamples: int = 1000,
    fdr: float | None = DEFAULT_FDR,
    paired: bool = True,
) -> BaselineComparison:
    """`current` against `baseline`: every case both runs have with the same variants is
    compared (SI, FC, RDR, each with the bootstrap interval of its delta, paired where
    the judged variants pair, FC by McNemar's exact test where the answers pair too);
    suites and the run are macro averages over those cases. Cases only one run has are
    `added` or `removed`; a case whose variants differ is `changed` and not compared. SI
    rising or FC falling past its tolerance, outside the noise (or at all when `strict`),
    is gated; RDR is shown, never gated. Outside the noise means, for a case, a q-value
    under `fdr` (Benjamini-Hochberg over the compared cases' SI and FC p-values), or
    with `fdr` None or 0 or a single compared case, a single test at 95%; for a suite
    and the run, always a single test. `paired=False` bootstraps every case unpaired."""
    if resamples < 1:
        raise ValueError(f"resamples must be positive, got {resamples}")
    if fdr is not None and not 0.0 <= fdr < 1.0:
        raise ValueError(f"fdr must be in [0, 1), got {fdr}")
    tolerances = {"si": si_tolerance, "fc": fc_tolerance}
    before_cases, after_cases = _cases(baseline), _cases(current)
    one_sided: dict[str, ScopeComparison] = {}
    changed_cases: dict[str, ScopeComparison] = {}
    measured: dict[str, list[_Test]] = {}
    counts: dict[str, tuple[int, int]] = {}
    compared: dict[str, list[tuple[_Side, _Side]]] = {}
    only: dict[str, list[_Side]] = {}  # suite -> sides of cases one run has
    for uid in sorted(set(before_cases) | set(after_cases)):
        old, new = before_cases.get(uid), after_cases.get(uid)
        if old is None or new is None:
            found = old if old is not None else new
            assert found is not None
            side = _side(
                CaseAnswers.of(found[1]), found[2], case_rng(seed, uid, 0 if old else 1), resamples
            )
            only.setdefault(f"{'-' if old else '+'}{found[0]}", []).append(side)
            status: ScopeStatus = "removed" if new is None else "added"
            one_sided[uid] = _one_sided(uid, "case", status, side, new is None)
            continue
        if _signature(old[1]) != _signature(new[1]):  # a changed case is shown, never compared
            before_answers, after_answers = CaseAnswers.of(old[1]), CaseAnswers.of(new[1])
            points = _point(before_answers, old[2]), _point(after_answers, new[2])
            changed_cases[uid] = ScopeComparison(
                scope=uid,
                level="case",
                answers_before=len(before_answers),
                answers_after=len(after_answers),
                status="changed",
                metrics=[_not_comparable(m, points[0][m], points[1][m]) for m in METRICS],
            )
            continue
        before, after, tests = _case_sides(
            uid, old, new, seed=seed, resamples=resamples, paired=paired
        )
        compared.setdefault(new[0], []).append((before, after))
        measured[uid] = tests
        counts[uid] = (before.answers, after.answers)
    q_values, fdr_cases = _q_values(measured, fdr)
    corrected = fdr if q_values else None
    case_scopes = []
    for uid in sorted(set(before_cases) | set(after_cases)):
        if uid in one_sided or uid in changed_cases:
            case_scopes.append(one_sided.get(uid) or changed_cases[uid])
            continue
        changes = [
            _change(
                t, tolerances.get(t.metric), strict, q=q_values.get((uid, t.metric)), fdr=corrected
            )
            for t in measured[uid]
        ]
        case_scopes.append(
            ScopeComparison(
                scope=uid,
                level="case",
                answers_before=counts[uid][0],
                answers_after=counts[uid][1],
                status="compared",
                metrics=changes,
            )
        )
    suites_before = {s for s, _, _ in before_cases.values()}
    suites_after = {s for s, _, _ in after_cases.values()}
    suite_scopes = []
    for suite in sorted(suites_before | suites_after):
        if suite not in suites_after or suite not in suites_before:
            removed = suite not in suites_after
            members = only.get(f"{'-' if removed else '+'}{suite}", [])
            status = "removed" if removed else "added"
            suite_scopes.append(_one_sided(suite, "suite", status, _suite_side(members), removed))
            continue
        pairs = compared.get(suite, [])
        suite_scopes.append(_scope(suite, "suite", pairs, tolerances, strict))
    every = [pair for pairs in compared.values() for pair in pairs]
    run_scope = _scope("run", "run", every, tolerances, strict)
    return BaselineComparison(
        name=name,
        baseline_run_id=baseline.run_id,
        baseline_finished_at=baseline.finished_at,
        tolerances=tolerances,
        strict=strict,
        seed=seed,
        resamples=resamples,
        scopes=[run_scope, *suite_scopes, *case_scopes],
        fdr=corrected,
        fdr_tests=len(q_values),
        fdr_cases=fdr_cases if q_values else 0,
    )


def _scope(
    scope: str,
    level: Level,
    pairs: list[tuple[_Side, _Side]],
    tolerances: Mapping[str, float],
    strict: bool,
) -> ScopeComparison:
    """The run or a suite, over its compared cases."""
    return ScopeComparison(
        scope=scope,
        level=level,
        answers_before=sum(b.answers for b, _ in pairs),
        answers_after=sum(a.answers for _, a in pairs),
        status="compared",
        metrics=_aggregate(pairs, tolerances, strict),
    )
