"""What the dashboard template shows, as plain records built from the report.

The template only lays these out: grouping, counting and reading the loosely typed
remediation JSON happen here, where mypy checks them. Text stays raw; the template
escapes it (Jinja2 autoescape).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stabtest.core.report import RunReport
from stabtest.core.results import CaseResult, VariantResult
from stabtest.reporting.dashboard_figures import REMEDIATION_MEASURES, as_mapping


def fmt(value: object, digits: int = 3) -> str:
    """A metric for a cell: `-` when undefined."""
    if value is None or isinstance(value, bool):
        return "-" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def when(timestamp: float | None) -> str:
    """A Unix time as UTC, to the second."""
    if timestamp is None:
        return "-"
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass
class CaseView:
    """One case of the drill-down: its result (None when the run never judged it, e.g.
    interrupted) and its variants in report order."""

    uid: str
    suite: str
    case_id: str
    result: CaseResult | None
    variants: list[VariantResult]

    @property
    def judged(self) -> list[VariantResult]:
        return [v for v in self.variants if not v.rejected]

    def count(self, outcome: str) -> int:
        return sum(v.outcome == outcome for v in self.judged)

    @property
    def status(self) -> str:
        """fail, escalate, pass, or none (no case result): the filter reads it."""
        if self.result is None:
            return "none"
        if not self.result.passed:
            return "fail"
        return "escalate" if self.count("escalate") or self.result.escalated else "pass"

    @property
    def attention(self) -> bool:
        """Worth a look: the case failed, was not judged, or one of its variants failed
        or escalated (a case can pass its gate with a failing variant)."""
        return self.status != "pass" or self.count("fail") > 0


def case_views(report: RunReport) -> list[CaseView]:
    """Every case with a result, then any case that has variants but no result."""
    grouped = report.variants_by_case()
    views = [CaseView(c.uid, c.suite, c.case_id, c, grouped.pop(c.uid, [])) for c in report.cases]
    for uid, variants in grouped.items():
        first = variants[0]
        views.append(CaseView(uid, first.suite, first.case_id, None, variants))
    return views


def run_facts(report: RunReport) -> list[tuple[str, str]]:
    """The run summary as (name, value) pairs."""
    s, g, settings = report.summary, report.generation, report.settings
    model = settings.get("model") or "(backend default)"
    per_judge = ", ".join(f"{j} {fmt(ap)}" for j, ap in sorted(s.ap_per_judge.items()))
    facts = [
        (
            "status",
            report.status + ("" if report.exitstatus is None else f" (exit {report.exitstatus})"),
        ),
        ("model", f"{model} ({settings.get('backend', '?')})"),
        ("seed", fmt(settings.get("seed"))),
        ("cases passed", f"{s.cases - s.cases_failed} / {s.cases}"),
        ("variants passed", f"{s.variants - s.variants_failed - s.escalated} / {s.variants}"),
        ("variants failed", str(s.variants_failed)),
        ("escalated to humans", str(s.escalated)),
        ("SI (lower is better)", fmt(s.si)),
        ("FC", fmt(s.fc)),
        ("RDR", fmt(s.rdr)),
        ("AP", fmt(s.ap) + (f" ({s.human_labelled} human labels)" if s.human_labelled else "")),
        *([("AP per judge", per_judge)] if per_judge else []),
        (
            "generation",
            f"{g.requests} requests, {g.cached} cached, {g.generated} generated in "
            f"{g.generate_seconds:.1f} s; embedding {g.embed_seconds:.1f} s",
        ),
        ("started", when(report.started_at)),
        ("duration", f"{max(report.finished_at - report.started_at, 0.0):.1f} s"),
        ("run id", report.run_id),
    ]
    return facts


@dataclass
class RemediationView:
    """remediation.json as the page shows it; whatever is missing or mistyped is blank."""

    model: str
    accepted: bool | None
    missed: list[str]
    details: list[tuple[str, str]]
    sides: list[tuple[str, list[tuple[str, str, str]]]]
    per_case: list[dict[str, str]] = field(default_factory=list)


def remediation_view(data: Mapping[str, Any]) -> RemediationView:
    accepted = data.get("accepted")
    missed = data.get("missed")
    details = [
        (name, fmt(data.get(key)))
        for key, name in (
            ("round", "round"),
            ("method", "method"),
            ("examples", "training examples"),
            ("steps", "steps"),
            ("seconds", "training seconds"),
            ("seed", "rerun seed"),
        )
        if key in data
    ]
    created = data.get("created_at")
    if isinstance(created, int | float) and not isinstance(created, bool):
        details.append(("finished", when(float(created))))
    sides = []
    for name, title in (("treated", "held-out (trained cases)"), ("control", "control")):
        side = as_mapping(data.get(name))
        if not side:
            continue
        before, after = as_mapping(side.get("before")), as_mapping(side.get("after"))
        rows = [(m, fmt(before.get(k)), fmt(after.get(k))) for k, m in REMEDIATION_MEASURES]
        sides.append((title, rows))
    per_case = []
    for row in data.get("per_case") or ():
        row = as_mapping(row)
        before, after = as_mapping(row.get("before")), as_mapping(row.get("after"))
        per_case.append(
            {
                "case": str(row.get("case", "?")),
                "trained": "yes" if row.get("trained") else "no",
                **{f"{k}_before": fmt(before.get(k)) for k in ("si", "fc", "rdr")},
                **{f"{k}_after": fmt(after.get(k)) for k in ("si", "fc", "rdr")},
            }
        )
    return RemediationView(
        model=str(data.get("model", "")),
        accepted=accepted if isinstance(accepted, bool) else None,
        missed=[str(m) for m in missed] if isinstance(missed, list) else [],
        details=details,
        sides=sides,
        per_case=per_case,
    )
