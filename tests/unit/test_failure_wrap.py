"""Failure messages wrap long cells as textwrap does, and skip it for short ones; a case
collected as one item names at most LISTED failing variants."""

from __future__ import annotations

import textwrap

import pytest

from stabtest.core.results import AnswerResult, CaseMetrics, CaseResult, VariantResult, Verdict
from stabtest.reporting.failure import LISTED, WIDTH, _wrap, whole_case_headline


@pytest.mark.parametrize(
    "text", ["", "short answer", "x" * WIDTH, "word " * 40, "a-b " * 30, "  spaced\tout\n text "]
)
def test_wrapping_is_textwrap_s(text: str) -> None:
    shown = " ".join(text.split())
    assert _wrap(text) == "\n".join(textwrap.wrap(shown, WIDTH))


def test_a_whole_case_headline_names_the_first_failing_variants_and_counts_the_rest() -> None:
    fail = Verdict("fail", 0.9, (), "hallucination", "wrong")
    failed = [
        VariantResult(
            f"s.yaml::c[v{i}]",
            "s.yaml",
            "c",
            f"v{i}",
            "rule",
            "q",
            (),
            None,
            (AnswerResult(0, "a", 0, fail),),
        )
        for i in range(LISTED + 5)
    ]
    case = CaseResult(
        "s.yaml::c",
        "s.yaml",
        "c",
        CaseMetrics(0.5, None, 0.5, 25, 2),
        0.3,
        None,
        ("SI 0.500 > max_si 0.300",),
    )
    line = whole_case_headline(case, failed, 30)
    listed = ", ".join(f"v{i}" for i in range(LISTED))
    assert line == f"c: 25 of 30 variants failed ({listed}, ... 5 more); SI 0.500 > max_si 0.300"
