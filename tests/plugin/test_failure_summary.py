"""pytest's failure summary with many failing stability items: each failure keeps its full
stabtest message and what its teardown captured, while the reporter finds teardown reports
through stabtest's index instead of scanning every report once per failure."""

from __future__ import annotations

import re

import pytest

from tests.plugin.conftest import CAPITALS, Writer

MARKED = """
import pytest


@pytest.fixture
def noisy():
    yield
    print("torn down after the check")


@pytest.mark.stability(prompt="What is the capital of Italy?", reference="Rome")
def test_capital_of_italy(noisy, stab_result):
    pass
"""

PROBE = """
def pytest_unconfigure(config):
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    kind = type(reporter._get_teardown_reports).__name__
    (config.rootpath / "lookup.txt").write_text(kind)
"""

WRONG = {"capital of france": "The capital of France is Lyon.", "italy": "It is Milan."}


def test_failures_keep_their_message_and_teardown_output(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"capitals.yaml": CAPITALS}, WRONG)
    pytester.makepyfile(test_marked=MARKED)
    pytester.makeconftest(PROBE)
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == 1
    assert (pytester.path / "lookup.txt").read_text() == "TeardownIndex"
    # The failures section only: with CI set, pytest's short summary repeats whole messages.
    out = failures_section(result.stdout.str())
    # Each failing variant's full message (prompt, answer, reference, votes) is there.
    answers = re.findall(r"^answer +The capital of France is Lyon\.$", out, re.MULTILINE)
    assert len(answers) == 5  # v0..v4
    assert len(re.findall(r"^reference +Paris$", out, re.MULTILINE)) == 5
    assert len(re.findall(r"^judge +vote +conf +score +reason$", out, re.MULTILINE)) >= 5
    # The marked test's teardown print is shown under each of its failures, as pytest does.
    teardown_sections = out.count("Captured stdout teardown")
    assert teardown_sections == out.count("_ test_capital_of_italy[")
    assert teardown_sections >= 2
    assert out.count("torn down after the check") == teardown_sections


def failures_section(out: str) -> str:
    start = out.index("= FAILURES =")
    return out[start : out.index("short test summary info", start)]


def test_a_run_without_stability_items_leaves_pytest_s_reporter_alone(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({}, {})
    pytester.makepyfile(test_plain="def test_fails():\n    assert 0\n")
    pytester.makeconftest(PROBE)
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == 1
    assert (pytester.path / "lookup.txt").read_text() == "method"
