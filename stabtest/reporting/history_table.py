"""`stabtest history` in the terminal: one row per run, newest last, so the latest run
sits right above the prompt."""

from __future__ import annotations

import time
from collections.abc import Sequence

from tabulate import tabulate

from stabtest.core.text import for_terminal, terminal_safe
from stabtest.reporting.history import HistoryRecord

HEADERS = [
    "finished",
    "run",
    "label",
    "model",
    "status",
    "cases ok",
    "variants ok",
    "SI",
    "FC",
    "RDR",
    "AP",
    "generated",
    "baseline",
]


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _model(record: HistoryRecord) -> str:
    """The model as the user named it, else the backend; with the fingerprint's head, which
    tells two versions of one path apart."""
    name = record.model or record.backend or "-"
    if record.fingerprint:
        name += f" @{record.fingerprint.rsplit(':', 1)[-1][:8]}"
    return for_terminal(name, 40, layout=False)


def _status(record: HistoryRecord) -> str:
    return record.status + ("" if record.exitstatus is None else f" ({record.exitstatus})")


def _baseline(record: HistoryRecord) -> str:
    if record.baseline is None:
        return ""
    name = for_terminal(record.baseline, 30, layout=False)
    return f"{name}: {record.regressions} regressed" if record.regressions else f"{name}: ok"


def row(record: HistoryRecord) -> list[str]:
    run = record.run
    g = record.generation
    return [
        time.strftime("%Y-%m-%d %H:%M", time.localtime(record.time)),
        for_terminal(record.run_id, 40, layout=False),
        for_terminal(record.label or "", 30, layout=False),
        _model(record),
        _status(record),
        f"{run.cases - run.cases_failed}/{run.cases}",
        f"{run.variants - run.variants_failed - run.escalated}/{run.variants}",
        _num(run.si),
        _num(run.fc),
        _num(run.rdr),
        _num(run.ap),
        f"{g.generated}/{g.requests}",
        _baseline(record),
    ]


def render_history(records: Sequence[HistoryRecord]) -> str:
    return terminal_safe(
        tabulate([row(r) for r in records], headers=HEADERS, disable_numparse=True)
    )
