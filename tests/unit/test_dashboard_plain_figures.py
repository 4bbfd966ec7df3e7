"""The per-run plots are written as plain JSON (no plotly figure objects: 0.7 s a run):
each must still be exactly a valid plotly figure, with plotly's own template resolved."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from stabtest.reporting import dashboard_figures as figures
from tests.unit.test_dashboard import BASELINE, history, make_report

BUILDERS: dict[str, Callable[[], str | None]] = {
    "suites": lambda: figures.suite_metrics(make_report()),
    "cases": lambda: figures.case_metrics(make_report()),
    "trend": lambda: figures.trend(history()),
    "baseline": lambda: figures.baseline_deltas(BASELINE),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_a_plain_figure_is_what_plotly_makes_of_it(name: str) -> None:
    import plotly.graph_objects as go
    import plotly.io as pio

    text = BUILDERS[name]()
    assert text is not None
    data = json.loads(text)
    # plotly validates every property (an unknown one raises) and writes the figure back.
    assert json.loads(go.Figure(data).to_json()) == data
    assert data["layout"]["template"] == pio.templates["plotly_white"].to_plotly_json()
    assert all(trace["type"] in ("bar", "scatter") for trace in data["data"])


def test_nan_metrics_are_written_as_null_not_invalid_json() -> None:
    report = make_report()
    case = report.cases[0]
    object.__setattr__(case.metrics, "si", float("nan"))
    text = figures.case_metrics(report)
    assert text is not None and "NaN" not in text
    assert json.loads(text)["data"][0]["y"][0] is None
