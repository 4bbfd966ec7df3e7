"""Named baselines: a run's report kept under `baseline_dir/NAME.json` (committed, so CI
has it), and later runs compared against it.

A baseline is a `RunReport` file written and read by stabtest.core.report (atomic write,
schema checked), so `stabtest report baselines/NAME.json` prints it like any report. A
missing or foreign baseline is one line naming the file and the command that fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stabtest.core.errors import StabtestError
from stabtest.core.report import ReportError, RunReport, read_report, write_report
from stabtest.core.settings import BASELINE_NAME, Settings

SUFFIX = ".json"
DEFAULT_NAME = "main"


class BaselineError(StabtestError):
    """A baseline that cannot be stored or read; says which file and what to do."""


def check_name(name: str) -> str:
    """A baseline's name is its file's name: letters, digits, `.`, `_`, `-`."""
    if not BASELINE_NAME.fullmatch(name):
        raise BaselineError(
            f"baseline name {name!r}: use letters, digits, '.', '_' or '-' (it names a file)"
        )
    return name


def baseline_file(directory: Path, name: str) -> Path:
    return directory / f"{check_name(name)}{SUFFIX}"


def save_baseline(directory: Path, name: str, report: RunReport) -> Path:
    """Store `report` as the baseline `name` (atomically: a reader sees the old baseline or
    the new one). Its own comparison is left out: a baseline is a run, not a verdict."""
    if report.status in ("running", "interrupted"):
        raise BaselineError(
            f"run {report.run_id} was {report.status}: a baseline must be a finished run; "
            "rerun the suites, then bless"
        )
    path = baseline_file(directory, name)
    write_report(path, report.model_copy(update={"baseline": None}))
    return path


def load_baseline(directory: Path, name: str) -> RunReport:
    path = baseline_file(directory, name)
    fix = f"store one with `stabtest baseline bless {name}` (promotes the last run's report)"
    if not path.is_file():
        raise BaselineError(f"no baseline {name!r} at {path}: {fix} or --stab-save-baseline {name}")
    try:
        return read_report(path)
    except ReportError as error:
        raise BaselineError(f"baseline {name!r}: {error}; {fix} to replace it") from None


def bless(report_path: Path, directory: Path, name: str) -> tuple[Path, RunReport]:
    """Promote the report at `report_path` (the last run's) to be the baseline `name`."""
    check_name(name)
    report = read_report(report_path)
    return save_baseline(directory, name, report), report


@dataclass(frozen=True)
class StoredBaseline:
    """A baseline on disk: its report, or why it cannot be read."""

    name: str
    path: Path
    report: RunReport | None
    error: str | None = None


def list_baselines(directory: Path) -> list[StoredBaseline]:
    """Every `*.json` under `directory`, by name; unreadable ones say why."""
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            found.append(StoredBaseline(path.stem, path, read_report(path)))
        except ReportError as error:
            found.append(StoredBaseline(path.stem, path, None, str(error)))
    return found


def baseline_of_run(settings: Settings) -> tuple[RunReport | None, str | None]:
    """The baseline a run compares with (`baseline`), read before the run starts so that
    a missing or foreign one stops it first (BaselineError), and a line to say. A run that
    saves the very baseline it compares with may start without one: it becomes it."""
    name = settings.baseline
    if name is None:
        return None, None
    if settings.save_baseline == name and not baseline_file(settings.baseline_path, name).exists():
        return None, f"baseline {name!r}: none yet, this run becomes it"
    return load_baseline(settings.baseline_path, name), None
