"""A real Label Studio server for the integration tests, one per session (per xdist worker).

The server runs from its own environment (.venv-ls, $STABTEST_LABEL_STUDIO_BIN or PATH).
Its data dir is copied from a template initialised once under $STABTEST_CACHE_DIR (else
<repo>/.stabtest): ~5 s a start instead of ~30-70 s of migrations. Without the executable
these tests skip, naming the install command; with STABTEST_REQUIRE_LABEL_STUDIO=1 (CI)
they fail instead, so a broken install cannot pass silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stabtest.adjudication.paths import default_template_dir
from stabtest.adjudication.server import LabelStudioServer, LabelStudioServerError, find_binary

ROOT = Path(__file__).resolve().parents[2]


def _template_dir() -> Path:
    return default_template_dir(os.environ.get("STABTEST_CACHE_DIR") or ROOT / ".stabtest")


@pytest.fixture(scope="session")
def label_studio() -> Iterator[LabelStudioServer]:
    try:
        find_binary()
    except LabelStudioServerError as error:
        if os.environ.get("STABTEST_REQUIRE_LABEL_STUDIO"):
            pytest.fail(str(error))
        pytest.skip(str(error))
    with LabelStudioServer(template_dir=_template_dir()) as server:
        yield server


@pytest.fixture(scope="session")
def ls_client(label_studio: LabelStudioServer) -> Any:
    """The SDK client a human's tooling would use: to annotate, inspect, delete."""
    from label_studio_sdk import LabelStudio

    return LabelStudio(base_url=label_studio.url, api_key=label_studio.token, timeout=120)
