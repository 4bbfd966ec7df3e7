"""Release gating at session end (controller only): compare the run with its baseline
(`--stab-baseline NAME`) and fail the session with REGRESSION_EXIT when it regressed,
store it as a baseline (`--stab-save-baseline NAME`), append it to the history.

The baseline is read when the session starts, so a missing or foreign one stops the run
before any answer is generated, with one line that says which file and how to fix it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from stabtest.core.compare import REGRESSION_EXIT
from stabtest.pytest_plugin.keys import SESSION

if TYPE_CHECKING:
    from stabtest.core.report import RunReport
    from stabtest.core.settings import Settings
    from stabtest.reporting.recorder import Recorder


GATED_STATUSES = (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
"""A regression overrides these: "worse than the baseline" is the news, also when known
failures fail their thresholds again. Interrupted, internal and usage errors stay."""


class RunGate:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.baseline: RunReport | None = None
        self.lines: list[str] = []
        self.regressed = False

    def load(self, config: pytest.Config) -> None:
        """Read the baseline to compare against, or stop the run with a usage error. A run
        that saves the very baseline it compares with may start without one (the first
        run of a new baseline)."""
        settings = self.settings
        name = settings.baseline
        if name is None or config.option.collectonly:
            return
        from stabtest.reporting.baseline import BaselineError, baseline_file, load_baseline

        if (
            settings.save_baseline == name
            and not baseline_file(settings.baseline_path, name).exists()
        ):
            self.lines.append(f"baseline {name!r}: none yet, this run becomes it")
            return
        try:
            self.baseline = load_baseline(settings.baseline_path, name)
        except BaselineError as error:
            raise pytest.UsageError(f"stabtest: {error}") from None

    def finish(self, session: pytest.Session, recorder: Recorder, interrupted: bool) -> None:
        """After the report is written: compare (and rewrite the report with the comparison
        and the exit status it set), save the baseline, append the history line."""
        report = recorder.written
        path = recorder.report_path
        if report is None or path is None:
            return
        if self.baseline is not None and not interrupted:
            report = self._compare(session, report, path)
            recorder.written = report
        elif self.baseline is not None:
            self.lines.append(f"baseline {self.settings.baseline!r}: not compared, run interrupted")
        self._save(report, interrupted)
        self._record(session, report)

    def _compare(self, session: pytest.Session, report: RunReport, path: Path) -> RunReport:
        from stabtest.core.compare import compare_reports
        from stabtest.core.report import write_report

        settings = self.settings
        assert self.baseline is not None and settings.baseline is not None
        comparison = compare_reports(
            self.baseline,
            report,
            settings.baseline,
            si_tolerance=settings.baseline_si_tolerance,
            fc_tolerance=settings.baseline_fc_tolerance,
            strict=settings.baseline_strict,
            seed=settings.seed,
            resamples=settings.baseline_resamples,
        )
        self.regressed = not comparison.passed
        if self.regressed and session.exitstatus in GATED_STATUSES:
            session.exitstatus = REGRESSION_EXIT
        updated = report.model_copy(
            update={"baseline": comparison, "exitstatus": int(session.exitstatus)}
        )
        write_report(path, updated)
        return updated

    def _save(self, report: RunReport, interrupted: bool) -> None:
        from stabtest.reporting.baseline import BaselineError, save_baseline

        name = self.settings.save_baseline
        if name is None:
            return
        if interrupted:
            self.lines.append(f"baseline {name!r}: not saved, the run was interrupted")
            return
        if self.regressed and name == self.settings.baseline:
            self.lines.append(
                f"baseline {name!r}: not saved, this run regressed against it "
                f"(bless it on purpose: stabtest baseline bless {name})"
            )
            return
        try:
            saved = save_baseline(self.settings.baseline_path, name, report)
        except (BaselineError, OSError) as error:
            self.lines.append(f"baseline {name!r}: not saved: {error}")
            return
        self.lines.append(f"baseline {name!r} saved: {saved}")

    def _record(self, session: pytest.Session, report: RunReport) -> None:
        """One history line; a history that cannot be written is reported, never fatal."""
        from stabtest.reporting.history import append_history, record_of

        path = self.settings.history_file
        if path is None:
            return
        record = record_of(
            report,
            rootdir=Path(self.settings.rootdir),
            fingerprint=_fingerprint(session),
            label=self.settings.label,
        )
        try:
            append_history(path, record)
        except OSError as error:
            self.lines.append(f"history: not written to {path}: {error}")

    def summary(self, terminalreporter: pytest.TerminalReporter, report: RunReport | None) -> None:
        if report is not None and report.baseline is not None:
            from stabtest.reporting.compare_table import render_comparison

            terminalreporter.write_line(render_comparison(report.baseline))
        for line in self.lines:
            terminalreporter.write_line(line)
        if self.regressed:
            terminalreporter.write_line(
                f"stabtest: regressed against baseline {self.settings.baseline!r}: "
                f"exit status {REGRESSION_EXIT}",
                red=True,
            )


def _fingerprint(session: pytest.Session) -> str | None:
    """The model's fingerprint for the history (reads files, loads no model); None when the
    backend cannot even be built (which the run has already reported)."""
    try:
        return session.config.stash[SESSION].generator.fingerprint()
    except Exception:
        return None
