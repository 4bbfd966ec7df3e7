"""Hooks users implement in conftest.py or a plugin to extend stabtest."""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("pytest")


@hookspec
def stabtest_add_judges(settings: Any) -> list[Any] | None:
    """Return extra judges (objects with name, aspect, applies(case), votes(evidence)) to
    run beside the configured ones; every implementation's judges are added."""


@hookspec(firstresult=True)
def stabtest_modify_variants(case: Any, variants: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """Return a replacement tuple of variants for a case (first non-None result wins). Keep
    ids stable: a variant's id is its index."""


@hookspec
def stabtest_report_written(path: Any, report: dict[str, Any]) -> None:
    """Called after the JSON report is written, e.g. to upload it or compare baselines."""
