"""Drift across runs: a least-squares slope of the run's SI and FC over the last N history
records, with its 95% interval (t distribution, n - 2 degrees of freedom). A metric
drifts when the interval excludes 0 on the bad side (SI rising, FC falling); `stabtest
history --trend N` prints `trend_lines`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from stabtest.reporting.history import HistoryRecord

TrendMetric = Literal["si", "fc"]
TREND_METRICS: tuple[TrendMetric, ...] = ("si", "fc")
RISING_IS_BAD: dict[TrendMetric, bool] = {"si": True, "fc": False}
DEFAULT_LAST = 10
MIN_RUNS = 3
"""A slope with an interval needs one degree of freedom: three runs."""
LEVEL = 0.95


@dataclass(frozen=True)
class Trend:
    """One metric's slope per run over `runs` runs (x: 0, 1, ... oldest first)."""

    metric: TrendMetric
    runs: int
    slope: float | None
    low: float | None
    high: float | None

    @property
    def drifting(self) -> bool:
        """The interval excludes 0 on the bad side."""
        if self.low is None or self.high is None:
            return False
        return self.low > 0 if RISING_IS_BAD[self.metric] else self.high < 0


def metric_trend(values: Sequence[float], metric: TrendMetric) -> Trend:
    """The slope of `values` (one per run, oldest first) and its 95% interval; None
    figures with fewer than `MIN_RUNS` values. Values that all agree have slope 0."""
    n = len(values)
    if n < MIN_RUNS:
        return Trend(metric, n, None, None, None)
    if max(values) - min(values) < 1e-12:
        return Trend(metric, n, 0.0, 0.0, 0.0)
    from scipy.stats import linregress
    from scipy.stats import t as student

    fit = linregress(list(range(n)), list(values))
    slope, stderr = float(fit.slope), float(fit.stderr)
    half = float(student.ppf(0.5 + LEVEL / 2, n - 2)) * stderr
    if math.isnan(half):
        half = 0.0
    return Trend(metric, n, slope, slope - half, slope + half)


def trends(records: Sequence[HistoryRecord], *, last: int = DEFAULT_LAST) -> list[Trend]:
    """SI and FC of the run over the last `last` records (oldest first, as `read_history`
    returns them) that have the metric."""
    if last < 1:
        raise ValueError(f"last must be positive, got {last}")
    found = []
    for metric in TREND_METRICS:
        values = [v for r in records if (v := getattr(r.run, metric)) is not None]
        found.append(metric_trend(values[-last:], metric))
    return found


def trend_lines(records: Sequence[HistoryRecord], *, last: int = DEFAULT_LAST) -> list[str]:
    """One line per metric for the terminal, e.g. `trend SI over the last 10 runs:
    +0.012/run [95% +0.004, +0.020]: DRIFTING (rising)`."""
    lines = []
    for trend in trends(records, last=last):
        name = trend.metric.upper()
        if trend.slope is None or trend.low is None or trend.high is None:
            lines.append(
                f"trend {name}: needs {MIN_RUNS} runs with {name}, the history has {trend.runs}"
            )
            continue
        word = "rising" if trend.slope > 0 else "falling"
        state = f"DRIFTING ({word})" if trend.drifting else "steady"
        lines.append(
            f"trend {name} over the last {trend.runs} runs: {trend.slope:+.4f}/run "
            f"[95% {trend.low:+.4f}, {trend.high:+.4f}]: {state}"
        )
    return lines
