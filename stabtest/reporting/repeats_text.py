"""The repeat figures of a case (pass rate, pass^k, pass@k; stabtest.core.metrics) as
text, one spelling for the terminal, failure messages, JUnit properties and the dashboard.
"""

from __future__ import annotations

from stabtest.core.results import CaseMetrics

UNDEFINED = "-"


def figure(value: float | None, ci: tuple[float, float] | None, digits: int = 3) -> str:
    """`0.800 [0.49, 0.94]`: a figure and its 95% Wilson interval; `-` when undefined."""
    if value is None:
        return UNDEFINED
    shown = f"{value:.{digits}f}"
    return shown if ci is None else f"{shown} [{ci[0]:.2f}, {ci[1]:.2f}]"


def repeated(metrics: CaseMetrics) -> bool:
    """Whether the case asked each variant more than once (its figures are worth a column)."""
    return metrics.samples > 1


def repeat_line(metrics: CaseMetrics) -> str | None:
    """`pass rate 0.600 [0.36, 0.80] (9/15 judged), pass^3 0.200 [..], pass@3 0.800 [..]
    over 5 variants`; None for a case of one sample per variant or a report without them."""
    m = metrics
    if not repeated(m) or m.pass_rate is None:
        return None
    line = f"pass rate {figure(m.pass_rate, m.pass_rate_ci)} ({m.passing}/{m.judged} judged)"
    if m.pass_hat_k is not None:
        line += (
            f", pass^{m.k} {figure(m.pass_hat_k, m.pass_hat_k_ci)}, "
            f"pass@{m.k} {figure(m.pass_at_k, m.pass_at_k_ci)} over {m.variants_k} variant(s)"
        )
    return line
