"""What CI systems read of a run besides the JSON report: compact `--junitxml`
properties, and each item's prompt, answers and votes in pytest-html's report.

Items carry their whole result as a JSON user property (`RESULT_PROPERTY`: it survives
xdist), and pytest's junitxml writes every user property into the XML: every answer and
vote, again, per item. `JunitCompact` drops it (and the outcome marker) from each report
once every other hook has read it, so the XML keeps only the short `stab_*` properties
(stabtest.reporting.properties); the JSON report keeps everything.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from stabtest.pytest_plugin.keys import OUTCOME_PROPERTY, RESULT_PROPERTY

BULKY = frozenset({RESULT_PROPERTY, OUTCOME_PROPERTY})


class JunitCompact:
    """Controller-side, registered only with `--junitxml`."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Generator[None, None, None]:
        """junitxml writes a test case's properties when its teardown report arrives (or,
        when the teardown fails too, from the call report it kept): the teardown report
        is trimmed before any hook sees it, the call report once all have read it (the
        recorder reads the payload there)."""
        if report.when != "call":
            _trim(report)
        try:
            return (yield)
        finally:
            _trim(report)


def _trim(report: pytest.TestReport) -> None:
    if any(name in BULKY for name, _ in report.user_properties):
        report.user_properties = [p for p in report.user_properties if p[0] not in BULKY]


def attach_html(item: pytest.Item, report: pytest.TestReport) -> None:
    """Append the item's results to its pytest-html row (`report.extras`); called with
    `--html` only, in xdist workers too (the controller writes the rows they attach)."""
    from stabtest.pytest_plugin.items import RESULTS

    results = item.stash.get(RESULTS, None)
    if not results:
        return
    try:
        from pytest_html import extras
    except ImportError:
        return
    from stabtest.reporting.item_html import results_html

    shown: list[Any] = list(getattr(report, "extras", []))
    shown.append(extras.html(results_html(results)))
    report.extras = shown  # type: ignore[attr-defined]
