"""Collects the results that items attach to their reports and builds the RunReport.

Runs in the controller process only, so it sees every xdist worker's results. The report
is written (atomically, by stabtest.core.report) also for failed or interrupted runs:
`status` says which, so a crashed run still leaves what it produced.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import TypeAdapter

from stabtest.core.report import REPORT_NAME, RunReport, Status, write_report
from stabtest.core.results import CaseResult, GenerationStats, VariantResult
from stabtest.core.settings import Settings
from stabtest.reporting.summary import by_suite, summarize

PayloadKind = Literal["variant", "case", "generation"]
_VARIANT = TypeAdapter(VariantResult)
_CASE = TypeAdapter(CaseResult)
_STATS = TypeAdapter(GenerationStats)


def encode_payload(kind: PayloadKind, record: VariantResult | CaseResult | GenerationStats) -> str:
    """One result as JSON for an item's report (it crosses xdist as a user property)."""
    adapters: dict[str, TypeAdapter[Any]] = {
        "variant": _VARIANT,
        "case": _CASE,
        "generation": _STATS,
    }
    adapter = adapters[kind]
    return f'{{"kind":"{kind}","data":{adapter.dump_json(record).decode()}}}'


class Recorder:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self.started_at = time.time()
        self.variants: dict[str, VariantResult] = {}
        self.cases: dict[str, CaseResult] = {}
        self.generation = GenerationStats()
        self.report_path: Path | None = None
        self.written: RunReport | None = None  # the report as last written
        self.error: str | None = None
        self.label_studio: dict[str, Any] | None = None

    def add_payload(self, payload: dict[str, Any]) -> None:
        """A payload made by `encode_payload`, parsed back to its typed record."""
        kind, data = payload["kind"], payload["data"]
        if kind == "generation":
            self.generation = self.generation.merged(_STATS.validate_python(data))
        elif kind == "variant":
            self.add_variant(_VARIANT.validate_python(data))
        else:
            self.add_case(_CASE.validate_python(data))

    def add_variant(self, result: VariantResult) -> None:
        self.variants[result.uid] = result

    def add_case(self, result: CaseResult) -> None:
        self.cases[result.uid] = result

    def has_results(self) -> bool:
        return bool(self.variants or self.cases)

    def report(self, status: Status = "running", exitstatus: int | None = None) -> RunReport:
        cases = sorted(self.cases.values(), key=lambda c: c.uid)
        variants = sorted(self.variants.values(), key=lambda v: v.uid)
        return RunReport(
            run_id=self.run_id,
            status=status,
            exitstatus=exitstatus,
            started_at=self.started_at,
            finished_at=time.time(),
            settings=self.settings.public(),
            summary=summarize(cases, variants),
            generation=self.generation,
            suites=by_suite(cases, variants),
            cases=cases,
            variants=variants,
            error=self.error,
            label_studio=self.label_studio,
        )

    def write(self, status: Status, exitstatus: int | None = None) -> Path:
        path = self.settings.report_path / REPORT_NAME
        self.written = self.report(status, exitstatus)
        write_report(path, self.written)
        self.report_path = path
        return path
