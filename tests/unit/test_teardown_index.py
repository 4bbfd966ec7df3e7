"""The teardown-report index given to pytest's terminal reporter returns what pytest's own
scan returns, for every node id, in the same order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from _pytest.terminal import TerminalReporter

from stabtest.pytest_plugin.teardown_index import TeardownIndex, index_teardown_reports


@dataclass
class Report:
    nodeid: str
    when: str
    id: Any = None

    def __post_init__(self) -> None:
        self.id = ("id", self.nodeid)  # a hashable structured id, as pytest 9's NodeId


@dataclass
class Reporter:
    """The two members pytest's scan uses, taken from pytest's own class."""

    stats: dict[str, list[Any]] = field(default_factory=dict)
    getreports = cast(Any, TerminalReporter.getreports)
    _get_teardown_reports = cast(Any, TerminalReporter._get_teardown_reports)


def reports() -> list[Report]:
    found = []
    for n in range(30):
        found += [
            Report(f"t.yaml::c{n % 7}[v{n}]", "setup"),
            Report(f"t.yaml::c{n % 7}", "teardown"),
        ]
    shown = Report("t.yaml::c1", "teardown")
    shown._pdbshown = True  # type: ignore[attr-defined]  # pytest leaves these out
    return [*found, shown]


def test_the_index_returns_what_pytest_s_scan_returns() -> None:
    reporter = Reporter(stats={"": reports(), "failed": []})
    index = TeardownIndex(reporter)
    for n in range(8):
        node = ("id", f"t.yaml::c{n}")
        assert index(node) == reporter._get_teardown_reports(node)
    assert len(index(("id", "t.yaml::c1"))) == 5  # n = 1, 8, 15, 22, 29; not the pdb-shown one


def test_the_index_follows_reports_recorded_after_it_was_built() -> None:
    reporter = Reporter(stats={"": reports()})
    index = TeardownIndex(reporter)
    before = index(("id", "t.yaml::c2"))
    late = Report("t.yaml::c2", "teardown")
    reporter.stats[""].append(late)
    assert index(("id", "t.yaml::c2")) == [*before, late]


def test_installed_only_where_pytest_has_the_method() -> None:
    reporter = Reporter(stats={"": reports()})
    assert index_teardown_reports(reporter)
    assert isinstance(reporter._get_teardown_reports, TeardownIndex)
    assert not index_teardown_reports(None)
    assert not index_teardown_reports(object())
