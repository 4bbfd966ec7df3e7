"""`stabtest explore SUITE::CASE` end to end on the fake backend: settings from flags and
the ini file, the printed finding, the write-back, and the exit statuses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stabtest.cli import main
from stabtest.core.loader import load_suite
from stabtest.variants.perturb import _DISTRACTORS

SUITE = """\
suite: capitals
cases:
  # France first
  - id: france
    prompt: What is the capital of France?
    reference: Paris
    incorrect: [Lyon]
"""
RIGHT = {"capital of france": "The capital of France is Paris."}
DISTRACTED = {sentence.lower(): "It is Lyon." for sentence in _DISTRACTORS} | RIGHT


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "capitals.yaml").write_text(SUITE, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nstab_backend = fake\nstab_embedder = lexical\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def answers(project: Path, table: dict[str, str]) -> str:
    path = project / "answers.json"
    path.write_text(json.dumps(table), encoding="utf-8")
    return str(path)


def explore(project: Path, table: dict[str, str], *extra: str) -> int:
    return main(
        [
            "explore",
            "suites/capitals.yaml::france",
            "--stab-model",
            answers(project, table),
            "--operators",
            "distractor,casing,punctuation",
            *extra,
        ]
    )


def test_found_prints_the_variant_and_adds_it_to_the_suite(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert explore(project, DISTRACTED) == 0
    out = capsys.readouterr().out
    assert "found a breaking variant: 1 operator (distractor" in out
    assert "  original: 'What is the capital of France?'" in out
    assert "  answer:   The capital of France is Paris." in out
    assert "  answer:   It is Lyon." in out
    assert "breaks:   fail" in out and "Lyon" in out.split("breaks:")[1]
    assert "wrote suites/capitals.yaml:9: a paraphrase of france" in out
    case = load_suite(project / "suites" / "capitals.yaml").case("france")
    assert len(case.paraphrases) == 1
    assert any(sentence in case.paraphrases[0] for sentence in _DISTRACTORS)
    assert "  # France first\n" in (project / "suites" / "capitals.yaml").read_text()
    assert any((project / ".stabtest" / "explore").rglob("*")), "the example database"

    assert explore(project, DISTRACTED) == 0  # replayed from the database and the cache
    out = capsys.readouterr().out
    hits = re.search(r"budget: 0 of 60 generations, (\d) cache hit\(s\), (\d) candidate", out)
    assert hits is not None and hits[1] == hits[2]
    assert "already has this wording; unchanged" in out
    assert len(load_suite(project / "suites" / "capitals.yaml").case("france").paraphrases) == 1


def test_no_write_leaves_the_suite_alone(project: Path) -> None:
    assert explore(project, DISTRACTED, "--no-write") == 0
    assert (project / "suites" / "capitals.yaml").read_text(encoding="utf-8") == SUITE


def test_a_spent_budget_exits_1_and_says_so(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert explore(project, RIGHT, "--max-generations", "4") == 1
    out = capsys.readouterr().out
    assert "no breaking variant found: the budget of 4 generations ran out" in out
    assert "budget: 4 of 4 generations" in out
    assert (project / "suites" / "capitals.yaml").read_text(encoding="utf-8") == SUITE


def test_a_failing_original_exits_3(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert explore(project, {"capital of france": "It is Lyon."}) == 3
    assert "already fails; nothing to explore" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["suites/capitals.yaml"], "expected SUITE::CASE"),
        (["suites/capitals.yaml::germany"], "no case 'germany' (cases: france)"),
        (["suites/missing.yaml::france"], "cannot read suite"),
        (["suites/capitals.yaml::france", "--operators", "typoo"], "did you mean 'typo'"),
        (["suites/capitals.yaml::france", "--max-generations", "0"], "max generations"),
        (["suites/capitals.yaml::france", "--stab-seed", "x"], "setting --stab-seed"),
    ],
)
def test_bad_input_exits_2_with_a_clear_error(
    project: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["explore", *args, "--stab-model", answers(project, RIGHT)]) == 2
    assert message in capsys.readouterr().err
