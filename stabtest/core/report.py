"""The run report: one typed, versioned record, written and read by this module only.

Everything that outlives a run reads it: `stabtest report`, `stabtest push`, baselines,
history and dashboards. A report written by another schema version is refused with a
message that says which version it has and what to do, never half-parsed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stabtest.core.errors import StabtestError
from stabtest.core.results import CaseResult, GenerationStats, RunSummary, VariantResult

SCHEMA_VERSION = 2
REPORT_NAME = "stabtest.json"
Status = Literal["running", "complete", "interrupted"]
OPTIONAL_SECTIONS = ("error", "label_studio")
"""Written only when present: a run without them says nothing about them."""


class ReportError(StabtestError):
    """A report that cannot be read: missing, not JSON, another schema, or malformed."""


class RunReport(BaseModel):
    """What one run produced: settings, summaries, every case and variant result."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    run_id: str
    status: Status
    exitstatus: int | None = None
    started_at: float
    finished_at: float
    settings: dict[str, Any] = Field(default_factory=dict)
    summary: RunSummary
    generation: GenerationStats
    suites: dict[str, RunSummary] = Field(default_factory=dict)
    cases: list[CaseResult] = Field(default_factory=list)
    variants: list[VariantResult] = Field(default_factory=list)
    error: str | None = None
    label_studio: dict[str, Any] | None = None

    def variants_by_case(self) -> dict[str, list[VariantResult]]:
        """Variants grouped under their case's uid, in report order."""
        grouped: dict[str, list[VariantResult]] = {}
        for variant in self.variants:
            grouped.setdefault(variant.case_uid, []).append(variant)
        return grouped


def write_report(path: Path, report: RunReport) -> None:
    """Write via a temporary file and rename, so a reader never sees half a report.
    Compact JSON from pydantic's own encoder (`python -m json.tool` pretty-prints it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    absent = {name for name in OPTIONAL_SECTIONS if getattr(report, name) is None}
    tmp.write_bytes(report.model_dump_json(exclude=absent).encode("utf-8"))
    os.replace(tmp, path)


def read_report(path: Path) -> RunReport:
    """The report at `path`, or a ReportError naming the file and what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(
            f"no report at {path}: run the suites first (stabtest run) or name a report file"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ReportError(f"cannot read the report {path}: {error}") from None
    try:
        raw = json.loads(text)
    except ValueError as error:
        raise ReportError(
            f"cannot read the report {path}: not JSON ({error}), so not a stabtest report"
        ) from None
    if not isinstance(raw, dict) or not ("schema_version" in raw or "schema" in raw):
        raise ReportError(f"{path} is not a stabtest report (no schema_version)")
    version = raw.get("schema_version", raw.get("schema"))
    if version != SCHEMA_VERSION:
        raise ReportError(
            f"{path} has report schema {version!r}, this stabtest reads schema "
            f"{SCHEMA_VERSION}: rerun the suites to write a current report"
        )
    try:
        return RunReport.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ReportError(
            f"{path} is not a valid stabtest report: {where}: {first['msg']} "
            f"({error.error_count()} problem(s))"
        ) from None
