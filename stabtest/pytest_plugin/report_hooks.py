"""Controller-side hooks (registered once, not in xdist workers): gather the results that
items attached to their reports, end the run through `stabtest.finish` once, and say
what it did in the terminal summary."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from stabtest.pytest_plugin.keys import RESULT_PROPERTY, SESSION, is_failed_suite
from stabtest.reporting.recorder import Recorder

if TYPE_CHECKING:
    from stabtest.core.report import RunReport
    from stabtest.core.settings import Settings
    from stabtest.finish import Finished, LabelStudioStart
    from stabtest.remediation.loop import Plan


class ReportHooks:
    def __init__(self, recorder: Recorder):
        self.recorder = recorder
        self.settings = recorder.settings
        self.baseline: RunReport | None = None
        self.baseline_note: str | None = None
        self.label_studio: LabelStudioStart | None = None
        """Set by the Label Studio glue when a server or a gold store is in use."""
        self.finished: Finished | None = None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """A missing or foreign baseline stops the run before anything is generated."""
        if self.settings.baseline is None or session.config.option.collectonly:
            return
        from stabtest.reporting.baseline import BaselineError, baseline_of_run

        try:
            self.baseline, self.baseline_note = baseline_of_run(self.settings)
        except BaselineError as error:
            raise pytest.UsageError(f"stabtest: {error}") from None

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A suite that failed to collect is listed in the report, which then says
        `incomplete`: a broken suite never hides behind a `complete` run."""
        if is_failed_suite(report):
            lines = str(report.longrepr).strip().splitlines() or ["collection failed"]
            self.recorder.add_problem(report.nodeid, lines[-1].removeprefix("E   ").strip())

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":  # the teardown report carries the same properties again
            return
        for name, value in report.user_properties:
            if name == RESULT_PROPERTY:
                self.recorder.add_payload(json.loads(str(value)))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """End the run once (`stabtest.finish`), also a failed or interrupted one, even
        before it produced a result: the report then says what went wrong. The exit status
        it settles is the session's."""
        stab = session.config.stash[SESSION]
        if self.recorder.has_results():  # before pytest's summary, which runs after this
            from stabtest.pytest_plugin.teardown_index import index_teardown_reports

            index_teardown_reports(session.config.pluginmanager.get_plugin("terminalreporter"))
        exitstatus = int(session.exitstatus)
        interrupted = exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR)
        # A run that used no stability item (deselected, collect-only) keeps the last report.
        used = self.recorder.has_results() or stab.failure is not None
        if session.config.option.collectonly or not (
            used or (interrupted and len(stab.registry) > 0)
        ):
            return
        from stabtest.finish import RunEnd, finish_run

        hook = session.config.hook

        def on_written(path: Any, report: RunReport) -> None:
            hook.pytest_stabtest_report_written(path=path, report=report)

        self.finished = finish_run(
            RunEnd(
                self.settings,
                self.recorder,
                exitstatus,
                interrupted=interrupted,
                session=stab,
                baseline=self.baseline,
                label_studio=self.label_studio,
                remediate=_remediation_plan(self.settings),
                on_written=on_written,
                fingerprint=stab.fingerprint_or_none,
            )
        )
        session.exitstatus = self.finished.exitstatus

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        stab = terminalreporter.config.stash[SESSION]
        done, failure = self.finished, stab.failure
        start = self.label_studio
        label_studio = _label_studio_lines(start, done)
        if not self.recorder.has_results() and failure is None and not label_studio:
            return
        write = terminalreporter.write_line
        terminalreporter.section("stabtest")
        if self.recorder.has_results():
            from stabtest.reporting.terminal import render_summary

            shown = done.report if done is not None and done.report else self.recorder.report()
            write(render_summary(shown))
            if shown.baseline is not None:
                from stabtest.reporting.compare_table import render_comparison

                write(render_comparison(shown.baseline))
        if self.baseline_note is not None:
            write(self.baseline_note)
        if done is not None:
            for line in done.gate_lines:
                write(line)
            if done.regressed:
                from stabtest.core.compare import REGRESSION_EXIT

                write(
                    f"stabtest: regressed against baseline {self.settings.baseline!r}: "
                    f"exit status {REGRESSION_EXIT}",
                    red=True,
                )
        if failure is not None:
            write(
                f"generation failed: {failure}; answers generated before it are cached, "
                "a rerun resumes from them",
                red=True,
            )
        if done is not None:
            _finish_lines(terminalreporter, done)
            if done.crash is not None:
                import traceback

                write(f"stabtest: the run's end failed at {done.interrupted_at}:", red=True)
                trace = traceback.format_exception(done.crash)
                write("".join(trace).rstrip(), red=True)
        if label_studio:
            from stabtest.core.text import terminal_safe

            trouble = done is not None and done.pushed is not None and not done.pushed.ok
            for line in label_studio:
                write(terminal_safe(line, layout=False), yellow=trouble)
        if done is not None and done.explore_lines:
            terminalreporter.section("stabtest explore")
            write(
                f"smallest breaking perturbation of each passed case "
                f"(budget {self.settings.explore} generations each):"
            )
            for line in done.explore_lines:
                write(line)


def _finish_lines(terminalreporter: pytest.TerminalReporter, done: Finished) -> None:
    write = terminalreporter.write_line
    if done.path is not None:
        write(f"report: {done.path}")
    if done.dashboard is not None:
        write(f"dashboard: {done.dashboard}")
    for note in done.notes:
        write(note, yellow=True)
    for line in done.remediation_lines:
        write(line)


def _label_studio_lines(start: LabelStudioStart | None, done: Finished | None) -> list[str]:
    """A failed pull's message again where it cannot be missed, then what the push did."""
    lines: list[str] = []
    if start is not None and start.pulled is not None and start.pulled.error:
        lines.append(start.pulled.error)
    if done is not None:
        lines += done.push_lines
    return lines


def _remediation_plan(settings: Settings) -> Plan | None:
    """`--remediate`: one round on the run just finished, as the `remediate_*` settings
    describe it; its gate sets the exit status."""
    if not settings.remediate:
        return None
    from stabtest.remediation.loop import plan_from_settings

    return plan_from_settings(settings)
