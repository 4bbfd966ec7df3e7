"""Controller-side hooks (registered once, not in xdist workers): gather the results that
items attached to their reports, print the table, write the JSON report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stabtest.pytest_plugin.gating import RunGate
from stabtest.pytest_plugin.keys import RESULT_PROPERTY, SESSION, is_failed_suite
from stabtest.reporting.recorder import Recorder


class ReportHooks:
    def __init__(self, recorder: Recorder):
        self.recorder = recorder
        self.remediation: list[str] = []
        self.notes: list[str] = []  # said after the report line (dashboard, skipped data)
        self.dashboard: Path | None = None
        self.gate = RunGate(recorder.settings)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """A missing or foreign baseline stops the run before anything is generated."""
        self.gate.load(session.config)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A suite that failed to collect is listed in the report, which then says
        `incomplete`: a broken suite never hides behind a `complete` run."""
        if is_failed_suite(report):
            lines = str(report.longrepr).strip().splitlines() or ["collection failed"]
            self.recorder.problems[report.nodeid] = lines[-1].removeprefix("E   ").strip()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":  # the teardown report carries the same properties again
            return
        for name, value in report.user_properties:
            if name == RESULT_PROPERTY:
                self.recorder.add_payload(json.loads(str(value)))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        failure = terminalreporter.config.stash[SESSION].failure
        if not self.recorder.has_results() and failure is None:
            return
        from stabtest.reporting.terminal import render_summary

        terminalreporter.section("stabtest")
        if self.recorder.has_results():
            report = self.recorder.written or self.recorder.report()  # written: sessionfinish
            terminalreporter.write_line(render_summary(report))
        self.gate.summary(terminalreporter, self.recorder.written)
        if failure is not None:
            terminalreporter.write_line(
                f"generation failed: {failure}; answers generated before it are cached, "
                "a rerun resumes from them",
                red=True,
            )
        if self.recorder.report_path is not None:
            terminalreporter.write_line(f"report: {self.recorder.report_path}")
        if self.dashboard is not None:
            terminalreporter.write_line(f"dashboard: {self.dashboard}")
        for note in self.notes:
            terminalreporter.write_line(note, yellow=True)
        for line in self.remediation:
            terminalreporter.write_line(line)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Write the JSON report, also for failed or interrupted runs (marked so), even
        when they produced no result yet: the report then says what went wrong."""
        stab = session.config.stash[SESSION]
        if self.recorder.has_results():  # before pytest's summary, which runs after this
            from stabtest.pytest_plugin.teardown_index import index_teardown_reports

            index_teardown_reports(session.config.pluginmanager.get_plugin("terminalreporter"))
        # As the wrappers left it: Ctrl-C during the Label Studio push makes it INTERRUPTED.
        exitstatus = session.exitstatus
        interrupted = exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR)
        # A run that used no stability item (deselected, collect-only) keeps the last report.
        used = self.recorder.has_results() or stab.failure is not None
        if session.config.option.collectonly or not (
            used or (interrupted and len(stab.registry) > 0)
        ):
            return
        if stab.failure is not None:
            self.recorder.error = f"generation failed: {stab.failure}"
        leftover = stab.take_stats()  # an interrupted plan's cost reached no item
        if leftover:
            self.recorder.add_cost(leftover)
        path = self.recorder.write(
            status="interrupted" if interrupted else "complete", exitstatus=int(exitstatus)
        )
        self.gate.finish(session, self.recorder, interrupted)  # baseline, history, exit
        written: Any = self.recorder.written
        session.config.hook.pytest_stabtest_report_written(path=path, report=written)
        if session.config.getoption("remediate", False) and not interrupted:
            session.exitstatus = self._remediate(session)
        self._dashboard(path)

    def _dashboard(self, path: Path) -> None:
        """The HTML dashboard beside the report (with the history and any remediation
        round): a failure to draw it is said, never a failed run."""
        settings, report = self.recorder.settings, self.recorder.written
        if not settings.html or report is None:
            return
        from stabtest.core.errors import StabtestError
        from stabtest.reporting.dashboard import write_run_dashboard

        try:
            self.dashboard = write_run_dashboard(
                path, report, history_file=settings.history_file, on_skip=self.notes.append
            )
        except (StabtestError, OSError, ValueError) as error:
            self.notes.append(f"dashboard not written: {error}")

    def _remediate(self, session: pytest.Session) -> int:
        """`--remediate`: one round on the report just written; the gate sets the exit."""
        from stabtest.core.errors import StabtestError
        from stabtest.remediation.loop import Plan, remediate
        from stabtest.remediation.train import Hyperparameters

        steps = int(session.config.getoption("remediate_steps"))
        budget = float(session.config.getoption("remediate_budget"))
        settings = self.recorder.settings
        try:
            result = remediate(
                settings,
                Plan(
                    hp=Hyperparameters(max_steps=steps, seed=settings.seed),
                    budget_minutes=budget,
                ),
                progress=self.remediation.append,
            )
        except StabtestError as error:
            self.remediation.append(f"remediation: error: {error}")
            return int(pytest.ExitCode.USAGE_ERROR)
        last = result.last
        if last is not None:
            before, after = last.treated["before"], last.treated["after"]
            self.remediation.append(
                f"remediation: held-out SI {before.si} -> {after.si}, FC {before.fc} -> "
                f"{after.fc}; model {last.model}: {result.status.upper()}"
            )
            self.remediation += [f"remediation: missed: {line}" for line in last.missed]
            self.remediation += [
                f"remediation: to do: {c.advice}" for c in last.criteria if c.advice
            ]
        return 0 if result.accepted else 1
