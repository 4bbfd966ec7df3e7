"""The run report: one typed, versioned record, written and read by this module only.

Everything that outlives a run reads it: `stabtest report`, `stabtest push`, baselines,
history and dashboards. A report written by another schema version is refused with a
message that says which version it has and what to do, never half-parsed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal, NoReturn

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stabtest.core.atomic import write_atomic
from stabtest.core.compare import BaselineComparison
from stabtest.core.errors import StabtestError
from stabtest.core.results import (
    CaseResult,
    ExploreResult,
    GenerationStats,
    RunSummary,
    VariantResult,
)

SCHEMA_VERSION = 2
REPORT_NAME = "stabtest.json"
Status = Literal["running", "complete", "incomplete", "interrupted"]
"""`incomplete`: the run finished, but some suites or cases could not run (`problems`)."""
OPTIONAL_SECTIONS = ("error", "label_studio", "problems", "baseline", "explore", "steps")
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
    problems: dict[str, str] | None = None
    """Suites that failed to collect and cases that could not run: node id -> why."""
    label_studio: dict[str, Any] | None = None
    baseline: BaselineComparison | None = None
    """This run against a stored baseline (`--stab-baseline NAME`), as the terminal showed it."""
    explore: list[ExploreResult] | None = None
    """`--stab-explore`: the smallest breaking perturbation searched for each passed case."""
    steps: list[str] | None = None
    """The steps of the run's end that had finished when this was written, in order
    (`stabtest.finish.STEPS`): what an `interrupted` or `running` report got to."""

    def variants_by_case(self) -> dict[str, list[VariantResult]]:
        """Variants grouped under their case's uid, in report order."""
        grouped: dict[str, list[VariantResult]] = {}
        for variant in self.variants:
            grouped.setdefault(variant.case_uid, []).append(variant)
        return grouped


def write_report(path: Path, report: RunReport) -> None:
    """Write via a temporary file and rename, so a reader never sees half a report.
    Compact JSON from pydantic's own encoder (`python -m json.tool` pretty-prints it)."""
    absent = {name for name in OPTIONAL_SECTIONS if getattr(report, name) is None}
    write_atomic(path, report.model_dump_json(exclude=absent).encode("utf-8"))


def _finite(text: str) -> float:
    """JSON numbers as floats, refusing what a written report never holds (pydantic
    writes NaN and infinity as null): `1e999` would otherwise read as infinity."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _short(value: Any, limit: int = 60, quote: bool = False) -> str:
    """A value of the file for a message: on one line, cut short, a nested one only named
    (the error is one line, and repr of deep nesting could itself overflow the stack)."""
    if isinstance(value, dict | list):
        return "a JSON object" if isinstance(value, dict) else "a JSON list"
    text = repr(value) if quote or not isinstance(value, str) else value
    text = text if text.isprintable() else repr(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_report(path: Path) -> RunReport:
    """The report at `path`, or a ReportError naming the file and what is wrong with it,
    on one line: whatever the file holds (any bytes, any JSON, a directory), nothing else
    is raised."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(
            f"no report at {path}: run the suites first (stabtest run) or name a report file"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise ReportError(f"cannot read the report {path}: {_short(str(reason), 200)}") from None
    try:
        raw = json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except ValueError as error:
        raise ReportError(
            f"cannot read the report {path}: not JSON ({_short(str(error), 200)}), "
            "so not a stabtest report"
        ) from None
    except RecursionError:
        raise ReportError(
            f"cannot read the report {path}: JSON nested too deeply, so not a stabtest report"
        ) from None
    if not isinstance(raw, dict) or not ("schema_version" in raw or "schema" in raw):
        raise ReportError(f"{path} is not a stabtest report (no schema_version)")
    version = raw.get("schema_version", raw.get("schema"))
    if version != SCHEMA_VERSION:
        raise ReportError(
            f"{path} has report schema {_short(version, quote=True)}, this stabtest reads schema "
            f"{SCHEMA_VERSION}: rerun the suites to write a current report"
        )
    try:
        return RunReport.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(_short(part, 40) for part in first["loc"])
        raise ReportError(
            f"{path} is not a valid stabtest report: {where}: {_short(first['msg'], 200)} "
            f"({error.error_count()} problem(s))"
        ) from None
    except RecursionError:
        raise ReportError(f"{path} is not a valid stabtest report: nested too deeply") from None
