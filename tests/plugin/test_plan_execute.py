"""`stabtest plan` and `stabtest execute --engine local` on a pytester project (fake
backend): the cache they fill holds exactly the keys and answers an in-process run
stores, so the run that follows generates nothing and gives the same verdicts; a killed
execution resumes asking only the rest; bad plans and failed collections say so."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.plugin.conftest import Writer

SUITES = {
    "talk.yaml": """\
suite: talk
cases:
  - id: paris
    turns:
      - prompt: What is the capital of France?
        reference: Paris
        incorrect: [Lyon]
        paraphrases: [Which city is the capital of France?]
      - prompt: What river flows through it?
      - prompt: Remind me, what is the capital of France?
        recall: 1
""",
    "sampled.yaml": """\
suite: sampled
collect: per-case
cases:
  - id: italy
    prompt: What is the capital of Italy?
    reference: Rome
    paraphrases: [Name the capital of Italy.]
    perturbations: {count: 2, operators: [casing, punctuation]}
    sampling: {temperature: 0.7, samples: 3}
""",
}
ANSWERS = {
    "capital of france": "Paris.",
    "river": "The Seine.",
    "italy": ["Rome.", "It is Rome.", "Rome, of course."],
}


def stabtest(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """The real command, in its own process (`stabtest plan` runs pytest itself)."""
    return pytester.run(sys.executable, "-m", "stabtest.cli", *args)


def generations(cache_dir: Path) -> dict[str, str]:
    with sqlite3.connect(cache_dir / "cache.sqlite") as conn:
        return dict(conn.execute("SELECT key, text FROM generations"))


def report(pytester: pytest.Pytester) -> dict[str, object]:
    data = json.loads((pytester.path / "reports" / "stabtest.json").read_text())
    assert isinstance(data, dict)
    return data


def test_an_executed_plan_fills_the_cache_the_run_then_only_judges(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project(SUITES, ANSWERS)
    direct = pytester.runpytest("-p", "no:cacheprovider", "--stab-cache-dir=direct")
    direct_report = report(pytester)
    expected = generations(pytester.path / "direct")

    planned = stabtest(pytester, "plan", "-o", "plan.jsonl")
    assert planned.ret == 0, planned.stderr.str()
    planned.stdout.fnmatch_lines(
        ["*wrote the plan*plan.jsonl: 14 thread(s), 18 request(s), 3 reference text(s)*"]
    )
    executed = stabtest(pytester, "execute", "plan.jsonl", "--json")
    assert executed.ret == 0, executed.stderr.str()
    summary = json.loads(executed.stdout.str())
    assert (summary["requests"], summary["generated"], summary["cached"]) == (18, 18, 0)
    assert summary["embedded"] > 0
    # the same keys and the same answers as the run that generated them itself
    assert generations(pytester.path / ".stabtest") == expected

    run = pytester.runpytest("-p", "no:cacheprovider")
    assert run.ret == direct.ret
    after = report(pytester)
    assert after["generation"]["generated"] == 0  # type: ignore[index]
    assert after["generation"]["cached"] == after["generation"]["requests"]  # type: ignore[index]
    assert after["summary"] == direct_report["summary"]
    outcomes = run.parseoutcomes()
    outcomes.pop("seconds", None)
    assert outcomes == {k: v for k, v in direct.parseoutcomes().items() if k != "seconds"}

    again = stabtest(pytester, "execute", "plan.jsonl", "--json")
    assert json.loads(again.stdout.str())["generated"] == 0
    assert json.loads(again.stdout.str())["cached"] == 18


def test_a_killed_execution_resumes_asking_only_the_rest(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    cases = "".join(
        f"  - id: q{i}\n    prompt: Question number {i}?\n    reference: answer\n"
        for i in range(40)
    )
    stab_project({"many.yaml": f"suite: many\ncases:\n{cases}"}, {"question": "The answer."})
    assert stabtest(pytester, "plan", "-o", "plan.jsonl").ret == 0
    command = [sys.executable, "-m", "stabtest.cli", "execute", "plan.jsonl", "--json"]
    slow = ["--block-size=4", "--stab-backend-option=delay=0.3"]
    process = subprocess.Popen([*command, *slow], cwd=pytester.path)
    cache = pytester.path / ".stabtest" / "cache.sqlite"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if cache.exists() and len(generations(cache.parent)) >= 8:
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stored = len(generations(cache.parent))
    assert 8 <= stored < 40  # killed part way: some blocks stored, not all

    rerun = stabtest(pytester, "execute", "plan.jsonl", "--json")
    assert rerun.ret == 0, rerun.stderr.str()
    summary = json.loads(rerun.stdout.str())
    assert (summary["cached"], summary["generated"]) == (stored, 40 - stored)
    assert len(generations(cache.parent)) == 40


def test_a_changed_model_is_refused_and_a_bad_plan_names_its_line(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project(SUITES, ANSWERS)
    assert stabtest(pytester, "plan", "-o", "plan.jsonl").ret == 0
    (pytester.path / "answers.json").write_text(json.dumps({"italy": "Milan."}))
    changed = stabtest(pytester, "execute", "plan.jsonl")
    assert changed.ret == 2
    changed.stderr.fnmatch_lines(["*the model changed since `stabtest plan`*"])

    lines = (pytester.path / "plan.jsonl").read_text().splitlines(keepends=True)
    (pytester.path / "cut.jsonl").write_text("".join(lines[:3]) + "{oops\n" + lines[-1])
    bad = stabtest(pytester, "execute", "cut.jsonl")
    assert bad.ret == 2
    bad.stderr.fnmatch_lines(["*cut.jsonl:4: not a JSON line*"])


def test_no_plan_is_written_when_collection_fails(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({**SUITES, "broken.yaml": "suite: broken\ncases:\n  - prompt: [unclosed\n"}, {})
    result = stabtest(pytester, "plan", "-o", "plan.jsonl")
    assert result.ret == 2
    result.stderr.fnmatch_lines(["*no plan written*"])
    assert not (pytester.path / "plan.jsonl").exists()


def test_pytest_writes_the_plan_of_the_selected_cases_only(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project(SUITES, ANSWERS)
    result = pytester.runpytest("--collect-only", "-q", "-k", "italy", "--stab-write-plan=p.jsonl")
    result.stdout.fnmatch_lines(["*wrote the plan*p.jsonl: 12 thread(s), 12 request(s)*"])
    prompts = {
        json.loads(line).get("m", [""])[0]
        for line in (pytester.path / "p.jsonl").read_text().splitlines()[1:-1]
    }
    assert "What is the capital of France?" not in prompts
