"""Stash keys and names shared by the glue modules: a leaf, imported by all, importing
none of them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from stabtest.reporting.recorder import Recorder
    from stabtest.session import Session

SESSION: pytest.StashKey[Session] = pytest.StashKey()
RECORDER: pytest.StashKey[Recorder] = pytest.StashKey()
MARKER = "stability"
VARIANT_PARAM = "stab_variant"
RESULT_PROPERTY = "stabtest"
"""User property holding an item's results as JSON (survives xdist)."""
OUTCOME_PROPERTY = "stabtest_outcome"
"""User property holding a variant item's outcome: `escalate` is shown as ESCALATED."""

SUITE_SUFFIXES = (".yaml", ".yml")
"""What a YAML suite file ends with."""


def is_failed_suite(report: pytest.CollectReport) -> bool:
    """A suite file that failed to collect: it fails alone, and the report lists it."""
    return bool(report.failed) and report.nodeid.endswith(SUITE_SUFFIXES)


Target = tuple[str, str, str]
"""(scope, case id, variant id or CASE_ITEM or WHOLE_CASE) of a marked test's item."""
WHOLE_CASE = "*"
"""The variant slot of the one item of a marked test collected per case (its id is
still `[stability]`): it records and checks every variant and the case."""
