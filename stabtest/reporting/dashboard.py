"""The HTML dashboard: one self-contained file (plotly.js inlined once, no network) that
shows a run's summary, metrics per suite and case, every answer with its votes, the run
history, the baseline comparison and the last remediation round.

Prompts and answers are untrusted model text. HTML is escaped by Jinja2's autoescape;
data for scripts is JSON with `<`, `>`, `&` and U+2028/9 escaped (`script_json`), so an
answer holding `</script>` cannot end a script element.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stabtest.core.atomic import write_atomic
from stabtest.core.report import RunReport
from stabtest.reporting import dashboard_figures as figures
from stabtest.reporting.dashboard_view import case_views, fmt, remediation_view, run_facts, when

if TYPE_CHECKING:
    import jinja2

    from stabtest.reporting.history import HistoryRecord

DASHBOARD_NAME = "stabtest.html"
REMEDIATION_NAME = "remediation.json"
"""Written by stabtest.remediation.loop next to the report it trained on."""
RECENT_RUNS = 20
"""Runs listed in the history table (the trend plot shows them all)."""
_SCRIPT_UNSAFE = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def script_json(text: str) -> str:
    """JSON text made safe inside <script>: the escapes are JSON string escapes, and these
    characters only occur inside JSON strings, so the value is unchanged."""
    return text.translate(_SCRIPT_UNSAFE)


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt
    env.filters["when"] = when
    return env


@functools.cache
def _plotly_js() -> str:
    """plotly.js as shipped inside the plotly package (read once per process): the file
    `plotly.offline.get_plotlyjs` reads, read without importing plotly.offline (0.2 s)."""
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations)))
        try:
            return (folder / "package_data" / "plotly.min.js").read_text(encoding="utf-8")
        except OSError:
            pass
    from plotly.offline import get_plotlyjs  # another plotly layout: ask plotly

    return str(get_plotlyjs())


def _figures(
    report: RunReport,
    history: Sequence[HistoryRecord],
    remediation: Mapping[str, Any] | None,
) -> dict[str, str]:
    """Plot name -> figure JSON, for the plots that have data."""
    built = {
        "suites": figures.suite_metrics(report),
        "cases": figures.case_metrics(report),
        "repeats": figures.repeat_rates(report),
        "adversarial": figures.adversarial_pdr(report),
        "trend": figures.trend(history),
        "baseline": figures.baseline_deltas(report.baseline) if report.baseline else None,
        "remediation": figures.remediation_bars(remediation) if remediation else None,
        "losses": figures.remediation_losses(remediation) if remediation else None,
    }
    return {name: data for name, data in built.items() if data is not None}


def _figures_json(built: Mapping[str, str]) -> str:
    """One JSON object of figures, assembled from plotly's own JSON texts."""
    import json

    body = ",".join(f"{json.dumps(name)}:{data}" for name, data in built.items())
    return script_json("{" + body + "}")


def render_dashboard(
    report: RunReport,
    *,
    history: Sequence[HistoryRecord] = (),
    remediation: Mapping[str, Any] | None = None,
) -> str:
    """The dashboard page for `report`, with the run history's trend when `history` has
    runs and the remediation round when `remediation` (remediation.json) is given."""
    built = _figures(report, history, remediation)
    return (
        _environment()
        .get_template("dashboard.html.j2")
        .render(
            report=report,
            facts=run_facts(report),
            cases=case_views(report),
            plots=built,
            figures_json=_figures_json(built),
            plotly_js=_plotly_js(),
            history=history,
            recent=sorted(history, key=lambda r: r.time, reverse=True)[:RECENT_RUNS],
            baseline=report.baseline,
            remediation=remediation_view(remediation) if remediation else None,
        )
    )


def write_dashboard(
    path: Path,
    report: RunReport,
    *,
    history: Sequence[HistoryRecord] = (),
    remediation: Mapping[str, Any] | None = None,
) -> Path:
    """Write the page via a temporary file and rename: a reader (a browser, a CI artifact
    upload) never sees half a page."""
    page = render_dashboard(report, history=history, remediation=remediation)
    # A lone surrogate (a report read from hand-made JSON) has no UTF-8 form: shown as "?".
    return write_atomic(path, page.encode("utf-8", "replace"))


def load_remediation(path: Path, on_skip: Callable[[str], None]) -> dict[str, Any] | None:
    """remediation.json as a mapping; None when there is none, or (told to `on_skip`)
    when it is not a JSON object: a broken side file never stops the page."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as error:
        on_skip(f"{path}: not shown ({type(error).__name__}: {str(error)[:120]})")
        return None
    if not isinstance(data, dict):
        on_skip(f"{path}: not shown (not a JSON object)")
        return None
    return data


def _older_than(remediation: Mapping[str, Any], report: RunReport) -> bool:
    """A round belongs to a run when it was made after the run started (from its report)."""
    created = remediation.get("created_at")
    return isinstance(created, int | float) and created < report.started_at


def write_run_dashboard(
    report_path: Path,
    report: RunReport,
    *,
    history_file: Path | None,
    out: Path | None = None,
    on_skip: Callable[[str], None] = lambda message: None,
) -> Path:
    """The dashboard of a written report, with the run history of `history_file` (None:
    the history is off) and the remediation round whose remediation.json lies next to
    the report. Written to `out`, by default stabtest.html next to the report."""
    from stabtest.reporting.history import read_history

    history = read_history(history_file, on_skip=on_skip) if history_file is not None else []
    remediation = load_remediation(report_path.with_name(REMEDIATION_NAME), on_skip)
    if remediation is not None and _older_than(remediation, report):
        remediation = None  # a round made from an earlier run is not this run's
    target = out or report_path.with_name(DASHBOARD_NAME)
    return write_dashboard(target, report, history=history, remediation=remediation)
