"""Test-wide setup for stabtest's own tests: pytester for the plugin tests, where the
reference benchmark data lives, and the `integration` marker on everything under
tests/integration (so `-m "not integration"` gives the fast loop)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent
SHARED_DATA = Path(os.environ.get("STABTEST_SHARED_DATA") or ROOT.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (TruthfulQA, GSM8K, ParaRel), read in place, never copied; tests
    that need it skip where it is absent, naming the path and the override variable."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA} (set STABTEST_SHARED_DATA)")
    return SHARED_DATA


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    integration = ROOT / "tests" / "integration"
    for item in items:
        if integration in item.path.parents:
            item.add_marker(pytest.mark.integration)
