"""The run history: one compact JSON line per run, appended by the controller at session
end, read by `stabtest history` and the dashboard's trend plot.

Appends are one `write` of one whole line on a file opened with O_APPEND, under a file
lock: concurrent runs (two CI jobs on one checkout, xdist never: only the controller
writes) interleave whole lines, never parts of them. A line that does not parse (a disk
that filled up mid-write, a hand edit) is skipped with a warning; reading never fails
on the content of the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stabtest.core.results import GenerationStats, RunSummary

if TYPE_CHECKING:
    from stabtest.core.report import RunReport

HISTORY_NAME = "history.jsonl"
RECORD_VERSION = 1


class HistoryWarning(UserWarning):
    """A history line that was skipped."""


class Figures(BaseModel):
    """The aggregates of the run or of one suite (macro averages over cases)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    si: float | None = None
    fc: float | None = None
    rdr: float | None = None
    ap: float | None = None
    cases: int = 0
    cases_failed: int = 0
    variants: int = 0
    variants_failed: int = 0
    escalated: int = 0

    @classmethod
    def of(cls, summary: RunSummary) -> Figures:
        return cls(
            si=summary.si,
            fc=summary.fc,
            rdr=summary.rdr,
            ap=summary.ap,
            cases=summary.cases,
            cases_failed=summary.cases_failed,
            variants=summary.variants,
            variants_failed=summary.variants_failed,
            escalated=summary.escalated,
        )


class HistoryRecord(BaseModel):
    """One run, compactly: enough to plot a trend and to tell what changed between runs
    (the model's fingerprint, the suite files' hashes) without keeping whole reports.
    Unknown keys are ignored, so an older stabtest reads a newer history."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    v: int = RECORD_VERSION
    run_id: str
    time: float
    """When the run finished (seconds since the epoch)."""
    seconds: float = 0.0
    status: str
    exitstatus: int | None = None
    label: str | None = None
    backend: str | None = None
    model: str | None = None
    fingerprint: str | None = None
    suite_hashes: dict[str, str] = Field(default_factory=dict)
    """Suite file (as in the report) -> sha256 of its content, first 16 hex digits."""
    run: Figures
    suites: dict[str, Figures] = Field(default_factory=dict)
    generation: GenerationStats = Field(default_factory=GenerationStats)
    baseline: str | None = None
    regressions: int | None = None
    """Scopes gated against `baseline`, when the run was compared with one."""


def suite_hashes(rootdir: Path, suites: list[str] | Mapping[str, object]) -> dict[str, str]:
    """sha256 (16 hex digits) of each suite's file, for suites that are files (a Python
    test's suite is `file::function`: its file is hashed)."""
    hashes: dict[str, str] = {}
    for suite in suites:
        path = Path(rootdir, suite.split("::", 1)[0])
        try:
            hashes[suite] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        except OSError:
            continue
    return hashes


def record_of(
    report: RunReport,
    *,
    rootdir: Path,
    fingerprint: str | None = None,
    label: str | None = None,
) -> HistoryRecord:
    """The history line of a written report."""
    settings = report.settings
    comparison = report.baseline
    return HistoryRecord(
        run_id=report.run_id,
        time=report.finished_at,
        seconds=round(max(report.finished_at - report.started_at, 0.0), 3),
        status=report.status,
        exitstatus=report.exitstatus,
        label=label,
        backend=_text(settings.get("backend")),
        model=_text(settings.get("model")),
        fingerprint=fingerprint,
        suite_hashes=suite_hashes(rootdir, sorted(report.suites)),
        run=Figures.of(report.summary),
        suites={name: Figures.of(summary) for name, summary in report.suites.items()},
        generation=report.generation,
        baseline=comparison.name if comparison is not None else None,
        regressions=len(comparison.regressions) if comparison is not None else None,
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def append_history(path: Path, record: HistoryRecord) -> None:
    """Append one line: a single O_APPEND write under a file lock, so concurrent writers
    never interleave within a line."""
    from filelock import FileLock

    line = (record.model_dump_json() + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            _repair_tail(fd, path)
            os.write(fd, line)
        finally:
            os.close(fd)


def _repair_tail(fd: int, path: Path) -> None:
    """A file that does not end in a newline (a writer killed mid-line, a hand edit) gets
    one first, so the torn line stays one bad line and ours stays good."""
    size = os.fstat(fd).st_size
    if size == 0:
        return
    with path.open("rb") as handle:
        handle.seek(size - 1)
        if handle.read(1) != b"\n":
            os.write(fd, b"\n")


def _warn(message: str) -> None:
    warnings.warn(message, HistoryWarning, stacklevel=3)


def _why(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "record"
        return f"{where}: {first['msg']}"[:120]
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:120]


def read_history(
    path: Path, *, on_skip: Callable[[str], None] | None = None
) -> list[HistoryRecord]:
    """Every readable record, oldest first. A missing file is an empty history; a line
    that is not a record is skipped and reported to `on_skip` (default: a
    `HistoryWarning`) with its line number."""
    skip = on_skip or _warn
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as error:
        skip(f"cannot read the history {path}: {error.strerror or error}")
        return []
    records: list[HistoryRecord] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            records.append(HistoryRecord.model_validate(json.loads(raw)))
        except (ValueError, RecursionError) as error:  # ValidationError is a ValueError
            skip(f"{path}:{number}: skipped a line that is not a history record ({_why(error)})")
    records.sort(key=lambda r: r.time)
    return records
