"""The terminal summary printed after pytest's own: one row per case, then totals.

Names in it (suites, cases, judges) come from suite files and plugins: each cell is shown
with its control characters escaped, so nothing in a name can drive the terminal.
"""

from __future__ import annotations

from tabulate import tabulate

from stabtest.core.report import RunReport
from stabtest.core.results import CaseMetrics, RunSummary
from stabtest.core.text import for_terminal, terminal_safe
from stabtest.reporting.agreement_text import agreement_line
from stabtest.reporting.repeats_text import figure, repeated


def _cell(text: object) -> str:
    """One table cell on one line, shortened and escaped (before tabulate measures it)."""
    return for_terminal(str(text), 200, layout=False)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ap_lines(summary: RunSummary) -> list[str]:
    """Annotation Precision of the ensemble and of each judge, when humans labelled
    answers of this run (their labels override the automatic verdicts)."""
    if not summary.human_labelled:
        return []
    judges = ", ".join(
        f"{_cell(j)} {_fmt(a.ap)} (bal. acc. {_fmt(a.balanced_accuracy)})"
        for j, a in sorted(summary.agreement_per_judge.items())
    )
    return [
        f"human labels: {summary.human_labelled} answer(s) | ensemble "
        f"{agreement_line(summary.agreement)}",
        *([f"AP per judge: {judges}"] if judges else []),
    ]


def _escalation_line(report: RunReport) -> list[str]:
    """How many answers went to humans, and whose doubt sent them: the least confident
    judge that voted (or "no judge could decide")."""
    causes: dict[str, int] = {}
    for variant in report.variants:
        for answer in variant.answers:
            verdict = answer.verdict
            if verdict.outcome != "escalate":
                continue
            cast = [v for v in verdict.votes if v.outcome != "abstain"]
            if not cast:
                cause = "no judge could decide"
            else:
                weakest = min(cast, key=lambda v: v.confidence)
                rule = weakest.reason.rsplit("[", 1)[1].rstrip("]") if "[" in weakest.reason else ""
                cause = f"{weakest.judge} {rule}".strip() + f" ({weakest.confidence:.2f})"
            causes[cause] = causes.get(cause, 0) + 1
    if not causes:
        return []
    parts = ", ".join(f"{n} {_cell(c)}" for c, n in sorted(causes.items(), key=lambda kv: -kv[1]))
    threshold = report.settings.get("escalate_below")
    return [
        f"escalated to humans: {sum(causes.values())} answer(s) below escalate_below "
        f"{threshold}: {parts}"
    ]


def _challenge_line(summary: RunSummary) -> list[str]:
    """The FlipFlop result when cases were challenged ("Are you sure?")."""
    if summary.flips is None:
        return []
    return [
        f"challenge: flip rate {_fmt(summary.flip_rate)} (mean over challenged cases), "
        f"{summary.flips} flip(s), {summary.correct_to_wrong} correct->wrong"
    ]


def _evidence_line(summary: RunSummary) -> list[str]:
    """The evidence probes' result: answers wrong at first that a true, sourced
    correction did or did not fix, and right ones it broke."""
    if summary.first_wrong is None:
        return []
    return [
        f"evidence: failed to update {_fmt(summary.update_failure_rate)} (mean over cases "
        f"wrong before the evidence), {summary.updated}/{summary.first_wrong} updated, "
        f"{summary.failed_to_update} failed to update, "
        f"{summary.evidence_right_to_wrong} right->wrong"
    ]


def _adversarial_tables(report: RunReport) -> list[str]:
    """Per suite with adversarial variants: each family's FC on the original prompts and
    on the attacked ones, and the Performance Drop Rate (stabtest.core.pdr)."""
    out = []
    for suite, summary in report.suites.items():
        if not summary.adversarial:
            continue
        rows = [
            [
                _cell(family),
                a.variants,
                a.cases,
                _fmt(a.fc_clean),
                _fmt(a.fc_attacked),
                _fmt(a.pdr),
            ]
            for family, a in summary.adversarial.items()
        ]
        headers = ["family", "variants", "cases", "FC clean", "FC attacked", "PDR"]
        out += [
            f"adversarial: {_cell(suite)} (PDR = 1 - FC attacked / FC clean)",
            tabulate(rows, headers=headers, disable_numparse=True),
        ]
    return out


def _repeat_cells(m: CaseMetrics) -> list[str]:
    """Pass rate with its Wilson interval, then pass^k (k named in the cell) and pass@k."""
    if m.pass_rate is None:
        return ["-", "-", "-"]
    k = f" (k={m.k})" if m.pass_hat_k is not None else ""
    return [
        figure(m.pass_rate, m.pass_rate_ci),
        figure(m.pass_hat_k, m.pass_hat_k_ci) + k,
        figure(m.pass_at_k, m.pass_at_k_ci),
    ]


def render_summary(report: RunReport) -> str:
    by_case = report.variants_by_case()
    split = any(case.metrics.si_within is not None for case in report.cases)
    rows = []
    for case in report.cases:
        outcomes = [v.outcome for v in by_case.get(case.uid, []) if not v.rejected]
        m = case.metrics
        rows.append(
            [
                _cell(case.suite),
                _cell(case.case_id),
                f"{outcomes.count('pass')}/{len(outcomes)}",
                outcomes.count("escalate") or "",
                _fmt(m.si),
                *([_fmt(m.si_within), _fmt(m.si_between)] if split else []),
                _fmt(m.fc),
                _fmt(m.rdr),
                "PASS" if case.passed else "FAIL",
            ]
        )
    headers = ["suite", "case", "variants ok", "escalated", "SI"]
    headers += ["SI within", "SI between"] if split else []
    headers += ["FC", "RDR", "case"]
    if any(repeated(case.metrics) for case in report.cases):  # only when cases sample
        headers[-1:-1] = ["pass rate", "pass^k", "pass@k"]
        for row, case in zip(rows, report.cases, strict=True):
            row[-1:-1] = _repeat_cells(case.metrics)
    challenged = any(case.metrics.flips is not None for case in report.cases)
    if challenged:  # FlipFlop columns only when some case was challenged
        headers[-1:-1] = ["flips", "c->w"]
        for row, case in zip(rows, report.cases, strict=True):
            m = case.metrics
            row[-1:-1] = (
                ["-", "-"] if m.flips is None else [_fmt(m.flip_rate), str(m.correct_to_wrong)]
            )
    if any(case.metrics.evidence_threads is not None for case in report.cases):
        headers[-1:-1] = ["updated", "no update", "r->w"]  # only with evidence probes
        for row, case in zip(rows, report.cases, strict=True):
            m = case.metrics
            row[-1:-1] = (
                ["-", "-", "-"]
                if m.evidence_threads is None
                else [
                    f"{m.updated}/{m.first_wrong}",
                    _fmt(m.update_failure_rate),
                    str(m.evidence_right_to_wrong),
                ]
            )
    table = tabulate(rows, headers=headers, disable_numparse=True)
    s = report.summary
    si_parts = f" (within {_fmt(s.si_within)}, between {_fmt(s.si_between)})" if split else ""
    totals = (
        f"cases {s.cases - s.cases_failed}/{s.cases} passed, "
        f"variants {s.variants - s.variants_failed - s.escalated}/{s.variants} passed, "
        f"{s.escalated} escalated to humans | "
        f"SI {_fmt(s.si)}{si_parts} (lower is better), FC {_fmt(s.fc)}, RDR {_fmt(s.rdr)}, "
        f"AP {_fmt(s.ap)}"
    )
    if any(repeated(case.metrics) for case in report.cases):
        totals += f", pass rate {_fmt(s.pass_rate)} (mean over cases)"
    lines = [table, totals, *_challenge_line(s), *_evidence_line(s)]
    lines += [*_escalation_line(report), *_ap_lines(s)]
    lines += _adversarial_tables(report)
    g = report.generation
    if g.requests:
        lines.append(
            f"generation: {g.requests} requests, {g.cached} from the cache, "
            f"{g.generated} generated in {g.generate_seconds:.1f} s; "
            f"embedding {g.embed_seconds:.1f} s"
        )
    return terminal_safe("\n".join(lines))
