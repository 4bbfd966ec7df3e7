"""An item's result as a few short name/value pairs: what CI systems show of a test.

pytest writes an item's user properties into `--junitxml`; CI systems (GitHub, GitLab,
Jenkins) show them beside the test. Each value is one line of at most `SHOWN` characters
(the JSON report keeps the texts whole), so the XML stays readable and small.
"""

from __future__ import annotations

from collections.abc import Sequence

from stabtest.core.results import AnswerResult, CaseResult, VariantResult
from stabtest.core.text import shorten_middle, terminal_safe
from stabtest.reporting.repeats_text import repeated

PREFIX = "stab_"
SHOWN = 200
UNDEFINED = "-"
"""FC of a case without a reference, as the terminal table writes it."""

Properties = list[tuple[str, str]]


def one_line(text: str, limit: int = SHOWN) -> str:
    """Whitespace collapsed, shortened in the middle, control characters escaped."""
    return terminal_safe(shorten_middle(" ".join(text.split()), limit), layout=False)


def _number(value: float | None) -> str:
    return UNDEFINED if value is None else f"{value:.3f}"


def shown_answer(result: VariantResult) -> AnswerResult | None:
    """The answer that decided the verdict: the first that did not pass, else the first."""
    return next((a for a in result.answers if a.verdict.outcome != "pass"), None) or next(
        iter(result.answers), None
    )


def variant_properties(result: VariantResult, prefix: str = PREFIX) -> Properties:
    """`stab_verdict` (pass, fail, escalate, rejected), `stab_confidence`, `stab_family`,
    `stab_attack` (adversarial variants), `stab_prompt`, and for the deciding answer
    `stab_answer`, `stab_category`, and `stab_reason` when it did not pass; each name
    after `prefix`."""
    verdict = "rejected" if result.rejected else result.outcome
    found: Properties = [
        ("verdict", verdict),
        ("confidence", f"{result.confidence:.2f}"),
        ("family", result.family),
        *([("attack", result.attack)] if result.attack else []),
        ("prompt", one_line(result.prompt)),
    ]
    answer = shown_answer(result)
    if answer is not None:
        found.append(("answer", one_line(answer.text)))
        if answer.verdict.category:
            found.append(("category", answer.verdict.category))
    if result.rejected:
        found.append(("reason", one_line(result.rejected)))
    elif answer is not None and answer.verdict.outcome != "pass":
        found.append(("reason", one_line(answer.verdict.reason)))
    return [(prefix + name, value) for name, value in found]


def whole_case_properties(result: CaseResult, variants: Sequence[VariantResult]) -> Properties:
    """A case collected as one item (`collect: per-case`): the case's properties, then
    each variant's under its id (`stab_v3_verdict`), so every name occurs once in the
    test case, as CI systems expect."""
    found = case_properties(result)
    for variant in variants:
        found += variant_properties(variant, prefix=f"{PREFIX}{variant.variant_id}_")
    return found


def case_properties(result: CaseResult) -> Properties:
    """`stab_si`, `stab_fc`, `stab_rdr` (3 decimals; FC `-` without a reference),
    `stab_passed` (true/false), the thresholds, answers, clusters and escalations, the
    repeat figures when the case samples each variant more than once
    (`repeat_properties`), and `stab_failures` when the case failed."""
    m = result.metrics
    found: Properties = [
        ("si", _number(m.si)),
        ("fc", _number(m.fc)),
        ("rdr", _number(m.rdr)),
        ("passed", "true" if result.passed else "false"),
        ("max_si", _number(result.max_si)),
        ("min_fc", _number(result.min_fc)),
        ("answers", str(m.answers)),
        ("clusters", str(m.clusters)),
        ("escalated", str(result.escalated)),
    ]
    if repeated(m):
        found += repeat_properties(result)
    if result.failures:
        found.append(("failures", one_line("; ".join(result.failures))))
    return [(PREFIX + name, value) for name, value in found]


def _interval(ci: tuple[float, float] | None) -> str:
    return UNDEFINED if ci is None else f"{ci[0]:.3f}-{ci[1]:.3f}"


def repeat_properties(result: CaseResult) -> Properties:
    """With several samples per variant: `samples`, `pass_rate` (and `pass_rate_ci`,
    the 95% Wilson interval `low-high`), `k`, `pass_hat_k` (pass^k), `pass_at_k`
    (pass@k) with theirs, and the repeat thresholds that applied."""
    m = result.metrics
    found: Properties = [
        ("samples", str(m.samples)),
        ("pass_rate", _number(m.pass_rate)),
        ("pass_rate_ci", _interval(m.pass_rate_ci)),
        ("k", UNDEFINED if m.k is None else str(m.k)),
        ("pass_hat_k", _number(m.pass_hat_k)),
        ("pass_hat_k_ci", _interval(m.pass_hat_k_ci)),
        ("pass_at_k", _number(m.pass_at_k)),
        ("pass_at_k_ci", _interval(m.pass_at_k_ci)),
    ]
    if result.min_pass_rate is not None:
        found.append(("min_pass_rate", _number(result.min_pass_rate)))
    if result.min_pass_k is not None:
        found.append(("min_pass_k", _number(result.min_pass_k)))
    return found
