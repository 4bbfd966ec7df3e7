"""Fuzzing the two readers of user files: whatever a suite or a report holds, the only
error that comes out is the documented one (`SuiteError` naming file and line,
`ReportError` naming the file), on one line, and never a traceback.

Bounded and derandomized so CI is deterministic and takes seconds. To hunt for escapes,
raise the budget: `STABTEST_FUZZ_EXAMPLES=20000 pytest tests/unit/test_fuzz_readers.py`.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stabtest.cli import main
from stabtest.core.errors import SuiteError
from stabtest.core.loader import load_suite, parse_suite
from stabtest.core.report import ReportError, RunReport, read_report
from stabtest.core.results import (
    AnswerResult,
    CaseMetrics,
    CaseResult,
    GenerationStats,
    RunSummary,
    VariantResult,
    Verdict,
    Vote,
)
from stabtest.reporting.terminal import render_summary

EXAMPLES = int(os.environ.get("STABTEST_FUZZ_EXAMPLES", "250"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
SUITE_PATH = "suites/fuzz.yaml"

# --- suite documents --------------------------------------------------------------------

SEED_SUITES = (
    """\
suite: demo
description: A small suite.
defaults:
  kind: fact
  sampling: {temperature: 0.5, samples: 2}
  perturbations: {count: 2, operators: [casing, typo], depth: 1}
  thresholds: {max_si: 0.2, min_fc: 0.5}
cases:
  - id: france
    prompt: What is the capital of France?
    reference: Paris
    aliases: [Paris, paris]
    paraphrases:
      - Which city is the capital of France?
  - id: sum
    kind: numeric
    prompt: "What is 2 + 2?"
    reference: "4"
    sampling: {samples: 1}
    tags: [math]
""",
    """\
base: &base
  kind: numeric
  sampling: &sampling {temperature: 0.0, max_new_tokens: 32}
cases:
  - <<: *base
    id: a
    prompt: "12 + 7 = ?"
    reference: "19"
  - <<: [*base, {tags: [x]}]
    id: b
    prompt: |
      A box holds 12 pencils.
      How many pencils are in 2 boxes?
    reference: '24'
    sampling: *sampling
""",
    "cases:\n  - {id: q, prompt: hi, checks: [semantic], model_paraphrases: {count: 1}}\n",
)

TOKENS = (
    ": ",
    "- ",
    "? ",
    "&a ",
    "&b ",
    "*a",
    "*b",
    "<<: *a",
    "<<: [*a, *b]",
    "<<: ",
    "!!int ",
    "!!float ",
    "!!bool ",
    "!!timestamp ",
    "!!binary ",
    "!!str ",
    "!!set ",
    "!!omap ",
    "!!python/object:os.system ",
    "!local ",
    "=",
    "~",
    "2020-13-45",
    "2001-12-14t21:59:43.10-05:00",
    "1e999",
    ".nan",
    "-.inf",
    "0x",
    "0b102",
    "190:20:30",
    "9" * 5000,
    "[",
    "]",
    "{",
    "}",
    ",",
    "'",
    '"',
    "#",
    "|",
    ">-",
    "\t",
    "\n",
    "\n  ",
    "  ",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "%TAG ! tag:x,2000:\n",
    "\x00",
    "\x85",
    "\ufeff",
    "\ud800",
    "\u2028",
    "é",
    "\\",
    "\\x",
)
SCALARS = (
    "x",
    "hi",
    "=",
    "<<",
    "~",
    "null",
    "yes",
    "off",
    "1",
    "-0",
    "0.5",
    "1e999",
    ".nan",
    "2020-13-45",
    "2020-01-01",
    "0o17",
    "190:20:30",
    "''",
    '""',
    "'it''s'",
    '"\\x00"',
    '"a\\nb"',
    "!!int abc",
    "!!int ''",
    "!!float ''",
    "!!float x",
    "!!bool maybe",
    "!!timestamp nope",
    "!!timestamp 2020-01-01 25:61",
    "!!binary '%%'",
    "!!binary é",
    "!!null x",
    "!!str 1",
    "!!int 0x_",
    "!!set x",
    "!!python/name:os.system",
    "!!python/object/apply:os.system ['true']",
    "!local x",
    "*a",
    "*b",
    "*nowhere",
)
KEYS = (
    "id",
    "prompt",
    "reference",
    "cases",
    "defaults",
    "suite",
    "sampling",
    "temperature",
    "samples",
    "perturbations",
    "count",
    "operators",
    "tags",
    "line",
    "<<",
    "'<<'",
    "=",
    "~",
    "1",
    "yes",
    "2020-13-45",
    "!!int abc",
    "!!binary '%%'",
    "*a",
    "[a]",
    "{a: 1}",
    '"co\\nlour"',
)


@st.composite
def mutated_suites(draw: st.DrawFn) -> str:
    """A valid suite with a few edits: tokens inserted, spans deleted, lines repeated."""
    text: str = draw(st.sampled_from(SEED_SUITES))
    for _ in range(draw(st.integers(1, 4))):
        edit = draw(st.sampled_from(("insert", "delete", "replace", "repeat")))
        at = draw(st.integers(0, len(text)))
        if edit == "insert":
            text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 12)) :]
        elif edit == "replace":
            end = text.find("\n", at)
            end = len(text) if end < 0 else end
            start = text.rfind(": ", 0, end)
            if start >= 0:
                text = text[: start + 2] + draw(st.sampled_from(SCALARS)) + text[end:]
        else:
            lines = text.splitlines(keepends=True)
            index = draw(st.integers(0, len(lines) - 1))
            lines.insert(index, lines[index])
            text = "".join(lines)
    return text


def _anchored(fragment: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A fragment, sometimes with an anchor or a tag in front of it."""
    prefix = st.sampled_from(("", "", "", "&a ", "&b ", "!!map ", "!!seq ", "!!set ", "!x "))
    return st.tuples(prefix, fragment).map("".join)


def _flow(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    keys = st.sampled_from(KEYS) | st.text("ab:<&*! ", min_size=1, max_size=3)
    sequence = st.lists(children, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]")
    mapping = st.lists(st.tuples(keys, children), max_size=4).map(
        lambda pairs: "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
    )
    return _anchored(sequence | mapping)


FRAGMENTS = st.recursive(st.sampled_from(SCALARS) | st.text(max_size=6), _flow, max_leaves=12)
TEMPLATES = (
    "{0}",
    "cases: {0}\n",
    "cases:\n  - {{id: a, prompt: {0}}}\n",
    "defaults: {0}\ncases:\n  - {{id: a, prompt: q}}\n",
    "defaults: &a {0}\ncases:\n  - <<: *a\n    id: a\n    prompt: {1}\n",
    "x: &a {0}\ny: &b {1}\ncases:\n  - {{id: a, prompt: q, sampling: {0}, tags: {1}}}\n",
    "cases:\n  - id: a\n    prompt: q\n    {0}: {1}\n",
    "suite: {0}\ndescription: {1}\ncases:\n  - {{id: a, prompt: q}}\n",
    "cases:\n  - &a {{id: a, prompt: {0}}}\n  - {{<<: *a, id: b, perturbations: {1}}}\n",
)


@st.composite
def generated_suites(draw: st.DrawFn) -> str:
    """Suite skeletons with random flow YAML (anchors, aliases, tags, merge keys) in them."""
    template = draw(st.sampled_from(TEMPLATES))
    return template.format(draw(FRAGMENTS), draw(FRAGMENTS))


def _decoded(data: bytes) -> st.SearchStrategy[str]:
    return st.sampled_from(
        (
            data.decode("utf-8", "replace"),
            data.decode("latin-1"),
            data.decode("utf-8", "surrogateescape"),
        )
    )


SUITE_TEXTS = (
    mutated_suites()
    | generated_suites()
    | st.lists(st.sampled_from(TOKENS + SCALARS + KEYS), max_size=30).map("".join)
    | st.binary(max_size=120).flatmap(_decoded)
    | st.text(max_size=80)
)


def _assert_suite_error(error: SuiteError, path: str) -> None:
    text = str(error)
    assert text.startswith(f"{path}:"), text
    assert "\n" not in text and "\r" not in text, text
    assert error.line is not None and error.line >= 1, text


@FUZZ
@given(SUITE_TEXTS)
def test_the_suite_loader_raises_only_suite_error(text: str) -> None:
    try:
        parse_suite(text, SUITE_PATH)
    except SuiteError as error:
        _assert_suite_error(error, SUITE_PATH)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """One directory for every example (hypothesis runs many examples per test call)."""
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


@FUZZ
@given(st.binary(max_size=200) | mutated_suites().map(lambda s: s.encode("utf-8", "replace")))
def test_suite_files_of_any_bytes_raise_only_suite_error(scratch: Path, data: bytes) -> None:
    path = scratch / "suite.yaml"
    path.write_bytes(data)
    try:
        load_suite(path, SUITE_PATH)
    except SuiteError as error:
        _assert_suite_error(error, SUITE_PATH)


# --- reports ----------------------------------------------------------------------------

VOTE = Vote("reference", "fail", 0.9, 0.0, "contains the wrong answer 'Lyon' [wrong]", None)
VARIANT = VariantResult(
    uid="suites/c.yaml::fr[v1]",
    suite="suites/c.yaml",
    case_id="fr",
    variant_id="v1",
    family="rule",
    prompt="what is the capital of france?",
    operators=("casing",),
    reference="Paris",
    answers=(
        AnswerResult(0, "Lyon", 1, Verdict("fail", 0.9, (VOTE,)), False),
        AnswerResult(1, "Paris?", 2, Verdict("escalate", 0.4, (VOTE,)), None),
    ),
)
CASE = CaseResult(
    uid="suites/c.yaml::fr",
    suite="suites/c.yaml",
    case_id="fr",
    metrics=CaseMetrics(0.5, 0.5, 1.0, 2, 2),
    max_si=0.5,
    min_fc=0.6,
    failures=("FC 0.500 < min_fc 0.600",),
)
VALID = RunReport(
    run_id="r1",
    status="complete",
    exitstatus=1,
    started_at=0.0,
    finished_at=2.0,
    settings={"escalate_below": 0.5, "seed": 0},
    summary=RunSummary(),
    generation=GenerationStats(requests=2, generated=2, generate_seconds=0.5),
    suites={"suites/c.yaml": RunSummary()},
    cases=[CASE],
    variants=[VARIANT],
    label_studio={"url": "http://localhost:8080"},
)
VALID_JSON: dict[str, Any] = json.loads(VALID.model_dump_json())

JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from((10**400, -(10**4000), 2**63, -1, 0))
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(("pass", "fail", "escalate", "complete", "\n", "[", "x[y]"))
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=10,
)


@st.composite
def mutated_reports(draw: st.DrawFn) -> Any:
    """The valid report with a few values replaced, keys removed or keys added."""
    report = json.loads(json.dumps(VALID_JSON))
    for _ in range(draw(st.integers(1, 3))):
        parent: Any = report
        while True:
            keys = list(parent) if isinstance(parent, dict) else list(range(len(parent)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = parent[key]
            if isinstance(child, dict | list) and child and draw(st.booleans()):
                parent = child
                continue
            edit = draw(st.sampled_from(("replace", "delete", "add")))
            if edit == "replace":
                parent[key] = draw(JSON_VALUES)
            elif edit == "delete" and isinstance(parent, dict):
                del parent[key]
            elif isinstance(parent, dict):
                parent[draw(st.text(max_size=6))] = draw(JSON_VALUES)
            else:
                parent.append(draw(JSON_VALUES))
            break
    return report


def _dumped(value: Any) -> str:
    return json.dumps(value, allow_nan=True)


@st.composite
def damaged_text(draw: st.DrawFn) -> str:
    """Valid report text, truncated or with characters inserted."""
    text = _dumped(VALID_JSON)
    at = draw(st.integers(0, len(text)))
    if draw(st.booleans()):
        return text[:at]
    return (
        text[:at]
        + draw(st.sampled_from(("{", "[", '"', ",", "\\", "NaN", "1e999", "\x00")))
        + text[at:]
    )


def _nested(depth: int, key: str = "settings") -> str:
    return f'{{"schema_version": 2, "{key}": ' + "[" * depth + "]" * depth + "}"


REPORT_TEXTS = (
    mutated_reports().map(_dumped)
    | JSON_VALUES.map(_dumped)
    | damaged_text()
    | st.builds(_nested, st.integers(1, 200_000), st.sampled_from(("settings", "schema_version")))
    | st.text(max_size=40)
)


def _read(scratch: Path, data: bytes) -> RunReport | None:
    path = scratch / "report.json"
    path.write_bytes(data)
    try:
        report = read_report(path)
    except ReportError as error:
        assert str(path) in str(error) and "\n" not in str(error), str(error)
        return None
    render_summary(report)  # whatever reads also prints
    return report


@FUZZ
@given(REPORT_TEXTS)
def test_the_report_reader_raises_only_report_error(scratch: Path, text: str) -> None:
    _read(scratch, text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(st.binary(max_size=200))
def test_report_files_of_any_bytes_raise_only_report_error(scratch: Path, data: bytes) -> None:
    _read(scratch, data)


def test_the_valid_report_reads_and_renders(scratch: Path) -> None:
    assert _read(scratch, _dumped(VALID_JSON).encode()) == VALID


# --- explicit cases the fuzzers found or the issue named ----------------------------------

MALFORMED_REPORTS: dict[str, Callable[[Path], object]] = {
    "truncated": lambda p: p.write_text(_dumped(VALID_JSON)[:100]),
    "a JSON list": lambda p: p.write_text("[1, 2]"),
    "deeply nested": lambda p: p.write_text(_nested(100_000)),
    "deeply nested, under the JSON limit": lambda p: p.write_text(_nested(900)),
    "a deeply nested schema version": lambda p: p.write_text(
        _nested(950, "schema_version").replace('"schema_version": 2, ', "")
    ),
    "a directory": lambda p: p.mkdir(),
    "a huge number": lambda p: p.write_text(_dumped({**VALID_JSON, "started_at": 10**400})),
    "a number too long to read": lambda p: p.write_text(
        _dumped(VALID_JSON).replace('"exitstatus": 1', '"exitstatus": 1' + "0" * 5000)
    ),
    "an overflowing float": lambda p: p.write_text(
        _dumped(VALID_JSON).replace('"started_at": 0.0', '"started_at": 1e999')
    ),
    "NaN where a time goes": lambda p: p.write_text(
        _dumped({**VALID_JSON, "finished_at": math.nan})
    ),
    "NaN where a count goes": lambda p: p.write_text(
        _dumped({**VALID_JSON, "summary": {**VALID_JSON["summary"], "cases": math.nan}})
    ),
    "a wrong type deep inside": lambda p: p.write_text(
        _dumped(VALID_JSON).replace('"sample": 0', '"sample": {"a": []}')
    ),
    "a key with a newline": lambda p: p.write_text(_dumped({**VALID_JSON, "se\nttings": 1})),
    "schema version as a long list": lambda p: p.write_text(
        _dumped({"schema_version": list(range(5000))})
    ),
    "not UTF-8": lambda p: p.write_bytes(b'{"schema_version": 2, "run_id": "\xff"}'),
}


@pytest.mark.parametrize("make", MALFORMED_REPORTS.values(), ids=list(MALFORMED_REPORTS))
def test_stabtest_report_prints_one_line_for_a_malformed_report(
    tmp_path: Path, make: Callable[[Path], object], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "report.json"
    make(path)
    with pytest.raises(ReportError):
        read_report(path)
    assert main(["report", str(path)]) != 0
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("stabtest: "), captured.err
    assert str(path) in lines[0] and len(lines[0]) < 600
