"""With several samples per variant, the terminal and the JSON report split SI into
sampling noise (within a wording) and prompt sensitivity (between wordings)."""

from __future__ import annotations

import json

import pytest

from tests.plugin.conftest import Writer

SAMPLED = """\
suite: sampled
cases:
  - id: capital-of-france
    prompt: What is the capital of France?
    reference: Paris
    incorrect: [Lyon]
    paraphrases: [Which city is the capital of France?]
    sampling: {temperature: 0.7, samples: 3}
    thresholds: {max_si: 1.0, min_fc: 0.0}
"""


def test_sampled_case_reports_si_within_and_between_wordings(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    # Every wording answers Paris, Paris, Lyon over its three samples.
    stab_project({"sampled.yaml": SAMPLED}, {"capital of france": ["Paris.", "Paris.", "Lyon."]})
    result = pytester.runpytest("-p", "no:cacheprovider")
    out = result.stdout.str()
    report = json.loads((pytester.path / "reports" / "stabtest.json").read_text())
    metrics = report["cases"][0]["metrics"]
    # within: 6 same-wording pairs, 2 agree; between: 9 cross pairs, 5 agree; SI: 8 of 15.
    assert metrics["si_within"] == pytest.approx(4 / 6)
    assert metrics["si_between"] == pytest.approx(4 / 9)
    assert metrics["si"] == pytest.approx(8 / 15)
    assert report["summary"]["si_within"] == pytest.approx(4 / 6)
    assert "SI within" in out and "SI between" in out
    assert "(within 0.667, between 0.444)" in out


def test_one_sample_per_variant_keeps_the_table_as_it_was(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    greedy = SAMPLED.replace("sampling: {temperature: 0.7, samples: 3}", "sampling: {}")
    stab_project({"sampled.yaml": greedy}, {"capital of france": "Paris."})
    result = pytester.runpytest("-p", "no:cacheprovider")
    report = json.loads((pytester.path / "reports" / "stabtest.json").read_text())
    assert report["cases"][0]["metrics"]["si_within"] is None
    assert report["cases"][0]["metrics"]["si_between"] == 0.0
    assert "SI within" not in result.stdout.str()
