"""What the dashboard template shows, as plain records built from the report.

The template only lays these out: grouping, counting and reading the loosely typed
remediation JSON (either schema version) happen here, where mypy checks them. Text
stays raw; the template escapes it (Jinja2 autoescape).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stabtest.core.report import RunReport
from stabtest.core.results import CaseResult, VariantResult
from stabtest.reporting.agreement_text import agreement_line
from stabtest.reporting.dashboard_figures import REMEDIATION_MEASURES, as_mapping
from stabtest.reporting.remediation_view import SCHEMA_VERSION
from stabtest.reporting.repeats_text import repeat_line


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
    def repeats(self) -> str | None:
        """Pass rate, pass^k and pass@k with their intervals, for a case that samples
        each variant more than once (stabtest.reporting.repeats_text)."""
        if self.result is None:
            return None
        line = repeat_line(self.result.metrics)
        return None if line is None else f"{line}; {self.result.metrics.samples} samples each"

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
        *(
            [("pass rate", fmt(s.pass_rate) + " (mean over cases, over every sample)")]
            if any(c.metrics.samples > 1 for c in report.cases)
            else []
        ),
        ("AP", fmt(s.ap) + (f" ({s.human_labelled} human labels)" if s.human_labelled else "")),
        *([("per class", agreement_line(s.agreement))] if s.human_labelled else []),
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


def text(value: object) -> str:
    """A string from remediation.json for a cell: blank when it is not a string."""
    return value if isinstance(value, str) else ""


def number(value: object, digits: int = 3) -> str:
    """A number from remediation.json for a cell: blank when it is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    return fmt(value, digits)


def setting(value: object) -> str:
    """A count or hyperparameter as written (2e-05, not 0.000); blank when not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    return f"{value:g}"


def flag(value: object, yes: str = "yes", no: str = "no") -> str:
    """A JSON boolean for a cell: blank when it is not one."""
    return (yes if value else no) if isinstance(value, bool) else ""


def rows_of(value: object) -> list[Mapping[str, Any]]:
    """A JSON list of objects; an item that is not an object reads as an empty one."""
    return [as_mapping(item) for item in value] if isinstance(value, list) else []


def change(before: object, after: object) -> str:
    """`before -> after`, each blank when it is not a number; blank when neither is."""
    b, a = number(before), number(after)
    return f"{b} \u2192 {a}" if b or a else ""


STATUSES = ("accepted", "rejected", "interrupted")
SUITE_MEASURES = (("si", "SI"), ("fc", "FC"), ("rdr", "RDR"), ("pass_rate", "pass rate"))


@dataclass
class CriterionView:
    """One gate criterion; `passed` is None when the file does not say."""

    name: str
    statistic: str
    estimate: str
    interval: str
    threshold: str
    passed: bool | None
    line: str
    advice: str


def criterion_view(data: Mapping[str, Any]) -> CriterionView:
    interval = as_mapping(data.get("interval"))
    low, high = number(interval.get("low")), number(interval.get("high"))
    passed = data.get("passed")
    return CriterionView(
        name=text(data.get("name")),
        statistic=text(data.get("statistic")),
        estimate=number(data.get("estimate")),
        interval=f"[{low}, {high}]" if low and high else "",
        threshold=number(data.get("threshold")),
        passed=passed if isinstance(passed, bool) else None,
        line=text(data.get("line")),
        advice=text(data.get("advice")) if passed is False else "",
    )


@dataclass
class TrialView:
    """One checkpoint the search scored on the validation wordings."""

    learning_rate: str
    retain_weight: str
    lora_r: str
    epochs: str
    step: str
    objective: str
    si: str
    fc: str
    kept: str
    admissible: str
    chosen: bool


def trial_view(data: Mapping[str, Any]) -> TrialView:
    return TrialView(
        learning_rate=setting(data.get("learning_rate")),
        retain_weight=setting(data.get("retain_weight")),
        lora_r=setting(data.get("lora_r")),
        epochs=setting(data.get("epochs")),
        step=setting(data.get("step")),
        objective=number(data.get("objective")),
        si=change(data.get("si_before"), data.get("si_after")),
        fc=change(data.get("fc_before"), data.get("fc_after")),
        kept=number(data.get("kept")),
        admissible=flag(data.get("admissible")),
        chosen=data.get("chosen") is True,
    )


@dataclass
class SearchView:
    """The hyperparameter search of the round: what it tried and what it chose."""

    facts: list[tuple[str, str]]
    chosen: str
    trials: list[TrialView]


def search_view(data: Mapping[str, Any], chosen_step: object, steps: object) -> SearchView:
    trials = [trial_view(t) for t in rows_of(data.get("trials"))]
    facts = [
        ("configurations tried", setting(data.get("configs_tried"))),
        ("checkpoints scored", str(len(trials))),
        ("seconds", number(data.get("seconds"), 1)),
        ("budget (minutes)", setting(data.get("budget_minutes"))),
        ("stopped by the budget", flag(data.get("stopped_by_budget"))),
        ("interrupted", flag(data.get("interrupted"))),
    ]
    pick = next((t for t in trials if t.chosen), None)
    chosen = ""
    if pick is not None:
        chosen = (
            f"lr {pick.learning_rate}, retain weight {pick.retain_weight}, LoRA r {pick.lora_r}, "
            f"{pick.epochs} epoch(s)"
        )
    step, of = setting(chosen_step) or (pick.step if pick else ""), setting(steps)
    if step:
        chosen += (", " if chosen else "") + f"step {step}" + (f" of {of}" if of else "")
    return SearchView(facts=[f for f in facts if f[1]], chosen=chosen, trials=trials)


@dataclass
class SuiteRowView:
    """One suite's cases of one role, before and after the round."""

    suite: str
    role: str
    cases: str
    changes: list[str]


@dataclass
class RoundView:
    """One round of a multi-round run, from its manifest under `rounds`."""

    round: str
    status: str
    model: str
    examples: str
    chosen_step: str
    missed: list[str]


@dataclass
class RemediationView:
    """remediation.json as the page shows it; whatever is missing or mistyped is blank.
    The fields after `per_case` come with schema version 2 and stay empty for older files."""

    model: str
    accepted: bool | None
    missed: list[str]
    details: list[tuple[str, str]]
    sides: list[tuple[str, list[tuple[str, str, str]]]]
    per_case: list[dict[str, str]] = field(default_factory=list)
    status: str = ""
    notice: str = ""
    accepted_model: str = ""
    criteria: list[CriterionView] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)
    roles: list[tuple[str, str]] = field(default_factory=list)
    families: list[tuple[str, str]] = field(default_factory=list)
    search: SearchView | None = None
    suite_measures: list[str] = field(default_factory=list)
    per_suite: list[SuiteRowView] = field(default_factory=list)
    rounds: list[RoundView] = field(default_factory=list)

    @property
    def case_roles(self) -> bool:
        """Whether the per-case table has a role column (schema 2)."""
        return any(row["role"] for row in self.per_case)


V1_DETAILS = (
    ("round", "round"),
    ("method", "method"),
    ("examples", "training examples"),
    ("steps", "steps"),
    ("seconds", "training seconds"),
    ("seed", "rerun seed"),
)
V2_DETAILS = (
    ("round", "round"),
    ("method", "method"),
    ("examples", "training examples"),
    ("steps", "steps"),
    ("chosen_step", "chosen step"),
    ("training_seconds", "training seconds"),
    ("seconds", "round seconds"),
    ("seed", "rerun seed"),
)
ROLES = (
    ("treated", "treated cases"),
    ("retain", "retain cases"),
    ("control", "control cases"),
    ("validation_prompts", "validation wordings"),
    ("held_back_for_validation", "examples held back for validation"),
)


def remediation_view(data: Mapping[str, Any]) -> RemediationView:
    found = data.get("schema_version")
    version = found if isinstance(found, int) and not isinstance(found, bool) else 1
    v2 = version >= 2
    accepted = data.get("accepted")
    missed = data.get("missed")
    details = [
        (name, fmt(data.get(key)))
        for key, name in (V2_DETAILS if v2 else V1_DETAILS)
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
    for row in rows_of(data.get("per_case")):
        before, after = as_mapping(row.get("before")), as_mapping(row.get("after"))
        per_case.append(
            {
                "case": str(row.get("case", "?")),
                "role": text(row.get("role")),
                "trained": "yes" if row.get("trained") else "no",
                **{f"{k}_before": fmt(before.get(k)) for k in ("si", "fc", "rdr")},
                **{f"{k}_after": fmt(after.get(k)) for k in ("si", "fc", "rdr")},
            }
        )
    view = RemediationView(
        model=str(data.get("model", "")),
        accepted=accepted if isinstance(accepted, bool) else None,
        missed=[str(m) for m in missed] if isinstance(missed, list) else [],
        details=details,
        sides=sides,
        per_case=per_case,
        status=view_status(accepted) or "",
    )
    if v2:
        _add_v2(view, data, version)
    return view


def view_status(accepted: object) -> str | None:
    """A schema-1 file's verdict from its `accepted`."""
    if not isinstance(accepted, bool):
        return None
    return "accepted" if accepted else "rejected"


def _add_v2(view: RemediationView, data: Mapping[str, Any], version: int) -> None:
    """The schema-2 fields: status, criteria, advice, roles, search, per suite, rounds."""
    status = data.get("status")
    if status in STATUSES:  # else the verdict read from `accepted`, as schema 1
        view.status = status
    if version > SCHEMA_VERSION:
        view.notice = (
            f"written by a newer stabtest (schema version {version}, this one reads "
            f"{SCHEMA_VERSION}): what this page does not know is left out"
        )
    shipped = text(data.get("accepted_model"))
    view.accepted_model = shipped if shipped != view.model else ""
    view.criteria = [criterion_view(c) for c in rows_of(data.get("criteria"))]
    shown = {c.line for c in view.criteria} | {c.advice for c in view.criteria}
    view.missed = [line for line in view.missed if line not in shown]
    advice = data.get("advice")
    view.advice = (
        [a for a in advice if isinstance(a, str) and a and a not in shown]
        if isinstance(advice, list)
        else []
    )
    roles = as_mapping(data.get("roles"))
    view.roles = [(title, setting(roles.get(key))) for key, title in ROLES if key in roles]
    families = as_mapping(data.get("example_families"))
    view.families = [(str(name), setting(count)) for name, count in sorted(families.items())]
    search = as_mapping(data.get("search"))
    if search:
        view.search = search_view(search, data.get("chosen_step"), data.get("steps"))
    view.suite_measures = [title for _, title in SUITE_MEASURES]
    for row in rows_of(data.get("per_suite")):
        before, after = as_mapping(row.get("before")), as_mapping(row.get("after"))
        view.per_suite.append(
            SuiteRowView(
                suite=text(row.get("suite")),
                role=text(row.get("role")),
                cases=setting(before.get("cases")),
                changes=[change(before.get(key), after.get(key)) for key, _ in SUITE_MEASURES],
            )
        )
    for manifest in rows_of(data.get("rounds")):
        missed = manifest.get("missed")
        view.rounds.append(
            RoundView(
                round=setting(manifest.get("round")),
                status=view_status(manifest.get("accepted")) or "",
                model=text(manifest.get("model")),
                examples=setting(manifest.get("examples")),
                chosen_step=setting(manifest.get("chosen_step")),
                missed=[m for m in missed if isinstance(m, str)]
                if isinstance(missed, list)
                else [],
            )
        )
