"""`stabtest judge-noise` on a real run's report: the answers re-judged under harmless
perturbations, nothing generated, flip rates and alpha printed and written."""

from __future__ import annotations

import json

import pytest

from stabtest.cli import main
from stabtest.core.report import read_report
from stabtest.generation.generator import Generator

SUITE = """\
suite: capitals
cases:
  - id: france
    prompt: What is the capital of France?
    reference: Paris
    aliases: [City of Paris, "Paris, France"]
    incorrect: [Lyon, Marseille]
    paraphrases:
      - Which city is the capital of France?
      - Name the capital of France.
    sampling: {temperature: 1.0, samples: 2}
  - id: italy
    prompt: What is the capital of Italy?
    reference: Rome
    paraphrases:
      - Which city is the capital of Italy?
"""
ANSWERS = {
    "capital of france": ["The capital of France is Paris.", "It is Lyon."],
    "capital of italy": "Rome is the capital of Italy.",
}


def test_judge_noise_rejudges_the_reports_answers_without_generating(
    pytester: pytest.Pytester, stab_project, capsys, monkeypatch
) -> None:
    stab_project({"capitals.yaml": SUITE}, ANSWERS, ini="stab_escalate_below = 0\n")
    assert pytester.runpytest().ret in (0, 1)
    report = read_report(pytester.path / "reports" / "stabtest.json")
    answers = sum(len(v.answers) for v in report.variants)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("judge-noise generated")

    monkeypatch.setattr(Generator, "run", refuse)
    monkeypatch.setattr(Generator, "__call__", refuse)
    monkeypatch.chdir(pytester.path)
    capsys.readouterr()
    assert main(["judge-noise", "--seed", "3", "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    for line in ("whitespace", "casing", "punctuation", "reference_order", "overall"):
        assert line in out
    assert "noise floor (ensemble verdict flip rate): 0.000" in out
    assert "Krippendorff's alpha" in out and "reference votes" in out

    written = json.loads((pytester.path / "reports" / "judge_noise.json").read_text())
    noise = written["judge_noise"]
    assert noise["cases"] == 2 and noise["answers"] == answers and noise["seed"] == 3
    assert noise["kinds"]["whitespace"]["verdicts"] == 2 * answers
    assert noise["kinds"]["reference_order"]["verdicts"] == 2 * 6  # france only: 3 x 2
    assert noise["overall"]["flips"] == 0 and noise["noise_floor"] == 0.0
    assert set(noise["judges"]) >= {"reference", "semantic"}

    assert main(["judge-noise", "--seed", "3", "--rounds", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == written  # same seed, same result

    # a case since removed from its suite is named, not measured
    suite = pytester.path / "suites" / "capitals.yaml"
    suite.write_text(SUITE.split("  - id: italy")[0], encoding="utf-8")
    assert main(["judge-noise"]) == 0
    out = capsys.readouterr().out
    assert "skipped suites/capitals.yaml::italy: not in the suites any more" in out
    assert "1 case(s)" in out
