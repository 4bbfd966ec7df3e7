"""A run against a baseline run: per case, per suite and for the run, with uncertainty.

Pure: both sides are `RunReport`s, read through the `ComparedRun` protocol, and
everything is recomputed from their answers (each `AnswerResult` carries its cluster id
and `correct` flag), so a baseline needs no model, cache or judge. Every delta has a
seeded bootstrap interval over answers; a change whose interval includes 0 is noise and
gates nothing unless `strict`.
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


def _round(value: float) -> float:
    return round(value, 6)


def _verdict(
    metric: Metric, delta: float, interval: Interval | None, tolerance: float | None, strict: bool
) -> tuple[Verdict, bool]:
    """How a change reads, and whether it gates: worse past the tolerance, and outside
    the noise unless strict. A change without an interval (no answers to resample) is
    taken at face value."""
    if abs(delta) < _SAME:
        return "unchanged", False
    worse = (delta > 0) == LOWER_IS_BETTER[metric]
    past = tolerance is not None and worse and abs(delta) > tolerance + _SAME
    if interval is not None and interval.contains_zero():
        return "within_noise", past and strict
    return ("worse" if worse else "better"), past


def _change(
    metric: Metric,
    before: float | None,
    after: float | None,
    deltas: FloatArray | None,
    tolerance: float | None,
    strict: bool,
) -> MetricChange:
    if before is None or after is None or deltas is None:
        return MetricChange(
            metric=metric,
            before=None if before is None else _round(before),
            after=None if after is None else _round(after),
            delta=None,
            interval=None,
            verdict="not_comparable",
            gated=False,
        )
    delta = after - before
    interval = percentile_interval(deltas)
    verdict, gated = _verdict(metric, delta, interval, tolerance, strict)
    return MetricChange(
        metric=metric,
        before=_round(before),
        after=_round(after),
        delta=_round(delta),
        interval=interval,
        verdict=verdict,
        gated=gated,
    )


@dataclass
class _Side:
    """One case in one run: point values and bootstrap samples of each metric."""

    answers: int
    point: dict[Metric, float | None]
    samples: dict[Metric, FloatArray]


def _side(
    answers: CaseAnswers, stored: CaseResult | None, rng: np.random.Generator, resamples: int
) -> _Side:
    """Recomputed from the answers; a case whose answers the report lacks keeps its stored
    metrics, without an interval."""
    point = answers.point()
    if not answers and stored is not None:
        m = stored.metrics
        point = {"si": m.si, "fc": m.fc, "rdr": m.rdr}
    return _Side(len(answers), point, resample_metrics(answers, rng, resamples))


def _mean(rows: list[FloatArray]) -> FloatArray:
    """Per resample, the mean over cases of the values present (NaN where none is)."""
    import numpy as np

    stacked = np.vstack(rows)
    present = ~np.isnan(stacked)
    count = present.sum(axis=0)
    total = np.where(present, stacked, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _aggregate(
    pairs: list[tuple[_Side, _Side]], tolerances: Mapping[str, float], strict: bool
) -> list[MetricChange]:
    """Macro averages over the compared cases (for each metric, those with a value on
    both sides), with the bootstrap of that average."""
    changes = []
    for metric in METRICS:
        both = [
            (b, a) for b, a in pairs if b.point[metric] is not None and a.point[metric] is not None
        ]
        if not both:
            changes.append(_change(metric, None, None, None, None, strict))
            continue
        before = sum(b.point[metric] or 0.0 for b, _ in both) / len(both)
        after = sum(a.point[metric] or 0.0 for _, a in both) / len(both)
        deltas = _mean([a.samples[metric] for _, a in both]) - _mean(
            [b.samples[metric] for b, _ in both]
        )
        changes.append(_change(metric, before, after, deltas, tolerances.get(metric), strict))
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
        MetricChange(
            metric=m,
            before=_opt_round(side.point[m]) if baseline_side else None,
            after=None if baseline_side else _opt_round(side.point[m]),
            delta=None,
            interval=None,
            verdict="not_comparable",
            gated=False,
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
) -> BaselineComparison:
    """`current` against `baseline`: every case both runs have with the same variants is
    compared (SI, FC, RDR, each with the bootstrap interval of its delta); suites and the
    run are macro averages over those cases. Cases only one run has are `added` or
    `removed`; a case whose variants differ is `changed` and not compared. SI rising or FC
    falling past its tolerance, outside the noise (or at all when `strict`), is gated;
    RDR is shown, never gated."""
    if resamples < 1:
        raise ValueError(f"resamples must be positive, got {resamples}")
    tolerances = {"si": si_tolerance, "fc": fc_tolerance}
    before_cases, after_cases = _cases(baseline), _cases(current)
    case_scopes: list[ScopeComparison] = []
    compared: dict[str, list[tuple[_Side, _Side]]] = {}
    only: dict[str, list[_Side]] = {}  # suite -> sides of cases one run has
    for uid in sorted(set(before_cases) | set(after_cases)):
        old, new = before_cases.get(uid), after_cases.get(uid)
        sides = [
            None
            if found is None
            else _side(CaseAnswers.of(found[1]), found[2], case_rng(seed, uid, i), resamples)
            for i, found in enumerate((old, new))
        ]
        before, after = sides
        if old is None or new is None:
            side = before if before is not None else after
            assert side is not None
            suite = (old or new or ("",))[0]
            only.setdefault(f"{'-' if old else '+'}{suite}", []).append(side)
            status: ScopeStatus = "removed" if new is None else "added"
            case_scopes.append(_one_sided(uid, "case", status, side, new is None))
            continue
        assert before is not None and after is not None
        changed = _signature(old[1]) != _signature(new[1])
        if not changed:  # a changed case is shown, never compared
            compared.setdefault(new[0], []).append((before, after))
        changes = [
            _change(
                m,
                before.point[m],
                after.point[m],
                None if changed else after.samples[m] - before.samples[m],
                None if changed else tolerances.get(m),
                strict,
            )
            for m in METRICS
        ]
        case_scopes.append(
            ScopeComparison(
                scope=uid,
                level="case",
                answers_before=before.answers,
                answers_after=after.answers,
                status="changed" if changed else "compared",
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
