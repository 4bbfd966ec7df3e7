"""Suite loading: defaults, validation, and errors that name file, line and key."""

from __future__ import annotations

import pytest

from stabtest.core.errors import SuiteError
from stabtest.core.loader import build_case, dump_suite, load_suite, parse_suite

SUITE = """\
suite: demo
defaults:
  sampling: {temperature: 0.5, samples: 2}
  thresholds: {max_si: 0.2}
cases:
  - id: france
    prompt: What is the capital of France?
    reference: Paris
  - id: sum
    kind: numeric
    prompt: What is 2 + 2?
    reference: "4"
    sampling: {samples: 1}
"""


def test_defaults_merge_under_each_case():
    suite = parse_suite(SUITE, "suites/demo.yaml")
    france, total = suite.cases
    assert suite.name == "demo"
    assert (france.sampling.temperature, france.sampling.samples) == (0.5, 2)
    assert (total.sampling.temperature, total.sampling.samples) == (0.5, 1)
    assert france.thresholds.max_si == 0.2
    assert france.checks == ("semantic", "reference")
    assert total.checks == ("semantic", "numeric")
    assert (france.line, total.line) == (6, 9)


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        (
            "cases:\n  - id: a\n    prompt: hi\n    colour: red\n",
            4,
            "cases[0].colour",
            "unknown key",
        ),
        ("cases:\n  - id: a\n", 2, "cases[0].prompt", "missing required key 'prompt'"),
        (
            "cases:\n  - id: a\n    prompt: hi\n    sampling:\n      temperature: hot\n",
            5,
            "cases[0].sampling.temperature",
            "number",
        ),
        ("cases:\n  - {id: a, prompt: x}\n  - {id: a, prompt: y}\n", 3, "cases[1].id", "duplicate"),
        ("cases:\n  - id: 'bad id!'\n    prompt: x\n", 2, "cases[0].id", "must start with"),
        (
            "cases:\n  - id: a\n    prompt: x\n    checks: [reference]\n",
            2,
            "cases[0]",
            "need a 'reference'",
        ),
        ("suite: x\nextra: 1\ncases: []\n", 2, "extra", "unknown key 'extra'"),
        ("cases: []\n", 1, "cases", "non-empty list"),
        (
            "suite: x\ncollect: per-item\ncases:\n  - {id: a, prompt: b}\n",
            2,
            "collect",
            "expected one of per-variant, per-case, got 'per-item'",
        ),
        ("collect: [per-case]\ncases:\n  - {id: a, prompt: b}\n", 1, "collect", "got ['per-case']"),
        (
            "defaults:\n  sampling: {samples: 0}\ncases:\n  - {id: a, prompt: b}\n",
            2,
            "defaults.sampling.samples",
            "greater than or equal to 1",
        ),
    ],
)
def test_errors_name_line_and_key(text, line, key, message):
    with pytest.raises(SuiteError) as info:
        parse_suite(text, "suites/bad.yaml")
    error = info.value
    assert (error.path, error.line, error.key) == ("suites/bad.yaml", line, key)
    assert message in str(error)
    assert str(error).startswith(f"suites/bad.yaml:{line} [{key}]")


@pytest.mark.parametrize(
    ("line", "expected"),
    [("", None), ("collect: per-case\n", "per-case"), ("collect: per-variant\n", "per-variant")],
)
def test_collect_is_the_suites_own_or_left_to_the_setting(line, expected):
    suite = parse_suite(f"suite: x\n{line}cases:\n  - {{id: a, prompt: b}}\n", "x.yaml")
    assert suite.collect == expected


def test_invalid_yaml_and_empty_file():
    with pytest.raises(SuiteError, match=r"x.yaml:2: invalid YAML"):
        parse_suite("cases:\n  - [unclosed\n", "x.yaml")
    with pytest.raises(SuiteError, match="empty"):
        parse_suite("", "x.yaml")


def test_missing_file_names_it(tmp_path):
    with pytest.raises(SuiteError, match=r"nope\.yaml: cannot read suite"):
        load_suite(tmp_path / "nope.yaml", display_path="nope.yaml")


def test_marker_cases_use_the_same_validation():
    case = build_case({"id": "m", "prompt": "hi", "paraphrases": ["hello"]})
    assert case.paraphrases == ("hello",)
    with pytest.raises(SuiteError, match=r"<marker> \[paraphrases\]"):
        build_case({"id": "m", "prompt": "hi", "paraphrases": 3})


def test_dump_suite_round_trips():
    text = dump_suite("t", [{"id": "a", "prompt": "Q?", "reference": "A"}], {"kind": "fact"})
    assert parse_suite(text, "t.yaml").cases[0].reference == "A"
