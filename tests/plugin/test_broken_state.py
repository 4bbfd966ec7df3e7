"""Broken state and bad answers never cost a run: a corrupt cache is moved aside and
replaced, an answer that cannot be encoded costs only its own characters, a prompt beyond
the model's context fails its own case, and a suite that fails to collect is listed in a
report that says `incomplete`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.plugin.conftest import CAPITALS, CONSISTENT, Writer

CACHE = Path(".stabtest") / "cache.sqlite"


def _report(pytester: pytest.Pytester) -> dict:
    return json.loads((pytester.path / "reports" / "stabtest.json").read_text())


def _aside(pytester: pytest.Pytester) -> list[Path]:
    return sorted((pytester.path / CACHE.parent).glob("cache.sqlite.corrupt-*"))


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database\x00" * 100)


def _directory(path: Path) -> None:
    path.mkdir()
    (path / "stray").write_text("x")


def _other_schema(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE generations (key TEXT PRIMARY KEY, text TEXT)")


@pytest.mark.parametrize("breakage", [_garbage, _directory, _other_schema])
def test_an_unusable_cache_is_moved_aside_and_the_run_goes_on(
    pytester: pytest.Pytester, stab_project: Writer, breakage
) -> None:
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT)
    (pytester.path / CACHE.parent).mkdir()
    breakage(pytester.path / CACHE)
    result = pytester.runpytest()
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*CacheRecovered*cache.sqlite was unusable*moved it to*"])
    assert len(_aside(pytester)) == 1
    assert _report(pytester)["generation"]["generated"] == 5
    rerun = pytester.runpytest()  # the fresh cache serves the next run
    rerun.assert_outcomes(passed=6)
    assert _report(pytester)["generation"]["generated"] == 0


def test_a_truncated_cache_is_replaced_even_when_it_opens(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT)
    path = pytester.path / CACHE
    path.parent.mkdir()
    with sqlite3.connect(path) as conn:  # a big cache whose tail a crash cut off
        conn.execute("CREATE TABLE filler (x TEXT)")
        conn.executemany("INSERT INTO filler VALUES (?)", [("y" * 500,)] * 4000)
    conn.close()
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    result = pytester.runpytest()
    result.assert_outcomes(passed=6)
    assert len(_aside(pytester)) == 1
    assert _report(pytester)["status"] == "complete"


LONE_SURROGATE = """
class Surrogates:
    name = "surrogates"

    def __init__(self, **options):
        pass

    def fingerprint(self):
        return "surrogates:1"

    def generate(self, requests):
        # One answer is a half UTF-16 pair, as a broken detokenizer may emit.
        return [
            "Paris \\ud800 is it." if "name the" in r.prompt.lower() else "It is Paris."
            for r in requests
        ]
"""


def test_an_answer_that_cannot_be_encoded_costs_only_its_own_characters(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"capitals.yaml": CAPITALS}, {})
    pytester.makepyfile(surrogates=LONE_SURROGATE)
    pytester.syspathinsert()
    pytester.makeini(
        "[pytest]\nstab_backend = surrogates:Surrogates\nstab_embedder = lexical\n"
        "stab_batch_size = 8\n"
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=6)
    report = _report(pytester)
    texts = {a["text"] for v in report["variants"] for a in v["answers"]}
    assert texts == {"It is Paris.", "Paris \ufffd is it."}
    assert report["generation"]["generated"] == 5
    with sqlite3.connect(pytester.path / CACHE) as conn:
        stored = {row[0] for row in conn.execute("SELECT text FROM generations")}
    assert stored == texts


LONG = """\
suite: long
cases:
  - id: fits
    prompt: What is the capital of France?
    reference: Paris
  - id: too-long
    prompt: "What is the capital of France? {padding}"
    reference: Paris
"""


def test_a_prompt_beyond_the_context_fails_its_own_case_only(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project(
        {"long.yaml": LONG.format(padding="word " * 500)},
        CONSISTENT,
        "stab_backend_option = context=100\n",
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        ["*too-long[[]v0[]]*cannot be generated: the prompt has 506 words, beyond*context of 100"]
    )
    report = _report(pytester)
    assert report["status"] == "incomplete"
    assert list(report["problems"]) == ["suites/long.yaml::too-long"]
    assert [c["case_id"] for c in report["cases"]] == ["fits"]


def test_a_suite_that_fails_to_collect_makes_the_report_incomplete(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    broken = "suite: broken\ncases:\n  - id: x\n    prompt: [unclosed\n"
    stab_project({"capitals.yaml": CAPITALS, "broken.yaml": broken}, CONSISTENT)
    result = pytester.runpytest()
    result.assert_outcomes(passed=6, errors=1)
    report = _report(pytester)
    assert report["status"] == "incomplete"
    assert list(report["problems"]) == ["suites/broken.yaml"]
    assert "suites/broken.yaml:4" in report["problems"]["suites/broken.yaml"]


def test_xdist_counts_each_request_once(pytester: pytest.Pytester, stab_project: Writer) -> None:
    pytest.importorskip("xdist")
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=6)
    generation = _report(pytester)["generation"]
    assert (generation["requests"], generation["generated"], generation["cached"]) == (5, 5, 0)
