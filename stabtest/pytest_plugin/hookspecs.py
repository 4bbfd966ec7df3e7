"""Hooks users implement in conftest.py or a plugin to extend stabtest.

The names start with `pytest_` because pytest only ever treats functions named
`pytest_*` as hook implementations (a `stabtest_*` function in a conftest.py would be
silently ignored, `@pytest.hookimpl` or not), as pytest-xdist's `pytest_xdist_*` do.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from stabtest.core.report import RunReport

hookspec = pluggy.HookspecMarker("pytest")


@hookspec
def pytest_stabtest_add_judges(settings: Any) -> list[Any] | None:
    """Return extra judges (objects with name, aspect, applies(case), votes(evidence)) to
    run beside the configured ones; every implementation's judges are added. Called once
    per process (xdist worker) when the first case is judged."""


@hookspec(firstresult=True)
def pytest_stabtest_modify_variants(case: Any, variants: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """Return a replacement tuple of variants for a case (first non-None result wins). Keep
    ids stable: a variant's id is its index. Runs at collection, in every xdist worker, so
    it must be deterministic."""


@hookspec
def pytest_stabtest_report_written(path: Path, report: RunReport) -> None:
    """Called once (in the controller only) at the very end of the run, after the final
    JSON report is written and the dashboard drawn, with its path and the typed report as
    written (`stabtest.core.report.RunReport`: its baseline comparison, Label Studio push,
    explore findings and the exit status included), e.g. to upload it."""
