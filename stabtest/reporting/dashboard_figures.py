"""The dashboard's plots, as plotly figures serialised to JSON (never drawn by hand).

Each builder returns the figure's JSON, or None when there is nothing to plot, so the
page leaves that section out. plotly reads label text as a small HTML subset, so every
name from a suite, a history label or a scope is HTML-escaped before plotly sees it
(plotly shows the entities as the characters they stand for).

The plots every run draws (per suite, per case, the history's trend, the baseline's
deltas) are written as the JSON plotly.js reads, with plotly's template read from
plotly's own package data: building them as plotly figure objects cost about 0.7 s of
every run (validating each property). The remediation plots, drawn once per round, use
plotly's figures; plotly is imported only there, so loading stabtest.reporting stays cheap.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import importlib.util
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stabtest.core.report import RunReport

if TYPE_CHECKING:
    from stabtest.core.compare import BaselineComparison
    from stabtest.reporting.history import HistoryRecord

METRICS = (("si", "SI (lower is better)"), ("fc", "FC"), ("rdr", "RDR"))
COLORS = {"si": "#d62728", "fc": "#2ca02c", "rdr": "#1f77b4", "ap": "#9467bd"}
VERDICT_COLORS = {
    "worse": "#d62728",
    "better": "#2ca02c",
    "within_noise": "#7f7f7f",
    "unchanged": "#bcbd22",
    "not_comparable": "#c7c7c7",
}


def label(text: object) -> str:
    """Text for a plotly label or hover: its HTML subset must not read a name as markup."""
    return html.escape(str(text), quote=False)


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "template": "plotly_white",
        "height": 360,
        "margin": {"l": 60, "r": 20, "t": 90, "b": 60},
        "legend": {"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
        **extra,
    }


WINDOW = 60
"""Categories shown at once on a per-case axis; a range slider below pans over the rest."""


def _window(count: int) -> dict[str, Any]:
    """x-axis settings for `count` categories: all of them, or a window and a slider."""
    axis: dict[str, Any] = {"tickangle": -30, "automargin": True}
    if count > WINDOW:
        axis |= {"range": [-0.5, WINDOW - 0.5], "rangeslider": {"visible": True, "thickness": 0.08}}
    return axis


def _json(figure: Any) -> str:
    return str(figure.to_json())


@functools.cache
def _template(name: str) -> Any:
    """A plotly template as plotly.py embeds it in a figure (plotly.js knows no template
    names): its JSON file in plotly's package data, found without importing plotly."""
    spec = importlib.util.find_spec("plotly")
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations)))
        try:
            path = folder / "package_data" / "templates" / f"{name}.json"
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
    import plotly.io as pio  # another plotly layout: ask plotly

    return pio.templates[name].to_plotly_json()


def _finite(value: float | None) -> float | None:
    """NaN and infinities as null, as plotly's JSON encoder writes them."""
    return None if value is None or not math.isfinite(value) else value


def _plain(traces: list[dict[str, Any]], layout: dict[str, Any]) -> str:
    """A figure's JSON from plain traces and layout, the template resolved."""
    layout = {**layout, "template": _template(layout["template"])}
    return json.dumps({"data": traces, "layout": layout})


def suite_metrics(report: RunReport) -> str | None:
    """SI, FC and RDR per suite: grouped bars."""
    if not report.suites:
        return None
    names = [label(s) for s in report.suites]
    bars = [
        {
            "type": "bar",
            "name": title,
            "x": names,
            "y": [_finite(getattr(summary, key)) for summary in report.suites.values()],
            "marker": {"color": COLORS[key]},
            "hovertemplate": "%{x}<br>" + key.upper() + " %{y:.3f}<extra></extra>",
        }
        for key, title in METRICS
    ]
    return _plain(bars, _layout("SI / FC / RDR per suite", barmode="group"))


def case_metrics(report: RunReport) -> str | None:
    """SI, FC and RDR per case: grouped bars, hover with the case's gate and outcome."""
    if not report.cases:
        return None
    ids = [c.case_id for c in report.cases]
    unique = len(set(ids)) == len(ids)
    names = [label(c.case_id if unique else c.uid) for c in report.cases]
    hover = [
        f"{label(c.uid)}<br>max_si {c.max_si}, min_fc {c.min_fc}: "
        + ("PASS" if c.passed else "FAIL")
        for c in report.cases
    ]
    bars = [
        {
            "type": "bar",
            "name": title,
            "x": names,
            "y": [_finite(getattr(c.metrics, key)) for c in report.cases],
            "marker": {"color": COLORS[key]},
            "customdata": hover,
            "hovertemplate": key.upper() + " %{y:.3f}<br>%{customdata}<extra></extra>",
        }
        for key, title in METRICS
    ]
    layout = _layout(
        f"SI / FC / RDR per case ({len(report.cases)})",
        barmode="group",
        height=460 if len(report.cases) > WINDOW else 420,
        xaxis=_window(len(report.cases)),
    )
    return _plain(bars, layout)


REPEAT_FIGURES = (
    ("pass_rate", "pass rate", "#2ca02c"),
    ("pass_hat_k", "pass^k (all k pass)", "#ff7f0e"),
    ("pass_at_k", "pass@k (one of k passes)", "#1f77b4"),
)


def _error_bars(values: list[float | None], cis: list[Any]) -> dict[str, Any]:
    """Asymmetric error bars from (low, high) intervals; 0 where there is none."""
    pairs = list(zip(values, cis, strict=True))
    up = [0.0 if v is None or c is None else max(c[1] - v, 0.0) for v, c in pairs]
    down = [0.0 if v is None or c is None else max(v - c[0], 0.0) for v, c in pairs]
    return {"type": "data", "symmetric": False, "array": up, "arrayminus": down}


def repeat_rates(report: RunReport) -> str | None:
    """Pass rate, pass^k and pass@k of every case that samples each variant more than
    once, with their 95% Wilson intervals as error bars; None when no case does."""
    cases = [c for c in report.cases if c.metrics.samples > 1]
    if not cases:
        return None
    ids = [c.case_id for c in cases]
    unique = len(set(ids)) == len(ids)
    names = [label(c.case_id if unique else c.uid) for c in cases]
    hover = [
        f"{label(c.uid)}<br>{c.metrics.samples} samples per variant, k = {c.metrics.k}"
        for c in cases
    ]
    bars = []
    for key, title, color in REPEAT_FIGURES:
        values = [_finite(getattr(c.metrics, key)) for c in cases]
        cis = [getattr(c.metrics, f"{key}_ci") for c in cases]
        bars.append(
            {
                "type": "bar",
                "name": title,
                "x": names,
                "y": values,
                "error_y": _error_bars(values, cis),
                "marker": {"color": color},
                "customdata": hover,
                "hovertemplate": title + " %{y:.3f}<br>%{customdata}<extra></extra>",
            }
        )
    layout = _layout(
        f"Repeats: pass rate, pass^k, pass@k per case ({len(cases)})",
        barmode="group",
        xaxis=_window(len(cases)),
        yaxis={"range": [0, 1.05]},
    )
    return _plain(bars, layout)


def adversarial_pdr(report: RunReport) -> str | None:
    """Performance Drop Rate per attack family: one bar per family for each suite that has
    adversarial variants; the hover gives FC on the original and on the attacked prompts.
    An undefined PDR (FC clean 0 or missing) has no bar."""
    suites = {name: s.adversarial for name, s in report.suites.items() if s.adversarial}
    if not suites:
        return None
    bars = []
    for suite, families in suites.items():
        hover = [
            f"{label(suite)}<br>{a.cases} case(s), {a.variants} variant(s)"
            f"<br>FC clean {_number_text(a.fc_clean)}, attacked {_number_text(a.fc_attacked)}"
            for a in families.values()
        ]
        bars.append(
            {
                "type": "bar",
                "name": label(suite),
                "x": [label(family) for family in families],
                "y": [_finite(a.pdr) for a in families.values()],
                "customdata": hover,
                "hovertemplate": "%{x}: PDR %{y:.3f}<br>%{customdata}<extra></extra>",
            }
        )
    layout = _layout(
        "Performance Drop Rate per attack family (1 - FC attacked / FC clean)",
        barmode="group",
        yaxis={"title": {"text": "PDR"}},
    )
    return _plain(bars, layout)


def _number_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


TREND_SUITES = 20
"""Suites drawn in the trend (hidden until picked in the legend), most recent first."""


def trend(history: Sequence[HistoryRecord]) -> str | None:
    """Run-level SI, FC, RDR and AP across the run history, oldest first; each suite's SI
    is there too, hidden until clicked in the legend."""
    if not history:
        return None
    runs = sorted(history, key=lambda r: r.time)
    when = [_when(r.time) for r in runs]
    about = [
        label(f"{r.run_id} {r.status}" + (f" [{r.label}]" if r.label else ""))
        + f"<br>{label(r.model or '(backend default)')}"
        for r in runs
    ]
    lines = [
        {
            "type": "scatter",
            "name": key.upper(),
            "x": when,
            "y": [_finite(getattr(r.run, key)) for r in runs],
            "mode": "lines+markers",
            "line": {"color": COLORS[key]},
            "customdata": about,
            "hovertemplate": key.upper() + " %{y:.3f}<br>%{customdata}<extra></extra>",
        }
        for key in ("si", "fc", "rdr", "ap")
    ]
    suites = list(dict.fromkeys(s for r in reversed(runs) for s in r.suites))[:TREND_SUITES]
    for suite in suites:
        figures = [r.suites.get(suite) for r in runs]
        lines.append(
            {
                "type": "scatter",
                "name": f"SI {label(suite)}",
                "x": when,
                "y": [None if f is None else _finite(f.si) for f in figures],
                "mode": "lines+markers",
                "line": {"dash": "dot"},
                "visible": "legendonly",
                "customdata": about,
                "hovertemplate": "SI %{y:.3f}<br>%{customdata}<extra>" + label(suite) + "</extra>",
            }
        )
    layout = _layout(
        f"Run history ({len(runs)} runs)",
        height=400,
        xaxis={"type": "date"},
        yaxis={"range": [0, 1.05]},
    )
    return _plain(lines, layout)


def baseline_deltas(baseline: BaselineComparison) -> str | None:
    """Per case, each metric's delta with its bootstrap interval as error bars, coloured
    by its verdict."""
    scopes = [s for s in baseline.scopes if s.level == "case" and s.status == "compared"]
    if not scopes:
        return None
    short = [scope.scope.split("::", 1)[-1] for scope in scopes]
    names = dict(zip((s.scope for s in scopes), short, strict=True))
    if len(set(short)) < len(short):  # the same case id in two suites: keep the suite
        names = {s.scope: s.scope for s in scopes}
    traces = []
    for key, title in METRICS:
        points = [
            (scope.scope, change)
            for scope in scopes
            for change in scope.metrics
            if change.metric == key and change.delta is not None
        ]
        if not points:
            continue
        traces.append(
            {
                "type": "scatter",
                "name": f"Δ {title}",
                "x": [label(names[scope]) for scope, _ in points],
                "y": [_finite(c.delta) for _, c in points],
                "mode": "markers",
                "marker": {
                    "size": 10,
                    "color": [VERDICT_COLORS[c.verdict] for _, c in points],
                    "line": {"color": COLORS[key], "width": 2},
                    "symbol": {"si": "circle", "fc": "diamond", "rdr": "square"}[key],
                },
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [
                        0.0 if c.interval is None else max(c.interval.high - (c.delta or 0), 0)
                        for _, c in points
                    ],
                    "arrayminus": [
                        0.0 if c.interval is None else max((c.delta or 0) - c.interval.low, 0)
                        for _, c in points
                    ],
                    "color": COLORS[key],
                },
                "customdata": [
                    f"{label(scope)}<br>{c.verdict}{' (gated)' if c.gated else ''}: "
                    f"{c.before} -> {c.after}"
                    for scope, c in points
                ],
                "hovertemplate": "Δ %{y:.3f}<br>%{customdata}<extra>" + key.upper() + "</extra>",
            }
        )
    if not traces:
        return None
    layout = _layout(
        "Change per case against the baseline (95% interval)",
        height=460 if len(scopes) > WINDOW else 420,
        scattermode="group",
        xaxis=_window(len(scopes)),
        yaxis={"zeroline": True, "zerolinewidth": 2, "title": {"text": "after - before"}},
    )
    return _plain(traces, layout)


REMEDIATION_MEASURES = (
    ("si", "SI"),
    ("fc", "FC"),
    ("rdr", "RDR"),
    ("pass_rate", "pass rate"),
    ("diversity", "diversity"),
)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def as_mapping(value: Any) -> Mapping[str, Any]:
    """A JSON object of remediation.json, or an empty one when it is not an object."""
    return value if isinstance(value, Mapping) else {}


def remediation_bars(remediation: Mapping[str, Any]) -> str | None:
    """Held-out (treated) and control cases, before and after the round."""
    titles = {"treated": "held-out (trained cases)", "control": "control (untouched cases)"}
    sides = [(t, as_mapping(remediation.get(n))) for n, t in titles.items() if remediation.get(n)]
    sides = [(title, side) for title, side in sides if side]
    if not sides:
        return None
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=1, cols=len(sides), subplot_titles=[t for t, _ in sides])
    for column, (_, side) in enumerate(sides, start=1):
        for when, color in (("before", "#7f7f7f"), ("after", "#1f77b4")):
            values = as_mapping(side.get(when))
            figure.add_trace(
                go.Bar(
                    name=when,
                    legendgroup=when,
                    showlegend=column == 1,
                    x=[title for _, title in REMEDIATION_MEASURES],
                    y=[_number(values.get(key)) for key, _ in REMEDIATION_MEASURES],
                    marker_color=color,
                    hovertemplate="%{x} %{y:.3f}<extra>" + when + "</extra>",
                ),
                row=1,
                col=column,
            )
    layout = _layout("Remediation: before / after", barmode="group")
    layout["legend"] = {**layout["legend"], "y": 1.12}  # above the subplot titles
    figure.update_layout(layout)
    return _json(figure)


def remediation_losses(remediation: Mapping[str, Any]) -> str | None:
    """The training loss per logged step."""
    losses = remediation.get("losses")
    if not isinstance(losses, list):
        return None
    values = [_number(v) for v in losses]
    if not any(v is not None for v in values):
        return None
    import plotly.graph_objects as go

    line = go.Scatter(
        name="loss", x=list(range(1, len(values) + 1)), y=values, mode="lines+markers"
    )
    layout = _layout("Training loss", xaxis={"title": {"text": "logged step"}}, showlegend=False)
    return _json(go.Figure([line], layout))
