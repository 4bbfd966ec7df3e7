"""The acceptance gate of a remediation round, with paired bootstrap intervals.

Both models answer the same held-out variants, so every comparison is paired by case: a
bootstrap resample draws cases (with replacement) and reads both sides of each drawn
case. The improvement criterion (held-out SI down at least `min_si_drop`, relative)
needs its point estimate past the bar and an interval that excludes no change; the
non-inferiority criteria (held-out FC, control FC) are judged on the interval's lower
bound: "control FC within 0.02" means the 95% interval of its change lies above -0.02,
so a control set too small to show that cannot pass by luck. Every missed criterion
comes with one line saying why and one saying what the user can do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from stabtest.core.compare import Interval, percentile_interval
from stabtest.core.metrics import mean
from stabtest.core.results import CaseOutcome

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

RESAMPLES = 2000
ControlRule = Literal["interval", "estimate"]


@dataclass(frozen=True)
class Gate:
    """Defaults from the remediation issue: held-out SI down >= 40% relative, held-out FC
    not lower (interval above -0.02), control FC within 0.02 (interval), diversity across
    cases at least 0.8x (a guard against a model that collapses to one answer)."""

    min_si_drop: float = 0.4
    max_fc_drop: float = 0.02
    min_rdr_ratio: float = 0.8
    max_control_fc_drop: float = 0.02
    control_rule: ControlRule = "interval"
    """`estimate` judges control FC on its point estimate (small suites); the interval
    is reported either way."""


@dataclass
class Side:
    """Aggregates of a set of cases on one model."""

    cases: int = 0
    answers: int = 0
    si: float | None = None
    fc: float | None = None
    rdr: float | None = None
    pass_rate: float | None = None
    diversity: float | None = None
    """Distinct majority answers / cases: 1.0 when every question gets its own answer;
    a model that collapses to one answer for everything drops towards 1/cases."""


@dataclass(frozen=True)
class Criterion:
    name: str
    statistic: str
    """What `estimate` is: "relative drop", "change", "ratio"."""
    estimate: float | None
    interval: Interval | None
    threshold: float
    passed: bool
    line: str
    advice: str = ""


def majority(outcome: CaseOutcome) -> str:
    """A case's most common answer (whitespace and case folded)."""
    texts = Counter(
        " ".join(a.text.lower().split())
        for v in outcome.variants.values()
        if not v.rejected
        for a in v.answers
    )
    return texts.most_common(1)[0][0] if texts else ""


def summarize(outcomes: Sequence[CaseOutcome]) -> Side:
    variants = [v for o in outcomes for v in o.variants.values() if not v.rejected]
    return Side(
        cases=len(outcomes),
        answers=sum(o.case.metrics.answers for o in outcomes),
        si=mean(o.case.metrics.si for o in outcomes),
        fc=mean(o.case.metrics.fc for o in outcomes),
        rdr=mean(o.case.metrics.rdr for o in outcomes),
        pass_rate=(sum(v.outcome == "pass" for v in variants) / len(variants))
        if variants
        else None,
        diversity=len({majority(o) for o in outcomes}) / len(outcomes) if outcomes else None,
    )


@dataclass(frozen=True)
class Paired:
    """Both models' outcomes on the same cases, in the same order."""

    before: Sequence[CaseOutcome]
    after: Sequence[CaseOutcome]

    def metric(self, name: str) -> tuple[list[float], list[float]]:
        """Per-case values of `name` on both sides, for cases where both have one."""
        pairs = [
            (getattr(b.case.metrics, name), getattr(a.case.metrics, name))
            for b, a in zip(self.before, self.after, strict=True)
        ]
        kept = [(b, a) for b, a in pairs if b is not None and a is not None]
        return [float(b) for b, _ in kept], [float(a) for _, a in kept]


def _bootstrap(
    before: Sequence[float],
    after: Sequence[float],
    statistic: Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]],
    seed: int,
) -> Interval | None:
    """95% percentile interval of `statistic` over paired case resamples; `statistic`
    maps (resamples x cases) arrays of both sides to one value per resample."""
    import numpy as np

    if not before:
        return None
    rng = np.random.default_rng(seed)
    b, a = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    index = rng.integers(0, len(b), size=(RESAMPLES, len(b)))
    with np.errstate(invalid="ignore", divide="ignore"):
        samples = statistic(b[index], a[index])
    return percentile_interval(np.asarray(samples, dtype=float))


def _relative_drop(b: NDArray[np.float64], a: NDArray[np.float64]) -> NDArray[np.float64]:
    import numpy as np

    before, after = b.mean(axis=-1), a.mean(axis=-1)
    return np.where(before > 0, 1 - after / np.where(before > 0, before, 1), np.nan)


def _mean_change(b: NDArray[np.float64], a: NDArray[np.float64]) -> NDArray[np.float64]:
    return (a - b).mean(axis=-1)  # type: ignore[no-any-return]


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ci(interval: Interval | None) -> str:
    return "" if interval is None else f" (95% CI {interval.low:+.3f} to {interval.high:+.3f})"


def si_criterion(treated: Paired, gate: Gate, seed: int) -> Criterion:
    before, after = treated.metric("si")
    b, a = mean(before), mean(after)
    estimate = None if not b else 1 - (a or 0.0) / b
    interval = _bootstrap(before, after, _relative_drop, seed)
    if b == 0 and a == 0:
        passed, why = True, "no instability to remove"
    else:
        passed = (
            estimate is not None
            and estimate >= gate.min_si_drop
            and (interval is None or interval.low > 0 or gate.min_si_drop <= 0)
        )
        why = f"needs a drop of at least {gate.min_si_drop:.0%}" + (
            " with an interval above 0" if gate.min_si_drop > 0 else ""
        )
    drop = "-" if estimate is None else f"{estimate:+.0%}"
    return Criterion(
        name="held-out SI",
        statistic="relative drop",
        estimate=estimate,
        interval=interval,
        threshold=gate.min_si_drop,
        passed=passed,
        line=f"held-out SI {_f(b)} -> {_f(a)} (drop {drop}){_ci(interval)}"
        + ("" if passed else f": {why}"),
        advice=""
        if passed
        else "label more failures (stabtest push, then pull), give the search a larger "
        "--budget-minutes, or lower --min-si-drop",
    )


def fc_criterion(
    name: str, paired: Paired, margin: float, seed: int, rule: ControlRule = "interval"
) -> Criterion:
    before, after = paired.metric("fc")
    b, a = mean(before), mean(after)
    change = None if b is None or a is None else a - b
    interval = _bootstrap(before, after, _mean_change, seed)
    if change is None:
        passed = False
        line = f"{name}: no case to measure it on"
    else:
        bound = interval.low if (interval is not None and rule == "interval") else change
        passed = bound >= -margin - 1e-9
        line = f"{name} {_f(b)} -> {_f(a)} (change {change:+.3f}){_ci(interval)}"
        if not passed:
            judged = "the interval reaches" if rule == "interval" else "it drops"
            line += f": {judged} below -{margin:g}"
    advice = ""
    if change is None:
        advice = "add cases to measure on" + (
            " or raise --control-fraction" if name.startswith("control") else ""
        )
    elif not passed and name.startswith("control"):
        advice = (
            f"the model forgets what it was not trained on ({len(before)} control case(s)): "
            "raise --retain-weight, lower --lr or give the search a larger --budget-minutes; "
            "with few control cases add cases, or --control-rule estimate"
        )
    elif not passed:
        advice = "the corrections do not teach right answers: check the gold labels and references"
    return Criterion(
        name=name,
        statistic="change",
        estimate=change,
        interval=interval,
        threshold=-margin,
        passed=passed,
        line=line,
        advice=advice,
    )


def diversity_criterion(paired: Paired, gate: Gate, seed: int) -> Criterion:
    """Distinct majority answers across all cases, after / before, resampled by case."""
    import numpy as np

    if not paired.before:
        return Criterion("diversity", "ratio", None, None, gate.min_rdr_ratio, True, "no case")
    codes: dict[str, float] = {}
    before = [codes.setdefault(majority(o), float(len(codes))) for o in paired.before]
    after = [codes.setdefault(majority(o), float(len(codes))) for o in paired.after]

    def ratio(b: NDArray[np.float64], a: NDArray[np.float64]) -> NDArray[np.float64]:
        def distinct(x: NDArray[np.float64]) -> NDArray[np.float64]:
            ordered = np.sort(x, axis=-1)
            return 1 + (np.diff(ordered, axis=-1) != 0).sum(axis=-1)  # type: ignore[no-any-return]

        return distinct(a) / distinct(b)

    estimate = len(set(after)) / len(set(before))
    interval = _bootstrap(before, after, ratio, seed)
    passed = estimate >= gate.min_rdr_ratio
    n = len(before)
    line = (
        f"answer diversity across cases {len(set(before)) / n:.3f} -> {len(set(after)) / n:.3f}"
        f" (ratio {estimate:.2f}){_ci(interval)}"
    )
    if not passed:
        line += f": below {gate.min_rdr_ratio}x (the model collapses towards one answer)"
    return Criterion(
        name="diversity",
        statistic="ratio",
        estimate=estimate,
        interval=interval,
        threshold=gate.min_rdr_ratio,
        passed=passed,
        line=line,
        advice="" if passed else "train fewer steps or raise --retain-weight",
    )


def judge(treated: Paired, control: Paired, gate: Gate, seed: int = 0) -> list[Criterion]:
    """Every criterion of the gate, passed or not (the round is accepted when all pass)."""
    both = Paired([*treated.before, *control.before], [*treated.after, *control.after])
    return [
        si_criterion(treated, gate, seed),
        fc_criterion("held-out FC", treated, gate.max_fc_drop, seed + 1),
        fc_criterion("control FC", control, gate.max_control_fc_drop, seed + 2, gate.control_rule),
        diversity_criterion(both, gate, seed + 3),
    ]
