"""`stabtest explore` against the bundled SmolLM2-135M and all-MiniLM-L6-v2.

The model answers "What is the capital of France?" right ("The capital of France is
Paris."), and about half of its one-operator punctuation, casing and whitespace variants
make it answer something else (measured: `...France?!`, `...France!`, `What Is The
Capital Of France?`, a doubled space, a leading space or a trailing newline all give
"L'Étoile de la Cité, ..."; with max_new_tokens 16), so a budget of 10 generations (the
original and 9 candidates) finds one: missing needs 9 unbroken candidates in a row.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stabtest.cli import main
from stabtest.core.loader import load_suite

pytestmark = pytest.mark.integration

SUITE = """\
suite: real
defaults:
  sampling: {temperature: 0.0, max_new_tokens: 16}
cases:
  # The model gets this one right in its own wording.
  - id: capital-of-france
    prompt: What is the capital of France?
    reference: Paris
    incorrect: [Lyon, Marseille]
"""
OPERATORS = "punctuation,casing,whitespace"


def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    """A project whose only suite is `text`, as the working directory; the suite's path."""
    suite = tmp_path / "suites" / "real.yaml"
    suite.parent.mkdir()
    suite.write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return suite


def test_explore_finds_shrinks_and_writes_back_a_break(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = project(tmp_path, monkeypatch, SUITE)
    args = ["explore", "suites/real.yaml::capital-of-france", "--operators", OPERATORS]

    assert main([*args, "--max-generations", "10", "--max-depth", "3"]) == 0
    out = capsys.readouterr().out
    assert "  answer:   The capital of France is Paris." in out  # the original, right
    found = next(line for line in out.splitlines() if line.startswith("found a breaking"))
    count = int(found.split(": ")[1].split(" operator")[0])
    assert 1 <= count <= 3
    assert "breaks:   fail" in out
    case = load_suite(suite).case("capital-of-france")
    assert len(case.paraphrases) == 1
    variant = case.paraphrases[0]
    assert variant != case.prompt
    assert f"  variant:  {variant!r}" in out
    assert "  # The model gets this one right in its own wording.\n" in suite.read_text()

    # The rerun replays the break from the example database, through the cache: free.
    assert main([*args, "--max-generations", "10", "--max-depth", "3"]) == 0
    out = capsys.readouterr().out
    hits = re.search(r"budget: 0 of 10 generations, (\d+) cache hit\(s\), (\d+) candidate", out)
    assert hits is not None and hits[1] == hits[2]
    assert f"  variant:  {variant!r}" in out
    assert load_suite(suite).case("capital-of-france").paraphrases == (variant,)


THREAD = """\
suite: real
defaults:
  sampling: {temperature: 0.0, max_new_tokens: 16}
cases:
  - id: paris-thread  # asked, then asked again
    turns:
      - prompt: What is the capital of France?
        reference: Paris
        incorrect: [Lyon, Marseille]
      - prompt: Remind me, what is the capital of France?
        recall: 1
"""


def test_explore_breaks_a_conversation_through_its_opening_question(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = project(tmp_path, monkeypatch, THREAD)
    args = ["explore", "suites/real.yaml::paris-thread", "--operators", OPERATORS]
    assert main([*args, "--max-generations", "20", "--max-depth", "3"]) == 0
    out = capsys.readouterr().out
    assert "  answer:   The capital of France is Paris." in out  # the original thread passes
    assert "breaks:   fail" in out
    case = load_suite(suite).case("paris-thread")
    [variant] = case.turns[0].paraphrases  # written where explore perturbed: turn 1
    assert variant != case.prompt and f"  variant:  {variant!r}" in out
    assert case.turns[1].paraphrases == ()
    assert "  - id: paris-thread  # asked, then asked again\n" in suite.read_text()
