"""Failure messages wrap long cells as textwrap does, and skip it for short ones."""

from __future__ import annotations

import textwrap

import pytest

from stabtest.reporting.failure import WIDTH, _wrap


@pytest.mark.parametrize(
    "text", ["", "short answer", "x" * WIDTH, "word " * 40, "a-b " * 30, "  spaced\tout\n text "]
)
def test_wrapping_is_textwrap_s(text: str) -> None:
    shown = " ".join(text.split())
    assert _wrap(text) == "\n".join(textwrap.wrap(shown, WIDTH))
