"""`--stab-explore=N`: after the run, look for the smallest perturbation that breaks each
passed case (budget: N generations each) and list the findings in the terminal summary
and in the JSON report's `explore` section.

Glue over `stabtest.explore`: the search shares the run's model and embedder (a second
`Session` over the same generator, so the run's own registry is left as it was), and
its example database with `stabtest explore`. Suites are never edited here. Under xdist
the controller holds no cases, so it says so instead.
"""

from __future__ import annotations

import pytest

from stabtest.pytest_plugin.keys import RECORDER, SESSION


class ExploreHooks:
    def __init__(self, max_generations: int):
        self.max_generations = max_generations
        self.lines: list[str] = []

    @pytest.hookimpl(trylast=True)  # after ReportHooks has written the report
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from stabtest.core.ids import case_uid
        from stabtest.core.report import write_report
        from stabtest.core.results import ExploreResult
        from stabtest.explore.render import summary_line
        from stabtest.explore.search import Budget, database_dir, explore
        from stabtest.session import Session

        recorder = session.config.stash.get(RECORDER, None)
        report = recorder.written if recorder is not None else None
        stab = session.config.stash[SESSION]
        if report is None or report.status != "complete" or stab.failure is not None:
            return
        registered = {reg.key: reg for reg in stab.registry}
        passed = [(c.suite, c.case_id) for c in report.cases if c.passed]
        if passed and not registered:
            self.lines.append("not under xdist (-n): run without it, or `stabtest explore`")
            return
        budget = Budget(max_generations=self.max_generations)
        searcher = Session(stab.settings, generator=stab.generator, embedder=stab.embedder)
        results: list[ExploreResult] = []
        for key in passed:
            reg = registered.get(key)
            if reg is None:
                continue
            try:
                found = explore(
                    searcher,
                    reg.scope,
                    reg.case,
                    budget,
                    database_dir=database_dir(stab.settings.cache_path),
                )
            except Exception as error:  # a failed search must not fail the finished run
                self.lines.append(f"{case_uid(*key)}: explore failed: {error}")
                results.append(ExploreResult(case_uid(*key), "failed", reason=str(error)))
                continue
            self.lines.append(summary_line(found, budget))
            results.append(found.result())
        if results and recorder is not None and recorder.report_path is not None:
            recorder.written = report.model_copy(update={"explore": results})
            write_report(recorder.report_path, recorder.written)

    @pytest.hookimpl(trylast=True)  # after the stabtest section
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.lines:
            return
        terminalreporter.section("stabtest explore")
        terminalreporter.write_line(
            f"smallest breaking perturbation of each passed case "
            f"(budget {self.max_generations} generations each):"
        )
        for line in self.lines:
            terminalreporter.write_line(line)
