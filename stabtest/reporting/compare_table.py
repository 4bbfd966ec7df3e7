"""The baseline comparison in the terminal: what got worse first, what is only noise said
so, and a changed suite listed rather than compared.

Rows: the run, each suite, then the cases worth a look (gated, worse, within noise,
changed, added, removed), at most `limit` of them; cases that are unchanged or better are
counted in the footer. Every delta is shown with its 95% bootstrap interval; the `test`
column says whether the row was paired, and its p-values (a case's q-values, under FDR
control) for SI and FC; the footer says how cases were gated.
"""

from __future__ import annotations

import time

from tabulate import tabulate

from stabtest.core.compare import (
    LOWER_IS_BETTER,
    BaselineComparison,
    MetricChange,
    ScopeComparison,
)
from stabtest.core.text import for_terminal, terminal_safe

SHOWN_METRICS = ("si", "fc")
"""RDR is in the report with its interval, but never gates: the table keeps to SI and FC."""
_ORDER = {"regression": 0, "changed": 1, "worse": 2, "within noise": 3, "removed": 4, "added": 5}


def _num(value: float | None, sign: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.3f}" if sign else f"{value:.3f}"


def _values(change: MetricChange) -> str:
    if change.before is None and change.after is None:
        return "-"
    return f"{_num(change.before)} -> {_num(change.after)}"


def _delta(change: MetricChange) -> str:
    if change.delta is None:
        return ""
    if change.interval is None:
        return _num(change.delta, sign=True)
    low, high = change.interval.low, change.interval.high
    return f"{_num(change.delta, sign=True)} [{_num(low, sign=True)}, {_num(high, sign=True)}]"


def verdict(scope: ScopeComparison, strict: bool = False) -> str:
    """One word or phrase for a row: the gated metrics first, then the scope's status,
    then the most telling metric verdict."""
    gated = [m for m in scope.metrics if m.gated]
    if gated:
        noise = all(m.verdict == "within_noise" for m in gated)
        names = ", ".join(m.metric.upper() for m in gated)
        return f"REGRESSION: {names}" + (" (within noise; strict)" if noise else "")
    if scope.status == "changed":
        return "CHANGED (strict)" if strict else "changed, not compared"
    if scope.status != "compared":
        return scope.status
    shown = [m.verdict for m in scope.metrics if m.metric in SHOWN_METRICS]
    if "worse" in shown:
        return "worse, within tolerance"
    if "within_noise" in shown:
        return "within noise"
    if "better" in shown:
        return "better"
    if set(shown) <= {"not_comparable"}:
        return "not comparable"
    return "unchanged"


def _category(scope: ScopeComparison, strict: bool) -> str | None:
    """Why a case is listed, or None: unchanged and better cases are only counted, and so
    is noise in the better direction."""
    word = verdict(scope, strict)
    if word.startswith("REGRESSION"):
        return "regression"
    if scope.status != "compared":
        return scope.status
    if word == "worse, within tolerance":
        return "worse"
    leaning_worse = any(
        m.verdict == "within_noise"
        and (m.delta or 0.0) * (1 if LOWER_IS_BETTER[m.metric] else -1) > 0
        for m in scope.metrics
        if m.metric in SHOWN_METRICS
    )
    return "within noise" if leaning_worse else None


_PAIRING = {
    "paired-mcnemar": "paired",
    "paired-bootstrap": "paired",
    "unpaired-bootstrap": "unpaired",
    "mixed-bootstrap": "mixed",
}


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _test(scope: ScopeComparison) -> str:
    """`paired p 0.004/0.001`: how the row was tested, with SI's and FC's p (q where the
    case was corrected for multiplicity)."""
    shown = [m for m in scope.metrics if m.metric in SHOWN_METRICS]
    kinds = {_PAIRING[m.method] for m in shown if m.method is not None}
    if not kinds:
        return ""
    kind = kinds.pop() if len(kinds) == 1 else "mixed"
    corrected = any(m.q_value is not None for m in shown)
    values = "/".join(_p(m.q_value if corrected else m.p_value) for m in shown)
    return f"{kind} {'q' if corrected else 'p'} {values}"


def _row(scope: ScopeComparison, strict: bool) -> list[str]:
    by_metric: dict[str, MetricChange] = {m.metric: m for m in scope.metrics}
    cells = [
        for_terminal(scope.scope, 80, layout=False),
        f"{scope.answers_before} -> {scope.answers_after}",
    ]
    for metric in SHOWN_METRICS:
        change = by_metric.get(metric)
        cells += ["-", ""] if change is None else [_values(change), _delta(change)]
    return [*cells, _test(scope), verdict(scope, strict)]


def render_comparison(comparison: BaselineComparison, *, limit: int = 30) -> str:
    """The comparison as a headline, a table and a footer that counts the cases."""
    strict = comparison.strict
    cases = [s for s in comparison.scopes if s.level == "case"]
    categories = {s.scope: _category(s, strict) for s in cases}
    listed = sorted(
        (s for s in cases if categories[s.scope] is not None),
        key=lambda s: (_ORDER[categories[s.scope] or ""], s.scope),
    )
    rows = [_row(s, strict) for s in comparison.scopes if s.level != "case"]
    rows += [_row(s, strict) for s in listed[:limit]]
    if len(listed) > limit:
        rows.append([f"... {len(listed) - limit} more case(s)", "", "", "", "", "", "", ""])
    table = tabulate(
        rows,
        headers=[
            "scope",
            "answers",
            "SI",
            "ΔSI [95% CI]",
            "FC",
            "ΔFC [95% CI]",
            "test (SI/FC)",
            "verdict",
        ],
        disable_numparse=True,
    )
    return terminal_safe("\n".join([_headline(comparison), table, _footer(comparison, cases)]))


def _headline(comparison: BaselineComparison) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(comparison.baseline_finished_at))
    tol = comparison.tolerances
    rules = f"SI +{tol.get('si', 0):g}, FC -{tol.get('fc', 0):g}"
    rules += ", strict: noise and changed cases gate too" if comparison.strict else ""
    found = len(comparison.regressions)
    outcome = f"REGRESSION in {found} scope(s)" if found else "no regression"
    name = for_terminal(comparison.name, 100, layout=False)
    run = for_terminal(comparison.baseline_run_id, 60, layout=False)
    return f"baseline {name} (run {run}, {when}): {outcome} past tolerance ({rules})"


def _footer(comparison: BaselineComparison, cases: list[ScopeComparison]) -> str:
    compared = [s for s in cases if s.status == "compared"]
    kinds: dict[str, int] = {}
    for scope in compared:
        word = verdict(scope, comparison.strict)
        word = "regression" if word.startswith("REGRESSION") else word
        kinds[word] = kinds.get(word, 0) + 1
    counted = ", ".join(f"{n} {word}" for word, n in sorted(kinds.items()))
    other = ", ".join(
        f"{sum(s.status == status for s in cases)} {status}"
        for status in ("changed", "added", "removed")
        if any(s.status == status for s in cases)
    )
    return (
        f"cases: {len(compared)} compared"
        + (f" ({counted})" if counted else "")
        + (f"; {other}" if other else "")
        + f"\nΔ: after - before [95% bootstrap interval, {comparison.resamples} resamples]"
        + "\n"
        + _methods(compared)
        + "\n"
        + _gating(comparison, compared)
    )


def _methods(compared: list[ScopeComparison]) -> str:
    """How the compared cases were tested."""
    kinds: dict[str, int] = {}
    for scope in compared:
        for change in scope.metrics:
            if change.metric == "fc" and change.method is not None:
                kind = _PAIRING[change.method]
                kinds[kind] = kinds.get(kind, 0) + 1
    if not kinds:
        return "tests: bootstrap over answers (a report from before paired comparisons)"
    parts = []
    if kinds.get("paired"):
        parts.append(
            f"{kinds['paired']} paired (the same variants resampled on both sides; FC by "
            "McNemar's exact test on answers paired by variant and sample, SI by swapping "
            "pairs at random)"
        )
    if kinds.get("unpaired"):
        parts.append(f"{kinds['unpaired']} unpaired (bootstrap over answers, each run alone)")
    return "tests: " + "; ".join(parts)


def _gating(comparison: BaselineComparison, compared: list[ScopeComparison]) -> str:
    """How cases were gated: at a false discovery rate, or one by one."""
    if comparison.fdr is not None:
        return (
            f"cases gated at FDR {comparison.fdr:.0%} (Benjamini-Hochberg over "
            f"{comparison.fdr_cases} cases, {comparison.fdr_tests} SI/FC tests): a case "
            f"regresses when its q-value is under {comparison.fdr:g}; the run and suites "
            "are single tests at 95%"
        )
    if len(compared) == 1:
        return "1 case compared: tested alone at 95%, no multiplicity to correct"
    return (
        "cases tested one by one at 95% (no FDR control); a change that is not significant is noise"
    )
