"""pytest's failure summary finds each failed item's teardown report (to print what the
teardown captured) by scanning every passed setup and teardown report of the run, once per
failure: quadratic in items. A suite of 1,000 failing items pays about a second for it,
after the last test, with nothing printed. `index_teardown_reports` gives the terminal
reporter an index built once, returning the same reports in the same order.

It shadows a private method on the reporter instance only where that method exists: a
pytest without it is left as it is.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

ATTRIBUTE = "_get_teardown_reports"


class TeardownIndex:
    """`reporter._get_teardown_reports(node_id)` in O(1): the teardown reports among
    `reporter.getreports("")` whose id (or nodeid) is `node_id`, in report order. Rebuilt
    when the reporter has recorded more setup/teardown reports since it was built."""

    def __init__(self, reporter: Any):
        self.reporter = reporter
        self.size = -1
        self.by_id: dict[Hashable, list[Any]] = {}

    def __call__(self, node_id: Hashable) -> list[Any]:
        recorded = len(self.reporter.stats.get("", ()))
        if recorded != self.size:
            self._build()
            self.size = recorded
        return list(self.by_id.get(node_id, ()))

    def _build(self) -> None:
        """Keyed by both forms pytest has compared: `report.id` (pytest 9, a frozen
        dataclass) and `report.nodeid` (a string); one report never lists twice per key."""
        self.by_id = {}
        for report in self.reporter.getreports(""):
            if getattr(report, "when", None) != "teardown":
                continue
            keys = {report.nodeid}
            structured = getattr(report, "id", None)
            if isinstance(structured, Hashable):
                keys.add(structured)
            for key in keys:
                self.by_id.setdefault(key, []).append(report)


def index_teardown_reports(reporter: Any) -> bool:
    """Install the index on pytest's terminal reporter; False where it does not apply."""
    if reporter is None or not callable(getattr(reporter, ATTRIBUTE, None)):
        return False
    if not callable(getattr(reporter, "getreports", None)) or not hasattr(reporter, "stats"):
        return False
    setattr(reporter, ATTRIBUTE, TeardownIndex(reporter))
    return True
