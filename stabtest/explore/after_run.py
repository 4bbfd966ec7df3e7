"""`--stab-explore=N`: after a run, the smallest breaking perturbation of each passed case.

A second `Session` over the run's generator and embedder judges the candidates, so the
run's own registry is left as it was; the example database is shared with `stabtest
explore`. Suites are never edited here. Under xdist the controller holds no cases, and
says so instead of searching.
"""

from __future__ import annotations

from stabtest.core.ids import case_uid
from stabtest.core.report import RunReport
from stabtest.core.results import ExploreResult
from stabtest.explore.render import summary_line
from stabtest.explore.search import Budget, database_dir, explore
from stabtest.session import Session

NOT_UNDER_XDIST = "not under xdist (-n): run without it, or `stabtest explore`"


def explore_passed(
    run: Session, report: RunReport, max_generations: int
) -> tuple[list[ExploreResult], list[str]]:
    """Search every passed case of `report` within `max_generations` each (and the
    `explore_*` settings' seconds, operators and depth): the results for the report's
    `explore` section and one terminal line per case. A case whose search
    fails is reported as failed; it never fails the finished run."""
    registered = {reg.key: reg for reg in run.registry}
    passed = [(c.suite, c.case_id) for c in report.cases if c.passed]
    if passed and not registered:
        return [], [NOT_UNDER_XDIST]
    settings = run.settings
    budget = Budget(max_generations, settings.explore_max_seconds)
    searcher = Session(run.settings, generator=run.generator, embedder=run.embedder)
    results: list[ExploreResult] = []
    lines: list[str] = []
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
                operators=settings.explore_operator_names,
                max_depth=settings.explore_max_depth,
                database_dir=database_dir(settings.cache_path),
            )
        except Exception as error:  # one case's search, never the run
            lines.append(f"{case_uid(*key)}: explore failed: {error}")
            results.append(ExploreResult(case_uid(*key), "failed", reason=str(error)))
            continue
        lines.append(summary_line(found, budget))
        results.append(found.result())
    return results, lines
